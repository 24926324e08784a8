import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBastion, CLI, type TestBastion } from '../helpers/bastion.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { runSsh, askpassEnv, startPtySsh, startSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';

const TOKEN = 'test-grant-token-0123456789abcdef';
// A user's codes are single-use and must get newer (replay guard): where a test logs one user in
// several times, it takes the previous, current and next 30 s step, in that order.
const at = (b: TestBastion, u: string, offsetSteps = 0) => oathtool(b.users[u]!.secret, new Date(Date.now() + offsetSteps * 30_000));

describe('upstream ssh targets, grants and break-glass, through a real sshd', () => {
  let sshd: TestSshd;
  let b: TestBastion;
  beforeAll(async () => {
    sshd = await startSshd();
    const otherKey = execFileSync('sh', ['-c', `ssh-keygen -q -t ed25519 -N '' -f ${join(sshd.dir, 'wrong_host')} && cat ${join(sshd.dir, 'wrong_host')}.pub`], { encoding: 'utf8' }).trim();
    b = await startTestBastion({
      users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'],
      grantToken: TOKEN,
      targets: {
        db1: { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, private_key_file: sshd.clientKeyPath, known_hosts_file: sshd.knownHostsPath },
        prod: { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, private_key_file: sshd.clientKeyPath, host_key: sshd.hostKeyLine },
        spoofed: { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, private_key_file: sshd.clientKeyPath, host_key: otherKey },
        files: { type: 'local', shell: '/bin/sh' },
      },
      roles: {
        oncall: { standing: ['shell', 'db1', 'spoofed'], break_glass: ['prod'] },
        movers: { standing: ['files'], allow: { file_transfer: true } },
      },
      userConfig: { erin: { roles: ['oncall', 'movers'] } },
      config: { break_glass: { window: '30m' } },
    });
  });
  afterAll(async () => {
    b?.cleanup();
    await sshd?.stop();
  });

  it('proxies exec to the upstream sshd: output, stderr and exit status pass through, the credential stays on the bastion', async () => {
    const r = await runSsh(b, b.users.alice!, ['echo upstream-$SSH_CONNECTION; echo to-err >&2; exit 5'], { code: at(b, 'alice') }, { login: 'alice:db1' });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^upstream-127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+\n$/);
    expect(r.stderr).toContain('to-err');
    expect(readAudit(b.dataDir).find((l) => l.type === 'login.success' && l.user === 'alice')).toMatchObject({ target: 'db1', via: 'standing', break_glass: false });
    const keyBody = readFileSync(sshd.clientKeyPath, 'utf8').split('\n')[1]!;
    expect(b.stdout() + b.stderr() + readFileSync(join(b.dataDir, 'audit', 'audit.jsonl'), 'utf8') + r.stdout + r.stderr).not.toContain(keyBody);
  });

  it('proxies an interactive shell with a pty to the upstream sshd: size, window changes and exit status', async () => {
    const p = startPtySsh(b, b.users.frank!, 'frank:db1', { code: at(b, 'frank') }, { cols: 90, rows: 25 });
    const waitFor = p.sees;
    const exited = p.exited;
    p.write('stty size; echo "tty=$(tty)"\r');
    expect(await waitFor(/25 90/)).toBe(true);
    expect(await waitFor(/tty=\/dev\/pts\//)).toBe(true);
    p.resize(132, 43);
    let resized = false;
    for (let i = 0; i < 20 && !resized; i++) {
      p.write('stty size\r');
      resized = await waitFor(/43 132/, 500);
    }
    expect(resized).toBe(true);
    p.write('exit 4\r');
    expect(await exited).toBe(4);
  });

  it('refuses an upstream whose host key does not match the pinned one, with a clear message', async () => {
    const r = await runSsh(b, b.users.bob!, ['echo should-not-run'], { code: at(b, 'bob') }, { login: 'bob:spoofed' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('does not match the pinned key');
  });

  it('tells the user before the justification that a break-glass login alerts security, and marks it everywhere', async () => {
    const r = await runSsh(b, b.users.carol!, ['echo in-prod'], { code: at(b, 'carol') }, { login: 'carol:prod' });
    expect(r.stdout).toBe('in-prod\n');
    expect(r.stderr).toContain('BREAK-GLASS ACCESS to "prod"');
    expect(r.stderr).toContain('Security is alerted');
    const warnAt = r.stderr.indexOf('BREAK-GLASS');
    expect(warnAt).toBeGreaterThan(-1);
    const success = await waitForAudit(b.dataDir, (l) => l.type === 'login.success' && l.user === 'carol');
    expect(success).toMatchObject({ via: 'break-glass', break_glass: true });
    const window = Date.parse(String(success.expires_at)) - Date.parse(String(success.ts));
    expect(window).toBeGreaterThan(30 * 60_000 - 5_000);
    expect(window).toBeLessThanOrEqual(30 * 60_000);
    const start = await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === 'carol');
    expect(start.break_glass).toBe(true);
    expect(b.stdout()).toMatch(/"level":40,[^\n]*"alert":"break-glass","user":"carol","target":"prod"/);
  });

  it('grants just-in-time access over HTTP with a bearer token, refuses bad requests, and revokes', async () => {
    const url = `http://127.0.0.1:${b.httpPort}/api/grants`;
    const post = (body: unknown, token: string | null = TOKEN) =>
      fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const good = { user: 'dave', target: 'other', ttl: '2h', ticket: 'INC-77', reason: 'paged for the queue backlog on the other host', requested_by: 'pagerduty' };

    const before = await runSsh(b, b.users.dave!, ['true'], { code: at(b, 'dave', -1) }, { login: 'dave:other' });
    expect(before.code).toBe(255);

    expect((await post(good, null)).status).toBe(401);
    expect((await post(good, 'wrong-token-wrong-token-wrong')).status).toBe(401);
    for (const [bad, field] of [
      [{ ...good, ttl: '-5m' }, 'ttl'],
      [{ ...good, ttl: '9999d' }, 'ttl'],
      [{ ...good, target: '../../etc' }, 'target'],
      [{ ...good, target: 'x'.repeat(10_000) }, 'target'],
      [{ ...good, user: 'mallory' }, 'user'],
      [{ ...good, reason: 'because' }, 'reason'],
    ] as const) {
      const res = await post(bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(new RegExp(`^${field}: `));
    }
    expect((await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: '{oops' })).status).toBe(400);
    const list0 = (await (await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { grants: unknown[] };
    expect(list0.grants).toEqual([]);

    const created = await post(good);
    expect(created.status).toBe(201);
    const { grant } = (await created.json()) as { grant: { id: string; expires_at: number; created_by: string } };
    expect(grant.created_by).toBe('api:pagerduty');

    const after = await runSsh(b, b.users.dave!, ['echo granted'], { code: at(b, 'dave', 0) }, { login: 'dave:other' });
    expect(after.stdout, `stderr: ${after.stderr}`).toBe('granted\n'); // on failure, show why the login ended
    expect(after.stderr).toContain(`Access to "other" through grant ${grant.id} until`);
    const ok = await waitForAudit(b.dataDir, (l) => l.type === 'login.success' && l.user === 'dave');
    expect(ok).toMatchObject({ via: 'grant', grant_id: grant.id });
    await waitForAudit(b.dataDir, (l) => l.type === 'grant.created' && l.grant_id === grant.id);
    expect(readAudit(b.dataDir).filter((l) => l.type === 'api.refused')).toHaveLength(2);

    // A long session, then the revocation closes it at once.
    const ssh = startSsh(b, b.users.dave!, 'dave:other', ['echo started; sleep 60'], { code: at(b, 'dave', 1) });
    await ssh.waitFor('started');
    const del = await fetch(`${url}/${grant.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(200);
    const t0 = Date.now();
    await ssh.closed;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(ssh.stderr()).toContain('Your grant for other was revoked');
    const end = await waitForAudit(b.dataDir, (l) => l.type === 'session.end' && l.user === 'dave' && l.reason === 'revoked');
    expect(end.break_glass).toBe(false);
    await waitForAudit(b.dataDir, (l) => l.type === 'grant.revoked' && l.grant_id === grant.id);
  });

  it('grants from the CLI too, refusing absurd TTLs and unknown targets with a clear error', () => {
    const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'grant', ...args, '--config', b.configPath], { encoding: 'utf8' });
    const neg = cli(['dave', '--target', 'other', '--ttl', '-1h', '--ticket', 'INC-1', '--reason', 'restart the stuck consumer group']);
    expect(neg.status).toBe(1);
    expect(neg.stderr).toContain('grant refused: ttl: expected a duration');
    const unk = cli(['dave', '--target', 'db/../../x', '--ttl', '1h', '--ticket', 'INC-1', '--reason', 'restart the stuck consumer group']);
    expect(unk.stderr).toContain('grant refused: target: unknown target');
    const ok = cli(['dave', '--target', 'other', '--ttl', '1h', '--ticket', 'INC-1', '--reason', 'restart the stuck consumer group', '--by', 'oncall-lead']);
    expect(ok.status).toBe(0);
    const id = /id (g-[0-9a-f]{12})/.exec(ok.stdout)![1]!;
    expect(cli(['list']).stdout).toContain(id);
    expect(cli(['revoke', id]).status).toBe(0);
    expect(cli(['list']).stdout).not.toContain(id);
    expect(cli(['list', '--all']).stdout).toMatch(new RegExp(`${id}.*revoked by cli:`));
    expect(cli(['revoke', 'g-000000000000']).status).toBe(1);
  });

  it('refuses sftp and scp by default with a message, and allows them for a role that may transfer files', async () => {
    const src = join(mkdtempSync(join(tmpdir(), 'xfer-')), 'hello.txt');
    writeFileSync(src, 'payload\n');
    const { env } = askpassEnv({ code: at(b, 'alice', 1) });
    const base = ['-F', '/dev/null', '-P', String(b.port), '-i', b.users.alice!.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${b.knownHosts}`];
    const denied = spawnSync('scp', [...base, src, 'alice@127.0.0.1:/tmp/never.txt'], { env, encoding: 'utf8' });
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toContain('sftp is not allowed for your role');
    const { env: env2 } = askpassEnv({ code: at(b, 'bob', 1) });
    const bobBase = base.map((a) => a.replace(b.users.alice!.privateKeyPath, b.users.bob!.privateKeyPath));
    const legacy = spawnSync('scp', ['-O', ...bobBase, src, 'bob@127.0.0.1:/tmp/never.txt'], { env: env2, encoding: 'utf8' });
    expect(legacy.status).not.toBe(0);
    expect(legacy.stderr).toContain('scp is not allowed for your role');

    const dest = join(tmpdir(), `bastion-xfer-${process.pid}.txt`);
    const { env: env3 } = askpassEnv({ code: at(b, 'erin') });
    const allowed = spawnSync('scp', [...base.map((a) => a.replace(b.users.alice!.privateKeyPath, b.users.erin!.privateKeyPath)), '-o', 'User=erin:files', src, `127.0.0.1:${dest}`], { env: env3, encoding: 'utf8' }); // scp would read "erin:files@host" as host "erin"
    expect(allowed.status).toBe(0);
    expect(readFileSync(dest, 'utf8')).toBe('payload\n');
    // The sftp client itself: refused for carol, allowed for erin's file-transfer role.
    const sftpArgs = (u: string, login: string) => ['-F', '/dev/null', '-P', String(b.port), '-i', b.users[u]!.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${b.knownHosts}`, '-o', `User=${login}`, '127.0.0.1'] // no -b: batch mode would turn keyboard-interactive off;
    const sftpDenied = spawnSync('sftp', sftpArgs('carol', 'carol'), { env: askpassEnv({ code: at(b, 'carol', 1) }).env, input: 'ls /\n', encoding: 'utf8' });
    expect(sftpDenied.status).not.toBe(0);
    expect(sftpDenied.stderr).toContain('sftp is not allowed for your role');
    const sftpOk = spawnSync('sftp', sftpArgs('erin', 'erin:files'), { env: askpassEnv({ code: at(b, 'erin', 1) }).env, input: `get ${dest} ${dest}.back\n`, encoding: 'utf8' });
    expect(sftpOk.status).toBe(0);
    expect(readFileSync(`${dest}.back`, 'utf8')).toBe('payload\n');
    const refusals = readAudit(b.dataDir).filter((l) => l.type === 'channel.refused');
    expect(refusals.map((l) => `${l.user}:${l.what}`)).toEqual(['alice:sftp', 'bob:scp', 'carol:sftp']);
  });
});
