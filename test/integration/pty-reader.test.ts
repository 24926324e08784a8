import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTargetConnector } from '../../src/targets/local.js';
import { spawn } from 'node-pty';
import { PtyReaderThread, ptyReader } from '../../src/targets/pty-reader.js';
import { dupFd, pendingBytes } from '../../src/targets/termios.js';
import { loadAddon } from '../../src/native/load-addon.js';
import type { ResolvedLocalTarget } from '../../src/config/targets.js';
import type { ExitInfo, TargetStream } from '../../src/targets/target.js';
import type { PtyStream } from '../../src/targets/pty-stream.js';

// Local pty output is read on the session thread while the program is quiet, and by the pty reader
// thread while it floods, handed to the session in batches (src/targets/pty-reader.ts). These
// check what a session relies on: every byte, in order, across the moves between the two; the
// program held back while the session is paused, the exit reported promptly and after the last
// byte, and reading going on in-process if the thread goes away.
const connector = new LocalTargetConnector({ name: 't', type: 'local', shell: '/bin/bash', env: {} } as unknown as ResolvedLocalTarget);
const pty = { term: 'xterm', cols: 80, rows: 24 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collect(s: TargetStream) {
  const parts: Buffer[] = [];
  let bytes = 0;
  s.onData((d) => {
    parts.push(d);
    bytes += d.length;
  });
  const exit = new Promise<ExitInfo>((resolve) => s.onExit(resolve));
  return { text: () => Buffer.concat(parts).toString(), bytes: () => bytes, exit };
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\r\n`).join('');
const readingOn = (s: TargetStream) => (s as PtyStream).readingOn();
async function until(what: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !what(); await sleep(5)) if (Date.now() > end) throw new Error('timed out waiting');
}

describe('the pty reader thread', () => {
  it('takes a flood from the session thread and hands the pty back once it is quiet; every byte in order', async () => {
    const s = await connector.open({ kind: 'exec', command: 'read a; seq 1 200000; read b; echo got:$b; seq 1 100000', pty, env: {}, user: 'x' });
    const out = collect(s);
    const seen = new Set<string>();
    s.onData(() => seen.add(readingOn(s)));
    expect(readingOn(s)).toBe('session');
    s.write(Buffer.from('go\n'));
    await until(() => out.text().endsWith('\r\n200000\r\n'));
    expect(seen).toEqual(new Set(['session', 'reader thread']));
    await until(() => readingOn(s) === 'session', 2000); // quiet for 250 ms: handed back
    s.write(Buffer.from('two\n'));
    expect(await out.exit).toEqual({ code: 0 });
    expect(out.text()).toBe(`go\r\n${expected(200000)}two\r\ngot:two\r\n${expected(100000)}`);
  });

  it('leaves a quiet, interactive program on the session thread', async () => {
    const s = await connector.open({ kind: 'exec', command: 'for i in 1 2 3 4 5; do read a; echo got:$a; done', pty, env: {}, user: 'x' });
    const out = collect(s);
    const seen = new Set<string>();
    s.onData(() => seen.add(readingOn(s)));
    for (const word of ['a', 'b', 'c', 'd', 'e']) {
      s.write(Buffer.from(`${word}\n`));
      await until(() => out.text().includes(`got:${word}`));
    }
    expect(await out.exit).toEqual({ code: 0 });
    expect(seen).toEqual(new Set(['session']));
  });

  it('delivers a flood complete and in order, then the exit', async () => {
    const s = await connector.open({ kind: 'exec', command: 'seq 1 300000', pty, env: {}, user: 'x' });
    const out = collect(s);
    expect(await out.exit).toEqual({ code: 0 });
    expect(out.text()).toBe(expected(300000));
  });

  it('holds the program back while the session is paused, and loses nothing when it resumes', async () => {
    const s = await connector.open({ kind: 'exec', command: 'seq 1 1000000', pty, env: {}, user: 'x' });
    const out = collect(s);
    while (out.bytes() === 0) await sleep(5);
    s.pause();
    await sleep(300);
    const held = out.bytes();
    await sleep(300);
    expect(out.bytes()).toBe(held); // nothing more arrives while paused
    expect(held).toBeLessThan(2 * 1024 * 1024); // and little was read ahead (the program was blocked)
    s.resume();
    expect(await out.exit).toEqual({ code: 0 });
    expect(out.text()).toBe(expected(1000000));
  });

  it('delivers everything a program wrote while the session was paused, after it exits', async () => {
    // A little more than the reader holds before it stops reading (256 KB): the rest waits in the kernel.
    const s = await connector.open({ kind: 'exec', command: 'seq 1 41000', pty, env: {}, user: 'x' });
    const out = collect(s);
    let paused = false;
    s.onData(() => {
      // the client's window is full from the reader thread's first batch on
      if (!paused && readingOn(s) === 'reader thread') s.pause();
      paused ||= readingOn(s) === 'reader thread';
    });
    expect(await out.exit).toEqual({ code: 0 });
    expect(out.text()).toBe(expected(41000));
  });

  it('reports the exit promptly when a background process still holds the pty', async () => {
    const started = Date.now();
    const s = await connector.open({ kind: 'exec', command: 'sleep 30 & echo started', pty, env: {}, user: 'x' });
    const out = collect(s);
    expect(await out.exit).toEqual({ code: 0 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(out.text()).toContain('started');
    s.close(); // hangs up the group: the sleep goes too
  });

  it('goes on reading in the session thread when the reader thread stops', async () => {
    const s = await connector.open({ kind: 'exec', command: 'seq 1 2000000; read b; echo got:$b; seq 1 50000', pty, env: {}, user: 'x' });
    const out = collect(s);
    // A batch from the thread: it has taken the pty (before that, stopping it loses nothing and no notice is due).
    let fromThread = 0;
    s.onData(() => (fromThread += readingOn(s) === 'reader thread' ? 1 : 0));
    await until(() => fromThread > 0);
    await ptyReader.stop();
    const before = fromThread;
    // (typed once the flood is over: the terminal would echo it wherever the flood was, even mid-line)
    await until(() => out.text().endsWith('\r\n2000000\r\n'));
    s.write(Buffer.from('two\n'));
    expect(await out.exit).toEqual({ code: 0 });
    // It delivered all it had read before letting go: nothing is missing, so no notice.
    expect(out.text()).toBe(`${expected(2000000)}two\r\ngot:two\r\n${expected(50000)}`);
    // The floods after it went to a new reader thread, and the exit still came after their last byte.
    expect(fromThread).toBeGreaterThan(before);
    // and the next session gets a new reader thread
    const next = await connector.open({ kind: 'exec', command: 'seq 1 100000', pty, env: {}, user: 'x' });
    const nextOut = collect(next);
    expect(await nextOut.exit).toEqual({ code: 0 });
    expect(nextOut.text()).toBe(expected(100000));
  });

  it('ends a read it is told to stop with the reason, nothing lost (no notice is due)', async () => {
    const program = spawn('/bin/sh', ['-c', 'sleep 2'], { cols: 80, rows: 24 });
    const reader = new PtyReaderThread();
    let ended: unknown;
    const ends = new Promise<void>((resolve) => {
      const read = reader.attach((program as unknown as { _fd: number })._fd, { data: () => undefined, end: (failure) => resolve(void (ended = failure)), released: () => undefined });
      expect(read).toBeDefined();
    });
    await reader.stop('a test stops it');
    await ends;
    expect(ended).toEqual({ error: 'the pty reader thread stopped: a test stops it' });
    program.kill();
  });

  it('hands the pty back when it cannot get memory for a batch: the session reads on and loses nothing', async () => {
    // A real allocation failure: a shim (compiled here) fails the reader's batch buffers after the first two.
    const dir = mkdtempSync(join(tmpdir(), 'ptyread-nomem-'));
    try {
      const shim = join(dir, 'fail-batch-alloc.so');
      await promisify(execFile)('gcc', ['-shared', '-fPIC', '-O2', '-o', shim, new URL('../fixtures/fail-batch-alloc.c', import.meta.url).pathname]);
      const script = new URL('../fixtures/pty-reader-nomem.mjs', import.meta.url).pathname;
      const env = { ...process.env, LD_PRELOAD: shim, FAIL_BATCH_AFTER: '2' };
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [script], { env, timeout: 60_000 });
      expect(stderr).toBe('');
      // every byte in order, read by the thread and, once it failed, by the session; then the exit
      expect(JSON.parse(stdout)).toEqual({ exit: { code: 0 }, complete: true, bytes: expected(300000).length, readOn: ['reader thread', 'session'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drains what the kernel holds when told to detach, even with a stop at the same time', async () => {
    // The program exits (detach) as the bastion shuts down (stop): the output still in the pty is
    // the program's last words, read before the end is reported. The first batch is never acked,
    // so the thread holds its 256 KB and stops reading; the program waits with more in the kernel.
    // Both signals go back to back, straight to the addon, so that the thread sees them together.
    const addon = loadAddon<{ attach(fd: number, cb: (kind: number, data: Buffer | null) => void): object; signal(handle: object, what: number): void }>('ptyread')!;
    expect(addon).toBeDefined();
    for (let round = 0; round < 3; round++) {
      const program = spawn('/bin/sh', ['-c', 'head -c 800000 /dev/zero; sleep 5'], { cols: 80, rows: 24 });
      const fd = (program as unknown as { _fd: number })._fd;
      program.pause();
      let bytes = 0;
      let handle!: object;
      const last = new Promise<number>((resolve) => {
        handle = addon.attach(dupFd(fd)!, (kind, data) => (kind === 0 ? void (bytes += data!.length) : resolve(kind)));
      });
      await until(() => bytes > 0);
      await sleep(300);
      expect(pendingBytes(fd)).toBeGreaterThan(0); // the kernel holds output the thread has not read
      // What `head` has written so far: it is blocked on the full pty, so this is all there is.
      const head = readFileSync(`/proc/${program.pid}/task/${program.pid}/children`, 'utf8').trim().split(' ')[0];
      const written = Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${head}/io`, 'utf8'))![1]);
      addon.signal(handle, 1); // detach
      addon.signal(handle, 2); // stop
      expect(await last).toBe(1); // END, as for a detach alone: the exit is reported after it
      expect(bytes).toBeGreaterThanOrEqual(written); // all of it delivered, the kernel's part too
      program.kill();
    }
  });

  it('stops and joins its threads when their environment goes away mid-flood (worker teardown, process exit)', async () => {
    const script = new URL('../fixtures/pty-reader-teardown.mjs', import.meta.url).pathname;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script], { timeout: 60_000 });
    expect(stdout).toBe('workers torn down\n');
    expect(stderr).toBe('');
  });
});
