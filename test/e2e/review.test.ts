import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI, runTestBastion, writeTestConfig, type TestBastion, type TestConfig } from '../helpers/bastion.js';
import { startPtySsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';

describe('post-event review of break-glass sessions, through the CLI', () => {
  let cfg: TestConfig;
  let b: TestBastion;
  const review = (...args: string[]) => spawnSync(process.execPath, [CLI, 'review', ...args, '--config', cfg.configPath], { encoding: 'utf8', env: { ...process.env, BASTION_S3_ENDPOINT: b.s3Endpoint! } });
  beforeAll(async () => {
    cfg = writeTestConfig({ users: ['alice'], targets: { prod: { type: 'local', shell: '/bin/bash' } }, roles: { oncall: { standing: ['shell'], break_glass: ['prod'] } } });
    b = await runTestBastion(cfg);
  });
  afterAll(() => b?.cleanup());

  it('opens a review, shows what was typed, refuses self-review, records the verdict and keeps it across a restart', async () => {
    const p = startPtySsh(b, b.users.alice!, 'alice:prod', { code: oathtool(b.users.alice!.secret) });
    p.write("PS1='READY> '\r");
    await p.waitFor(/READY> $/);
    p.write('echo reviewed-$((1+1))\r');
    await p.waitFor(/reviewed-2\r\n/);
    p.write('exit\r');
    await p.exited;
    const opened = await waitForAudit(b.dataDir, (l) => l.type === 'review.opened' && l.user === 'alice');
    const id = String(opened.session_id);
    await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded' && l.session_id === id, 20_000);

    const list = review('list', '--pending');
    expect(list.stdout).toMatch(new RegExp(`^${id}  pending   alice -> prod  INC-4242  opened \\S+  due \\S+\\n$`));
    expect(review('list', '--overdue').stdout).toBe('No overdue reviews.\n');
    const show = review('show', id);
    expect(show.status).toBe(0);
    expect(show.stdout).toContain(`Review of ${id}: pending`);
    expect(show.stdout).toMatch(/recording {3}OK: s3:\/\/bastion-recordings\/.*signature and hash chain valid/);
    expect(show.stdout).toMatch(/\d\d:\d\d:\d\d\.\d{3} {2}echo reviewed-\$\(\(1\+1\)\)⏎/);
    expect(show.stdout).toContain('  $ echo reviewed-$((1+1))\n');
    expect(show.stdout).toContain(`Replay: bastion-player ${id} --config ${cfg.configPath}`);

    const self = review('approve', id, '--reviewer', 'alice', '--note', 'all fine');
    expect(self.status).toBe(1);
    expect(self.stderr).toBe('bastion: refused: alice cannot review their own session\n');
    const bad = review('approve', id, '--reviewer', 'carol', '--note', 'ok\x1b[31m');
    expect(bad.stderr).toBe('bastion: --note: the reason contains control or escape characters; type plain text\n');
    const ok = review('approve', id, '--reviewer', 'carol', '--note', 'failover was needed; commands match the ticket');
    expect(ok.stdout).toBe(`Review of ${id} approved by carol.\n`);
    expect(review('approve', id, '--reviewer', 'dave', '--note', 'again please').stderr).toBe(`bastion: refused: the review of ${id} is already approved (by carol)\n`);
    await waitForAudit(b.dataDir, (l) => l.type === 'review.approved' && l.session_id === id && l.reviewer === 'carol', 15_000);

    // The compliance report counts it from the audit log, the review store and the bucket.
    const json = spawnSync(process.execPath, [CLI, 'report', '--since', '1d', '--format', 'json', '--config', cfg.configPath], { encoding: 'utf8' });
    expect(json.status).toBe(0);
    const rep = JSON.parse(json.stdout) as Record<string, Record<string, unknown>>;
    expect(rep.audit_chain).toMatchObject({ ok: true });
    expect(rep.break_glass).toMatchObject({ sessions: 1, by_user: { alice: 1 }, by_target: { prod: 1 }, list: [{ session_id: id, user: 'alice', target: 'prod', ticket: 'INC-4242', review: 'approved' }] });
    expect(rep.reviews).toMatchObject({ approved: 1, pending: 0, overdue: 0 });
    expect((rep.reviews!.hours_to_review as { median: number }).median).toBeGreaterThanOrEqual(0);
    expect(rep.logins).toMatchObject({ succeeded: 1, lockouts: 0 });
    expect(rep.uploads).toMatchObject({ uploaded: 1, failures: 0 });
    // ...and the bucket's signed manifests (the embedded S3's port comes from the bastion's run file).
    expect(rep.recordings).toEqual({ checked: true, in_bucket: 1, incomplete: 0, bad_signature: 0, missing: [] });
    const md = spawnSync(process.execPath, [CLI, 'report', '--since', '1d', '--config', cfg.configPath], { encoding: 'utf8' });
    expect(md.stdout).toMatch(/^# Compliance report, \S+ to \S+\n\nAudit log: hash chain intact/);
    expect(md.stdout).toContain(`| alice | prod | INC-4242 | approved | \`${id}\` |`);
    const csv = spawnSync(process.execPath, [CLI, 'report', '--format', 'csv', '--config', cfg.configPath], { encoding: 'utf8' });
    expect(csv.stdout.split('\n')).toContain('"break_glass","sessions","1"');
    const xml = spawnSync(process.execPath, [CLI, 'report', '--format', 'xml', '--config', cfg.configPath], { encoding: 'utf8' });
    expect({ status: xml.status, stderr: xml.stderr }).toEqual({ status: 2, stderr: 'bastion: --format must be md, csv or json, not "xml"\n' });

    await b.stop();
    b = await runTestBastion(cfg);
    expect(review('list').stdout).toMatch(new RegExp(`^${id}  APPROVED  alice -> prod .* last: approved by carol\\n$`));
    expect(review('list', '--pending').stdout).toBe('No pending reviews.\n');
  });
});
