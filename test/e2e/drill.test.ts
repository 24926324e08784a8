import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runTestBastion, writeTestConfig, type BastionOptions, type TestBastion } from '../helpers/bastion.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';
import { runSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { freePort } from '../helpers/net.js';
import { receiver } from '../helpers/webhook.js';
import { startFlakyProxy } from '../helpers/flaky-proxy.js';
import { startEmbeddedS3 } from '../../src/storage/embedded-s3.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A bastion with a drill user (break-glass to prod) and the given webhook. */
async function drillBastion(webhookUrl: string, extra: Partial<BastionOptions> & { config?: Record<string, unknown> } = {}): Promise<TestBastion> {
  const cfg = writeTestConfig({
    users: ['drill', 'alice'],
    targets: { prod: { type: 'local', shell: '/bin/bash' } },
    roles: { oncall: { standing: ['shell'], break_glass: ['prod'] }, drill: { break_glass: ['prod'] } },
    userConfig: { drill: { roles: ['drill'], default_target: undefined } },
    ...extra,
    config: {
      alerts: { webhooks: [{ name: 'soc', url: webhookUrl }], max_retry_interval: '1s' },
      drill: { user: 'drill', target: 'prod', private_key_file: 'keys/drill_ed25519' },
      ...(extra.config ?? {}),
    },
  });
  if (extra.config?.storage && JSON.stringify(extra.config.storage).includes('s3.secret')) writeFileSync(join(cfg.dir, 's3.secret'), 'S3RVER\n', { mode: 0o600 });
  const b = await runTestBastion(cfg);
  cleanups.push(() => b.cleanup());
  return b;
}

/** Runs `bastion drill` as an operator would; resolves its exit code and output. */
const drill = (b: TestBastion, args: string[] = []) => run(b, ['drill', '--config', b.configPath, ...args]);

const CONTROLS = ['login', 'session', 'alert', 'live', 'recording', 'review', 'audit'];

describe('bastion drill', () => {
  it('passes every control against a healthy bastion, and marks the drill everywhere', async () => {
    const port = await freePort();
    const hook = await receiver(port);
    cleanups.push(() => hook.server.close());
    const b = await drillBastion(`http://127.0.0.1:${port}/hook`);

    const r = await drill(b, ['--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; session_id: string; drill_id: string; controls: { id: string; ok: boolean; ms: number; detail: string }[] };
    expect(report.ok).toBe(true);
    expect(report.controls.map((c) => [c.id, c.ok])).toEqual(CONTROLS.map((c) => [c, true]));
    // The bastion measured the alert's delivery from the session's start: within the 1 s target.
    expect(report.controls.find((c) => c.id === 'alert')!.ms).toBeLessThan(1_000);
    const id = report.session_id;

    // The alert says DRILL; the audit log, the review item and the recording are marked.
    expect(hook.got.find((g) => g.body.session_id === id)?.body).toMatchObject({ kind: 'break_glass', drill: true, user: 'drill', target: 'prod', summary: expect.stringMatching(/^\[DRILL\] BREAK-GLASS: drill on prod/) });
    const audit = readAudit(b.dataDir);
    for (const type of ['session.start', 'session.end']) expect(audit.find((l) => l.type === type && l.session_id === id), type).toMatchObject({ drill: true, drill_id: report.drill_id });
    expect(audit.find((l) => l.type === 'review.opened' && l.session_id === id)).toMatchObject({ drill: true });
    // The first justification was a malformed ticket, refused (and audited as such).
    expect(audit.find((l) => l.type === 'login.failure' && l.user === 'drill' && l.method === 'justification')).toMatchObject({ drill: true, field: 'ticket' });
    // The outcome reaches the audit log through the server (drill.completed), and the report.
    await waitForAudit(b.dataDir, (l) => l.type === 'drill.completed' && l.drill_id === report.drill_id, 15_000);
    const rep = await run(b, ['report', '--config', b.configPath, '--format', 'json']);
    const json = JSON.parse(rep.stdout) as { drills: { runs: number; passed: number }; break_glass: { sessions: number }; logins: { failed: number } };
    expect(json.drills).toMatchObject({ runs: 1, passed: 1 });
    expect(json.break_glass.sessions).toBe(0); // a rehearsal is not a use of break-glass
    expect(json.logins.failed).toBe(0); // nor are its deliberate bad answers failed logins

    // Outside a drill, the drill user's key and code are no way in, and the attempt is not hidden as a drill.
    const outside = await runSsh(b, b.users.drill!, ['true'], { code: oathtool(b.users.drill!.secret) }, { login: 'drill:prod' });
    expect(outside.code).not.toBe(0);
    const refused = readAudit(b.dataDir).filter((l) => l.type === 'login.failure' && l.method === 'drill');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ user: 'drill', reason: 'no drill is open: the drill user logs in only during bastion drill' });
    expect(refused[0]!.drill).toBeUndefined();
    const after = JSON.parse((await run(b, ['report', '--config', b.configPath, '--format', 'json'])).stdout) as { logins: { failed: number } };
    expect(after.logins.failed).toBe(1);
    const list = await run(b, ['review', 'list', '--config', b.configPath]);
    expect(list.stdout).toContain(`${id}  pending   [DRILL] drill -> prod`);

    // The checklist people read, run again at once (a fresh TOTP step is found without waiting).
    const again = await drill(b);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stderr).not.toContain('for a fresh code');
    expect(again.stdout).toMatch(/PASS {2}login demands MFA and justification/);
    expect(again.stdout).toContain('Drill passed: all 7 controls');
  });

  it('fails naming the alert control when the webhook is down', async () => {
    const b = await drillBastion(`http://127.0.0.1:${await freePort()}/hook`);
    const r = await drill(b, ['--timeout', '6s']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}alert reaches every webhook .*not delivered within 6 s to soc \(fetch failed: ECONNREFUSED\)/);
    expect(r.stdout).toContain('Drill FAILED: alert (alert reaches every webhook).');
    for (const c of ['login demands MFA', 'recording reaches S3', 'review item exists', 'audit chain intact', 'live view shows']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${c}`));
  });

  it('fails naming the recording control when S3 is down', async () => {
    const port = await freePort();
    const hook = await receiver(port);
    cleanups.push(() => hook.server.close());
    const s3Dir = mkdtempSync(join(tmpdir(), 's3-'));
    const s3 = await startEmbeddedS3({ host: '127.0.0.1', port: 0, dir: s3Dir, bucket: 'bastion-recordings' });
    const proxy = await startFlakyProxy(s3.port);
    cleanups.push(() => rmSync(s3Dir, { recursive: true, force: true }), () => Promise.race([s3.close(), new Promise((res) => setTimeout(res, 2000))]), () => proxy.close());
    const b = await drillBastion(`http://127.0.0.1:${port}/hook`, {
      config: { storage: { endpoint: `http://127.0.0.1:${proxy.port}`, access_key_id: 'S3RVER', secret_access_key_file: 's3.secret', max_retry_interval: '1s' } },
    });
    await proxy.down();
    const r = await drill(b, ['--timeout', '6s']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}recording reaches S3 and verifies .*not in the bucket within 6 s; the bastion reports: .*\(it stays in the spool and is retried\)/);
    expect(r.stdout).toContain('Drill FAILED: recording (recording reaches S3 and verifies).');
    for (const c of ['login demands MFA', 'alert reaches every webhook', 'review item exists', 'audit chain intact']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${c}`));
  });

  it('the drill user is refused from outside drill.allowed_sources, and the drill says so', async () => {
    const port = await freePort();
    const hook = await receiver(port);
    cleanups.push(() => hook.server.close());
    const b = await drillBastion(`http://127.0.0.1:${port}/hook`, { config: { drill: { user: 'drill', target: 'prod', private_key_file: 'keys/drill_ed25519', allowed_sources: ['10.0.0.99'] } } });
    const r = await drill(b, ['--timeout', '2s']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}login demands MFA and justification/);
    expect(r.stdout).toMatch(/FAIL {2}audit chain intact, drill marked .*not checked: the drill could not log in/);
    const refused = readAudit(b.dataDir).find((l) => l.type === 'login.failure' && l.method === 'drill');
    expect(refused).toMatchObject({ user: 'drill', reason: 'the drill user may only log in from drill.allowed_sources' });
    expect(refused!.drill).toBeUndefined(); // not a drill: nothing about it is hidden
    expect(readAudit(b.dataDir).some((l) => l.type === 'session.start')).toBe(false);
  });

  it('checks the live view over HTTPS, pinning the configured certificate whatever its name', async () => {
    const port = await freePort();
    const hook = await receiver(port);
    cleanups.push(() => hook.server.close());
    const dir = mkdtempSync(join(tmpdir(), 'tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A certificate for another name: only the pin makes it acceptable on 127.0.0.1.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=bastion.internal', '-addext', 'subjectAltName=DNS:bastion.internal', '-days', '1'], { stdio: 'ignore' });
    const b = await drillBastion(`http://127.0.0.1:${port}/hook`, { config: { http: { host: '127.0.0.1', port: 0, tls_cert_file: join(dir, 'cert.pem'), tls_key_file: join(dir, 'key.pem') } } });
    const r = await drill(b);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASS {2}live view shows the session/);
  });

  it('explains a config without a drill section', async () => {
    const port = await freePort();
    const cfg = writeTestConfig({ users: ['alice'], config: { alerts: { webhooks: [{ name: 'soc', url: `http://127.0.0.1:${port}/` }] } } });
    cleanups.push(() => rmSync(cfg.dir, { recursive: true, force: true }));
    const r = await run(cfg, ['drill', '--config', cfg.configPath]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no drill configured: add a drill section \(user, target, private_key_file\)/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

/** The built CLI as a child process. */
function run(b: Pick<TestBastion, 'dir'>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: b.dir });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
