import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { spawn as spawnPty } from 'node-pty';
import { CLI, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startPtySsh } from '../helpers/ssh.js';
import { oathtool, requireTool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';
import { s3cmd, s3keys } from '../helpers/s3cmd.js';

describe('keystroke recording to S3, checked with independent tools', () => {
  let b: TestBastion;
  beforeAll(async () => {
    requireTool('asciinema', 'asciinema');
    b = await startTestBastion({ users: ['alice'] });
  });
  afterAll(() => b?.cleanup());

  it('records a real ssh session (output, keystrokes, no typed password), uploads it, and it verifies', async () => {
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: oathtool(b.users.alice!.secret) });
    const waitFor = p.waitFor;
    p.write("PS1='READY> '\r");
    await waitFor(/READY> $/);
    p.write('echo hello-$((40+2))-recorded\r');
    await waitFor(/hello-42-recorded/);
    p.write('read -s -p "Password: " PW; echo; echo "len=${#PW}"\r');
    await waitFor(/Password: $/);
    p.write('hunter2-secret\r');
    await waitFor(/len=14/);
    p.write('exit 3\r');
    expect(await p.exited).toBe(3);

    const uploaded = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 20_000);
    const key = String(uploaded.object).replace('s3://bastion-recordings/', '');
    expect(key).toMatch(/^recordings\/\d{4}\/\d{2}\/\d{2}\/s-\d{8}T\d{6}Z-[0-9a-f]{8}\.cast\.gz$/);

    // Fetched with s3cmd, an S3 client that shares no code with the bastion.
    const keys = await s3keys(b.s3Endpoint!, 'bastion-recordings');
    expect(keys).toEqual(expect.arrayContaining([key, key.replace('.cast.gz', '.manifest.json')]));
    expect(keys.filter((k) => k.includes('/chunks/'))).toEqual([]);
    const gzPath = join(b.dir, 'rec.cast.gz');
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key}`, gzPath]);
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key.replace('.cast.gz', '.manifest.json')}`, join(b.dir, 'rec.manifest.json')]);
    const cast = gunzipSync(readFileSync(gzPath));
    writeFileSync(join(b.dir, 'rec.cast'), cast);

    // asciinema itself reads the file (it wants a terminal, so it gets a pty): what the client saw is there.
    const replay = await asciinemaCat(join(b.dir, 'rec.cast'));
    expect(replay).toContain('hello-42-recorded');
    expect(replay).toContain('len=14');

    const lines = cast.toString('utf8').trim().split('\n');
    const header = JSON.parse(lines[0]!);
    expect(header).toMatchObject({ version: 2, width: 100, height: 30, env: { TERM: 'xterm', SHELL: '/bin/bash' }, bastion: { user: 'alice', target: 'shell', source_ip: '127.0.0.1', ticket: 'INC-4242', break_glass: false, mfa: 'totp' } });
    const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    const typed = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    expect(typed).toContain('echo hello-$((40+2))-recorded\r');
    expect(cast.toString('utf8')).not.toContain('hunter2');
    expect(events.some((e) => e[1] === 'm' && e[2].startsWith('[redacted input'))).toBe(true);
    expect(events.at(-1)![1]).toBe('m');
    expect(events.at(-1)![2]).toContain('exit status 3');

    const verify = (ref: string) => spawnSync(process.execPath, [CLI, 'recording', 'verify', ref, '--config', b.configPath], { encoding: 'utf8' });
    const ok = verify(gzPath);
    expect(ok.stdout).toMatch(/^OK: /);
    expect(ok.status).toBe(0);
    const viaS3 = spawnSync(process.execPath, [CLI, 'recording', 'verify', `s3://bastion-recordings/${key}`, '--config', b.configPath], { encoding: 'utf8', env: { ...process.env, BASTION_S3_ENDPOINT: b.s3Endpoint! } });
    expect(viaS3.stdout).toMatch(/^OK: s3:\/\//);

    // One changed byte in the recording, or in the manifest, fails and says where.
    const tampered = Buffer.from(cast);
    const at = tampered.indexOf('hello-42');
    tampered[at] = 'j'.charCodeAt(0);
    writeFileSync(join(b.dir, 'bad.cast'), tampered);
    writeFileSync(join(b.dir, 'bad.manifest.json'), readFileSync(join(b.dir, 'rec.manifest.json')));
    const bad = verify(join(b.dir, 'bad.cast'));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/FAILED: .*: chunk \d+ \(bytes \d+-\d+\): content changed/);
    const manifest = readFileSync(join(b.dir, 'rec.manifest.json'), 'utf8');
    writeFileSync(join(b.dir, 'bad.manifest.json'), manifest.replace('"user": "alice"', '"user": "mallory"'));
    writeFileSync(join(b.dir, 'bad.cast'), cast);
    expect(verify(join(b.dir, 'bad.cast')).stdout).toContain('signature: the signature does not match');
    writeFileSync(join(b.dir, 'bad.manifest.json'), manifest);
    writeFileSync(join(b.dir, 'bad.cast'), cast.subarray(0, cast.length - 10));
    expect(verify(join(b.dir, 'bad.cast')).stdout).toMatch(/truncated: \d+ bytes, the manifest says \d+/);
  });
});

function asciinemaCat(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawnPty('asciinema', ['cat', file], { cols: 120, rows: 40, env: process.env as Record<string, string> });
    let out = '';
    p.onData((d) => (out += d));
    p.onExit((e) => (e.exitCode === 0 ? resolve(out) : reject(new Error(`asciinema cat exited ${e.exitCode}:\n${out}`))));
  });
}
