import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3 } from '../../src/storage/embedded-s3.js';
import { S3ObjectStore } from '../../src/storage/s3.js';
import { createLogger } from '../../src/log.js';
import { Writable } from 'node:stream';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the embedded S3 server runs in a process of its own', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 's3proc-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('serves real S3 from another process; killed, it is logged and started again on the same port; close() ends it', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    process.env.BASTION_TEST_SECRET = 'must-not-leak';
    const s3 = await startEmbeddedS3({ host: '127.0.0.1', port: 0, dir: tmp(), bucket: 'rec' }, log);
    delete process.env.BASTION_TEST_SECRET;
    const store = new S3ObjectStore({ bucket: 'rec', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const first = s3.pid()!;
      expect(first).toBeGreaterThan(0);
      expect(first).not.toBe(process.pid);
      // None of the bastion's environment (it may hold credentials) reaches it: PATH, and Node's own IPC variables.
      const env = readFileSync(`/proc/${first}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => kv.split('=')[0]);
      expect(env.filter((k) => !k!.startsWith('NODE_CHANNEL_'))).toEqual(['PATH']);
      expect(env).not.toContain('BASTION_TEST_SECRET');
      await store.put('one', Buffer.from('before'), { contentType: 'text/plain', sha256: 'ab'.repeat(32) });
      expect((await store.get('one')).toString()).toBe('before');

      process.kill(first, 'SIGKILL');
      await until('the server to be started again', () => s3.pid() !== undefined && s3.pid() !== first);
      // Same port, same objects: the bastion's endpoint never changes.
      expect((await store.get('one')).toString()).toBe('before');
      await store.put('two', Buffer.from('after'), { contentType: 'text/plain', sha256: 'ab'.repeat(32) });
      expect((await store.get('two')).toString()).toBe('after');
      const warned = lines.map((l) => JSON.parse(l) as { msg: string; signal?: string }).find((l) => l.msg.startsWith('embedded s3 stopped'));
      expect(warned?.signal).toBe('SIGKILL');
      expect(warned).toHaveProperty('exitCode', null); // not `code`: the logger redacts that name (TOTP codes)
      expect(lines.some((l) => l.includes('embedded s3 listening again'))).toBe(true);

      const second = s3.pid()!;
      await s3.close();
      expect(alive(second)).toBe(false);
      expect(s3.pid()).toBeUndefined();
    } finally {
      store.destroy();
      await s3.close();
    }
  });

  it('a port in use is a clear error, not a crash', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(startEmbeddedS3({ host: '127.0.0.1', port, dir: tmp(), bucket: 'rec' })).rejects.toThrow(new RegExp(`could not listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });

  /** A parent of its own (the built module, as the bastion runs it) that prints the server's pid; `then` is what it does next. */
  const parentOf = (then: string) => {
    const script = `import('${new URL('../../dist/src/storage/embedded-s3.js', import.meta.url).href}').then(async (m) => { const s = await m.startEmbeddedS3({ host: '127.0.0.1', port: 0, dir: ${JSON.stringify(tmp())}, bucket: 'rec' }); console.log(s.pid()); ${then} });`;
    return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  };

  it('never keeps the process that started it from exiting, and ends with it', async () => {
    const parent = parentOf('');
    const exited = new Promise<number | null>((resolve) => parent.once('exit', resolve));
    const childPid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(await exited).toBe(0);
    await until('the server process to end after its parent', () => !alive(childPid));
  });

  it('ends with the process that started it, even one killed with -9', async () => {
    // Killed with no chance to clean up.
    const parent = parentOf('setInterval(() => {}, 1000);');
    const childPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      parent.once('exit', (code) => reject(new Error(`the parent exited (${code})`)));
    });
    expect(alive(childPid)).toBe(true);
    parent.kill('SIGKILL');
    await until('the server process to end after its parent', () => !alive(childPid));
  });
});
