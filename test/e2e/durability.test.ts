import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CLI, runTestBastion, writeTestConfig, type TestBastion } from '../helpers/bastion.js';
import { runSsh, startSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';
import { s3cmd, s3keys } from '../helpers/s3cmd.js';
import { startEmbeddedS3 } from '../../src/storage/embedded-s3.js';
import { startFlakyProxy } from '../helpers/flaky-proxy.js';

const code = (b: TestBastion, u: string, offsetSteps = 0) => oathtool(b.users[u]!.secret, new Date(Date.now() + offsetSteps * 30_000));
const verify = (b: TestBastion, file: string) => spawnSync(process.execPath, [CLI, 'recording', 'verify', file, '--config', b.configPath], { encoding: 'utf8' });

describe('recordings are never lost', () => {
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('kill -9 mid-session: on restart the recording is sealed as incomplete, uploaded, and verifies', async () => {
    const cfg = writeTestConfig({ users: ['alice'] });
    let b = await runTestBastion(cfg);
    cleanups.push(() => b.cleanup());
    const ssh = startSsh(b, b.users.alice!, 'alice', ['-tt', 'echo before-the-crash; sleep 60'], { code: code(b, 'alice') });
    await ssh.waitFor('before-the-crash');
    // Flushed at least every second: wait for one flush, then kill without any chance to clean up.
    await new Promise((r) => setTimeout(r, 1200));
    b.proc.kill('SIGKILL');
    await ssh.closed;
    const active = readdirSync(join(b.dataDir, 'spool', 'active')).filter((f) => f.endsWith('.cast'));
    expect(active).toHaveLength(1);

    b = await runTestBastion(cfg);
    const up = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 20_000);
    const key = String(up.object).replace('s3://bastion-recordings/', '');
    const gz = join(b.dir, 'crash.cast.gz');
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key}`, gz]);
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key.replace('.cast.gz', '.manifest.json')}`, join(b.dir, 'crash.manifest.json')]);
    const manifest = JSON.parse(readFileSync(join(b.dir, 'crash.manifest.json'), 'utf8'));
    expect(manifest.incomplete).toBe(true);
    expect(gunzipSync(readFileSync(gz)).toString()).toContain('before-the-crash');
    const v = verify(b, gz);
    expect(v.stdout).toContain('INCOMPLETE');
    expect(v.status).toBe(0);
    expect(readdirSync(join(b.dataDir, 'spool', 'active'))).toEqual([]);
  });

  it('the embedded S3 process killed with -9: the built bastion starts it again, the next recording arrives; it ends with the bastion', async () => {
    const cfg = writeTestConfig({ users: ['alice'] });
    const b = await runTestBastion(cfg);
    cleanups.push(() => b.cleanup());
    const s3Pid = () => Number(/"pid":(\d+),"msg":"embedded s3 listening"/.exec(b.stdout())?.[1]);
    const first = s3Pid();
    expect(first).toBeGreaterThan(0);
    process.kill(first, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (!b.stdout().includes('embedded s3 listening again') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(b.stdout()).toMatch(/"signal":"SIGKILL"[^\n]*"msg":"embedded s3 stopped; uploads wait in the spool until it is back"/);
    expect(b.stdout()).toContain('embedded s3 listening again');
    const r = await runSsh(b, b.users.alice!, ['echo after-the-s3-restart'], { code: code(b, 'alice') });
    expect(r.stdout).toContain('after-the-s3-restart');
    const up = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 20_000);
    const key = String(up.object).replace('s3://bastion-recordings/', '');
    const gz = join(b.dir, 'after.cast.gz');
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key}`, gz]);
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key.replace('.cast.gz', '.manifest.json')}`, join(b.dir, 'after.manifest.json')]);
    expect(gunzipSync(readFileSync(gz)).toString()).toContain('after-the-s3-restart');
    const v = verify(b, gz);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    // The server started again is the bastion's child too: a bastion killed with -9 takes it along.
    const again = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((pid) => {
      try {
        return pid !== first && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('embedded-s3-process') && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(b.proc.pid);
      } catch {
        return false;
      }
    });
    expect(again).toBeGreaterThan(0);
    b.proc.kill('SIGKILL');
    const gone = Date.now() + 10_000;
    const alive = () => {
      try {
        process.kill(again!, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  });

  it('S3 down during several sessions, then back: every recording arrives, once, intact', async () => {
    const s3Dir = mkdtempSync(join(tmpdir(), 's3-'));
    const s3 = await startEmbeddedS3({ host: '127.0.0.1', port: 0, dir: s3Dir, bucket: 'bastion-recordings' });
    const proxy = await startFlakyProxy(s3.port);
    cleanups.push(() => rmSync(s3Dir, { recursive: true, force: true }));
    cleanups.unshift(() => Promise.race([s3.close(), new Promise((r) => setTimeout(r, 2000))]));
    cleanups.unshift(() => proxy.close());
    const cfg = writeTestConfig({
      users: ['alice', 'bob', 'carol'],
      config: { storage: { endpoint: `http://127.0.0.1:${proxy.port}`, access_key_id: 'S3RVER', secret_access_key_file: 's3.secret', max_retry_interval: '1s' } },
    });
    writeFileSync(join(cfg.dir, 's3.secret'), 'S3RVER\n', { mode: 0o600 });
    const b = await runTestBastion(cfg);
    cleanups.push(() => b.cleanup());

    await proxy.down(); // S3 goes away, open connections included
    for (const u of ['alice', 'bob', 'carol']) {
      const r = await runSsh(b, b.users[u]!, [`echo recorded-while-s3-down-${u}`], { code: code(b, u) });
      expect(r.stdout).toBe(`recorded-while-s3-down-${u}\n`);
    }
    await waitForAudit(b.dataDir, (l) => l.type === 'recording.upload_failed', 20_000);
    const sealed = () => readdirSync(join(b.dataDir, 'spool', 'sealed')).filter((f) => f.endsWith('.manifest.json')).length;
    for (let i = 0; i < 100 && sealed() < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sealed()).toBe(3); // all three wait in the spool
    expect(readAudit(b.dataDir).filter((l) => l.type === 'recording.uploaded')).toEqual([]);
    // Upload lag and failures are visible to monitoring while it lasts.
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text())?.[1]);
    expect(await metric('bastion_recordings_pending')).toBe(3);
    expect(await metric('bastion_upload_failing_seconds')).toBeGreaterThan(0);
    expect(await metric('bastion_upload_failures')).toBeGreaterThan(0);

    await proxy.up();
    for (let i = 0; i < 200 && readAudit(b.dataDir).filter((l) => l.type === 'recording.uploaded').length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    const uploads = readAudit(b.dataDir).filter((l) => l.type === 'recording.uploaded');
    expect(uploads).toHaveLength(3);
    const keys = await s3keys(s3.endpoint, 'bastion-recordings');
    expect(keys.filter((k) => k.endsWith('.cast.gz'))).toHaveLength(3);
    expect(keys.filter((k) => k.endsWith('.manifest.json'))).toHaveLength(3);
    expect(keys.filter((k) => k.includes('/chunks/'))).toEqual([]);
    for (const key of keys.filter((k) => k.endsWith('.cast.gz'))) {
      const file = join(b.dir, key.split('/').at(-1)!);
      await s3cmd(s3.endpoint, ['get', '--force', `s3://bastion-recordings/${key}`, file]);
      await s3cmd(s3.endpoint, ['get', '--force', `s3://bastion-recordings/${key.replace('.cast.gz', '.manifest.json')}`, file.replace('.cast.gz', '.manifest.json')]);
      expect(verify(b, file).status).toBe(0);
      expect(gunzipSync(readFileSync(file)).toString()).toMatch(/recorded-while-s3-down-(alice|bob|carol)/);
    }
    expect(readdirSync(join(b.dataDir, 'spool', 'sealed'))).toEqual([]);
    expect(await metric('bastion_recordings_pending')).toBe(0);
    expect(await metric('bastion_upload_failing_seconds')).toBe(0);
  });

  it('uploads chunks while a session runs, and removes them once the final recording is in place', async () => {
    const cfg = writeTestConfig({ users: ['alice'], config: { recording: { signing_key: 'keys/recording.pem', chunk_interval: '1s' } } });
    const b = await runTestBastion(cfg);
    cleanups.push(() => b.cleanup());
    const ssh = startSsh(b, b.users.alice!, 'alice', ['for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.3; done; sleep 30'], { code: code(b, 'alice') });
    await ssh.waitFor('tick-10');
    let chunks: string[] = [];
    for (let i = 0; i < 60 && chunks.length === 0; i++) {
      chunks = (await s3keys(b.s3Endpoint!, 'bastion-recordings')).filter((k) => k.includes('/chunks/'));
      if (chunks.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(chunks.length).toBeGreaterThan(0); // in S3 while the session is still open
    const first = join(b.dir, 'chunk0');
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${chunks[0]}`, first]);
    expect(readFileSync(first, 'utf8')).toMatch(/^\{"version":2/);
    ssh.kill();
    await ssh.closed;
    await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 20_000);
    const after = await s3keys(b.s3Endpoint!, 'bastion-recordings');
    expect(after.filter((k) => k.includes('/chunks/'))).toEqual([]);
    expect(after.filter((k) => k.endsWith('.cast.gz'))).toHaveLength(1);
  });

  it('refuses a session that cannot be recorded; a break-glass one goes on only where the config allows it', async () => {
    const cfg = writeTestConfig({
      users: ['alice', 'bob'],
      targets: { prod: { type: 'local', shell: '/bin/sh' } },
      roles: { oncall: { standing: ['shell'], break_glass: ['prod'] } },
      config: { recording: { signing_key: 'keys/recording.pem', break_glass_without_recording: true } },
    });
    const b = await runTestBastion(cfg);
    cleanups.push(() => b.cleanup());
    // The spool stops being writable (as root, permissions would not stop us: replace it by a file).
    rmSync(join(b.dataDir, 'spool', 'active'), { recursive: true });
    writeFileSync(join(b.dataDir, 'spool', 'active'), 'not a directory');
    const normal = await runSsh(b, b.users.alice!, ['echo should-not-run'], { code: code(b, 'alice') });
    expect(normal.code).toBe(1);
    expect(normal.stdout).toBe('');
    expect(normal.stderr).toContain('this session cannot be recorded');
    const bg = await runSsh(b, b.users.bob!, ['echo emergency-work'], { code: code(b, 'bob') }, { login: 'bob:prod' });
    expect(bg.stdout).toBe('emergency-work\n');
    expect(bg.stderr).toContain('cannot be recorded; security has been told');
    const failures = readAudit(b.dataDir).filter((l) => l.type === 'recording.failed');
    expect(failures.map((l) => [l.user, l.session_continues])).toEqual([
      ['alice', false],
      ['bob', true],
    ]);
    rmSync(join(b.dataDir, 'spool', 'active'));
    mkdirSync(join(b.dataDir, 'spool', 'active'));
  });
});
