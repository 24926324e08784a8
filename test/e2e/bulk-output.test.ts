import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTestBastion, startTestBastion, writeTestConfig, type TestBastion } from '../helpers/bastion.js';
import { askpassEnv, sshBaseArgs } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';
import { s3cmd } from '../helpers/s3cmd.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * Runs a command through the bastion with the real ssh client, counting (not keeping) its output.
 * `step`: the TOTP time step to answer with, from now (a code is accepted once).
 */
function countedSsh(b: TestBastion, command: string, step = 0): Promise<{ code: number | null; bytes: number; stderr: string }> {
  const user = b.users.alice!;
  const { env } = askpassEnv({ code: oathtool(user.secret, new Date(Date.now() + step * 30_000)) });
  const child = spawn('ssh', [...sshBaseArgs(b, user), 'alice@127.0.0.1', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (bytes += d.length));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, bytes, stderr })));
}

describe('bulk output', () => {
  it('output faster than the recording can be written slows down to it; the session is never failed', async () => {
    const b = await startTestBastion({ users: ['alice'] });
    cleanups.push(() => b.cleanup());
    // NUL bytes are the worst case: each becomes six bytes ("\u0000") in the recording.
    const size = 64 * 1024 * 1024;
    const r = await countedSsh(b, `head -c ${size} /dev/zero`);
    expect({ code: r.code, bytes: r.bytes }, r.stderr).toEqual({ code: 0, bytes: size });
    const up = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 120_000);
    expect(readAudit(b.dataDir).filter((l) => l.type === 'recording.failed')).toEqual([]);
    const manifestKey = String(up.object).replace('s3://bastion-recordings/', '').replace('.cast.gz', '.manifest.json');
    const file = join(b.dir, 'bulk.manifest.json');
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${manifestKey}`, file]);
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { incomplete: boolean; recording: { bytes: number } };
    expect(manifest.incomplete).toBe(false);
    expect(manifest.recording.bytes).toBeGreaterThan(6 * size); // every byte is in it
  });

  it("a program's stderr after a flood of stdout reaches the user, and every stdout byte arrives once", async () => {
    const b = await startTestBastion({ users: ['alice'] });
    cleanups.push(() => b.cleanup());
    const size = 10_000_000;
    const r = await countedSsh(b, `for i in 1 2 3; do head -c ${size} /dev/zero; echo "the word after flood $i" >&2; done; exit 7`);
    expect({ code: r.code, bytes: r.bytes }, r.stderr).toEqual({ code: 7, bytes: 3 * size });
    // After the login's own prompts, each line in full, once.
    expect(r.stderr.split('\n').filter((l) => l.startsWith('the word'))).toEqual([1, 2, 3].map((i) => `the word after flood ${i}`));
    expect(r.stderr.endsWith('the word after flood 3\n')).toBe(true);
  });

  it('a spool disk that fills up mid-session: the session is closed, the audit says why, and the bastion goes on', async () => {
    // The kernel's own disk-full behaviour for the bastion's files, nothing faked: none of them may
    // grow past 8 MB (RLIMIT_FSIZE; the write that reaches it is cut short, the next refused).
    const b = await runTestBastion(writeTestConfig({ users: ['alice'] }), ['prlimit', '--fsize=8000000']);
    cleanups.push(() => b.cleanup());
    const size = 50_000_000;
    const r = await countedSsh(b, `head -c ${size} /dev/zero | tr '\\0' x`);
    expect(r.code).not.toBe(0);
    expect(r.bytes).toBeLessThan(size);
    // Told on stderr, after a flood that kept stdout waiting for window space (src/ssh/channel-window.ts).
    expect(r.stderr).toContain('The recording of this session cannot be written');
    const failed = await waitForAudit(b.dataDir, (l) => l.type === 'recording.failed', 20_000);
    expect(failed).toMatchObject({ user: 'alice', session_continues: false });
    expect(String(failed.error)).toMatch(/spool took only \d+ of \d+ bytes|file too large/i);
    expect(await waitForAudit(b.dataDir, (l) => l.type === 'session.end', 20_000)).toMatchObject({ user: 'alice', reason: 'recording failed' });
    // Nothing crashed: the next session is served and recorded.
    const next = await countedSsh(b, 'echo still-serving', 1);
    expect({ code: next.code, bytes: next.bytes }, next.stderr).toEqual({ code: 0, bytes: 'still-serving\n'.length });
    expect(b.stderr()).not.toMatch(/\n\s+at /); // no stack trace
  });
});
