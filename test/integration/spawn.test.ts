import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { describe, expect, it } from 'vitest';
import { LocalTargetConnector } from '../../src/targets/local.js';
import { loadAddon } from '../../src/native/load-addon.js';
import { ptyFork } from '../../src/targets/pty-exit.js';
import type { ResolvedLocalTarget } from '../../src/config/targets.js';
import type { ExitInfo, TargetStream } from '../../src/targets/target.js';

// A local target's program is started by src/native/spawn (clone with CLONE_VM | CLONE_VFORK, not
// fork), in a pty or with pipes: what it must see, what the bastion must keep, and what a program
// that cannot start looks like.
const target = (over: Partial<ResolvedLocalTarget> = {}) => new LocalTargetConnector({ name: 't', type: 'local', shell: '/bin/bash', env: {}, ...over } as unknown as ResolvedLocalTarget);
const pty = { term: 'xterm', cols: 80, rows: 24 };

/** This process's children that have exited and not been reaped (state Z in /proc). */
function zombies(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const [, state, ppid] = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, ') ').split(' ');
      if (Number(ppid) === process.pid && state === 'Z') found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function run(s: TargetStream): Promise<{ out: string; exit: ExitInfo }> {
  const parts: Buffer[] = [];
  s.onData((d) => parts.push(d));
  return new Promise((resolve) => s.onExit((exit) => resolve({ out: Buffer.concat(parts).toString(), exit })));
}

describe('starting a program in a pty', () => {
  it('is done by the spawn addon (built by npm install)', () => {
    expect(typeof loadAddon<{ fork: unknown }>('spawn')?.fork).toBe('function');
  });

  it("lets none of the bastion's descriptors through, another session's pty master least of all", async () => {
    const other = await target().open({ kind: 'exec', command: 'sleep 20', pty, env: {}, user: 'a' });
    const otherDone = run(other);
    const s = await target().open({ kind: 'exec', command: 'ls -l /proc/self/fd', pty, env: {}, user: 'b' });
    const { out, exit } = await run(s);
    other.close();
    await otherDone;
    expect(exit).toEqual({ code: 0 });
    // ls's own: 0-2 the terminal, 3 the directory it lists. Nothing else: no ptmx, socket, pipe or file.
    const fds = [...out.matchAll(/ (\d+) -> (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(fds.slice(0, 3)).toEqual(expect.arrayContaining([expect.stringMatching(/^0 \/dev\/pts\/\d+$/), expect.stringMatching(/^1 \/dev\/pts\/\d+$/), expect.stringMatching(/^2 \/dev\/pts\/\d+$/)]));
    expect(fds).toHaveLength(4);
    expect(fds[3]).toMatch(/^3 \/proc\/\d+\/fd$/);
  });

  it('makes the pty the controlling terminal of a new session, with every signal at its default', async () => {
    const s = await target().open({ kind: 'exec', command: 'ps -o sid=,pid=,tty= -p $$; grep -E "^Sig(Blk|Ign)" /proc/self/status; stty size', pty: { ...pty, cols: 100, rows: 30 }, env: {}, user: 'a' });
    const { out, exit } = await run(s);
    expect(exit).toEqual({ code: 0 });
    const [sid, pid, tty] = out.trim().split(/\s+/);
    expect(sid).toBe(pid); // the shell leads its own session...
    expect(tty).toMatch(/^pts\/\d+$/); // ...whose controlling terminal is the pty
    expect(out).toMatch(/SigBlk:\s+0+\r\n/);
    expect(out).toMatch(/SigIgn:\s+0+\r\n/); // not Node's ignored SIGPIPE
    expect(out).toContain('30 100');
  });

  it('delivers ^C to the program in the foreground as SIGINT', async () => {
    const s = await target().open({ kind: 'exec', command: 'sleep 30; echo not-interrupted', pty, env: {}, user: 'a' });
    const done = run(s);
    await new Promise((r) => setTimeout(r, 300));
    s.write(Buffer.from('\x03'));
    const { out, exit } = await done;
    expect(out).not.toContain('not-interrupted');
    expect(exit).toEqual({ code: null, signal: 'INT' });
  });

  it('is a clear error when the program or its directory is missing, and leaves no child behind', async () => {
    await expect(target({ shell: '/nonexistent/shell' }).open({ kind: 'shell', pty, env: {}, user: 'a' })).rejects.toThrow('cannot start /nonexistent/shell (exec): No such file or directory');
    await expect(target({ cwd: '/nonexistent-dir' } as Partial<ResolvedLocalTarget>).open({ kind: 'shell', pty, env: {}, user: 'a' })).rejects.toThrow('cannot start /bin/bash (chdir): No such file or directory');
    await expect(target({ command: ['no-such-program-x'] } as Partial<ResolvedLocalTarget>).open({ kind: 'shell', pty, env: {}, user: 'a' })).rejects.toThrow('cannot start no-such-program-x (exec): No such file or directory');
    expect(zombies()).toEqual([]);
  });

  it('refuses a command with a NUL byte rather than run the part before it', async () => {
    await expect(target().open({ kind: 'exec', command: 'echo safe\0; echo other', pty, env: {}, user: 'a' })).rejects.toThrow('without NUL bytes');
  });

  /** What COMMAND prints, run as RUN_AS, with a pty and without: its lines, after checking it exited 0. */
  async function linesAs(run_as: { name: string; uid: number; gid: number; home: string }, command: string): Promise<string[][]> {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (as in CI): only root can switch users');
    const t = target({ run_as, cwd: '/tmp' } as unknown as Partial<ResolvedLocalTarget>);
    const got: string[][] = [];
    for (const withPty of [true, false]) {
      const { out, exit } = await run(await t.open({ kind: 'exec', command, ...(withPty ? { pty } : {}), env: {}, user: 'a' }));
      expect(exit).toEqual({ code: 0 });
      got.push(out.split(/\r?\n/));
    }
    return got;
  }

  it("runs as the target's run_as user, in its group alone", async () => {
    for (const lines of await linesAs({ name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' }, 'id -u; id -g; id -G')) {
      expect(lines.slice(0, 3)).toEqual(['65534', '65534', '65534']);
    }
  });

  it('switches to an id of 2^31 or more (it must not wrap to "no change" and run as the bastion)', async () => {
    for (const lines of await linesAs({ name: 'big', uid: 3_000_000_000, gid: 4_000_000_000, home: '/' }, 'id -u; id -g')) {
      expect(lines.slice(0, 2)).toEqual(['3000000000', '4000000000']);
    }
  });

  it('refuses a uid without a gid, or an id out of range, instead of starting the program unchanged', () => {
    const addon = loadAddon<{ fork(...a: unknown[]): unknown; spawn(...a: unknown[]): unknown }>('spawn')!;
    const onexit = () => undefined;
    for (const [uid, gid] of [[1000, -1], [-1, 1000], [4294967295, 0], [0, 2 ** 40], [1.5, 1], [-2, -2]]) {
      expect(() => addon.fork('/bin/true', [], [], '', 80, 24, uid, gid, true, '', onexit)).toThrow('uid and gid must both be -1');
      expect(() => addon.spawn('/bin/true', [], [], '', uid, gid, onexit)).toThrow('uid and gid must both be -1');
    }
    expect(zombies()).toEqual([]);
  });

  it('without the addon, refuses to open a terminal rather than fall back to node-pty (which would leak the other sessions\' terminals)', () => {
    expect(ptyFork({ fork: () => ({ pid: 1 }) })()).toEqual({ pid: 1 });
    expect(() => ptyFork(undefined)()).toThrow('local terminals need src/native/spawn, which is not built (run npm install)');
  });

  it('finds a bare program name on the PATH of the environment it is given', async () => {
    const s = await target({ command: ['env'] } as Partial<ResolvedLocalTarget>).open({ kind: 'shell', pty, env: {}, user: 'a' });
    const { out, exit } = await run(s);
    expect(exit).toEqual({ code: 0 });
    expect(out).toContain('BASTION_TARGET=t');
  });

  it('passes over a directory on the PATH that bears the name, as execvp does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-path-'));
    mkdirSync(join(dir, 'env'));
    try {
      const env = { PATH: `${dir}:/usr/bin:/bin` };
      for (const withPty of [true, false]) {
        const s = await target({ command: ['env'], env } as Partial<ResolvedLocalTarget>).open({ kind: 'shell', ...(withPty ? { pty } : {}), env: {}, user: 'a' });
        const { out, exit } = await run(s);
        expect(exit).toEqual({ code: 0 });
        expect(out).toContain(`PATH=${dir}:/usr/bin:/bin`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not take a bare name that matches nothing on the PATH as a file in the working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-cwd-'));
    writeFileSync(join(dir, 'planted'), '#!/bin/sh\necho planted-ran\n', { mode: 0o755 });
    try {
      const t = target({ command: ['planted'], cwd: dir } as Partial<ResolvedLocalTarget>);
      await expect(t.open({ kind: 'shell', pty, env: {}, user: 'a' })).rejects.toThrow('cannot start planted (exec): No such file or directory');
      const s = await t.open({ kind: 'shell', env: {}, user: 'a' });
      const err: Buffer[] = [];
      s.onStderr((d) => err.push(d));
      const { out, exit } = await run(s);
      expect(exit).toEqual({ code: 127 });
      expect(out).not.toContain('planted-ran');
      expect(Buffer.concat(err).toString()).toContain('cannot start planted (exec): No such file or directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not write-protect the bastion's memory: pages it touched before a session starts do not fault again", async () => {
    // fork() would copy the page tables and mark every page copy-on-write: touching the 64 MB
    // again after the start would fault once a page (16,384 times), in every session.
    const big = Buffer.alloc(64 * 1024 * 1024, 1);
    const s = await target().open({ kind: 'exec', command: 'true', pty, env: {}, user: 'a' });
    const faults0 = process.resourceUsage().minorPageFault;
    big.fill(2);
    const faults = process.resourceUsage().minorPageFault - faults0;
    expect((await run(s)).exit).toEqual({ code: 0 });
    expect(faults).toBeLessThan(2000);
  });

  it('hands back the slave side, open from before the program started: the output of a program already gone stays readable', async () => {
    const addon = loadAddon<{ fork(...a: unknown[]): { fd: number; pid: number; pty: string; slave: number } }>('spawn')!;
    let exited!: () => void;
    const exit = new Promise<void>((r) => (exited = r));
    const t = addon.fork('/bin/echo', ['fast-program'], ['PATH=/bin'], '', 80, 24, -1, -1, true, '', () => exited());
    await exit; // gone before anything was read
    const out: Buffer[] = [];
    const r = new ReadStream(t.fd);
    r.on('data', (d: Buffer) => {
      out.push(d);
      closeSync(t.slave); // read: now the read side may end
    });
    await new Promise((resolve) => r.once('error', resolve)); // EIO, once the last slave is closed
    expect(Buffer.concat(out).toString()).toBe('fast-program\r\n');
    expect(t.pty).toMatch(/^\/dev\/pts\/\d+$/);
  });
});

describe('starting a program with pipes (exec and subsystems without a pty)', () => {
  it('is done by the spawn addon too', () => {
    expect(typeof loadAddon<{ spawn: unknown }>('spawn')?.spawn).toBe('function');
  });

  it("gives it socket pairs for 0-2 and nothing else of the bastion's, with a pty session open beside it", async () => {
    const other = await target().open({ kind: 'exec', command: 'sleep 20', pty, env: {}, user: 'a' });
    const otherDone = run(other);
    const { out, exit } = await run(await target().open({ kind: 'exec', command: 'ls -l /proc/self/fd', env: {}, user: 'b' }));
    other.close();
    await otherDone;
    expect(exit).toEqual({ code: 0 });
    const fds = [...out.matchAll(/ (\d+) -> (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(fds).toHaveLength(4);
    expect(fds.slice(0, 3).every((f) => /^[012] socket:\[\d+\]$/.test(f))).toBe(true);
    expect(fds[3]).toMatch(/^3 \/proc\/\d+\/fd$/);
  });

  it('keeps stdout and stderr apart, passes stdin to its end, and reports the exit status', async () => {
    const s = await target().open({ kind: 'exec', command: 'echo out; echo err >&2; cat; exit 3', env: {}, user: 'a' });
    const err: Buffer[] = [];
    s.onStderr((d) => err.push(d));
    const done = run(s);
    s.write(Buffer.from('typed\n'));
    s.endInput();
    const { out, exit } = await done;
    expect(out).toBe('out\ntyped\n');
    expect(Buffer.concat(err).toString()).toBe('err\n');
    expect(exit).toEqual({ code: 3 });
  });

  it('runs it in a session of its own with default signals, and reports a death by signal', async () => {
    const { out } = await run(await target().open({ kind: 'exec', command: 'ps -o sid=,pid= -p $$; grep -E "^Sig(Blk|Ign)" /proc/self/status', env: {}, user: 'a' }));
    const [sid, pid] = out.trim().split(/\s+/);
    expect(sid).toBe(pid);
    expect(out).toMatch(/SigBlk:\s+0+\n/);
    expect(out).toMatch(/SigIgn:\s+0+\n/);
    expect((await run(await target().open({ kind: 'exec', command: 'kill -TERM $$', env: {}, user: 'a' }))).exit).toEqual({ code: null, signal: 'TERM' });
  });

  it('delivers every byte of a large output, paused and resumed on the way', async () => {
    const s = await target().open({ kind: 'exec', command: 'head -c 20000000 /dev/zero | tr "\\0" a', env: {}, user: 'a' });
    let bytes = 0;
    let other = 0;
    s.onData((d) => {
      bytes += d.length;
      other += d.length - d.toString('latin1').split('a').length + 1;
      if (bytes % 7 === 0) {
        s.pause();
        setTimeout(() => s.resume(), 1);
      }
    });
    const exit = await new Promise<ExitInfo>((resolve) => s.onExit(resolve));
    expect(exit).toEqual({ code: 0 });
    expect(bytes).toBe(20_000_000);
    expect(other).toBe(0);
  });

  it('says on stderr why a program cannot start, exits 127, and leaves no child behind', async () => {
    const s = await target({ shell: '/nonexistent/shell' }).open({ kind: 'exec', command: 'true', env: {}, user: 'a' });
    const err: Buffer[] = [];
    s.onStderr((d) => err.push(d));
    const { exit } = await run(s);
    expect(exit).toEqual({ code: 127 });
    expect(Buffer.concat(err).toString()).toBe('bastion: cannot start /nonexistent/shell (exec): No such file or directory\n');
    expect(zombies()).toEqual([]);
  });

  it('refuses a command with a NUL byte rather than run the part before it', async () => {
    const s = await target().open({ kind: 'exec', command: 'echo safe\0; echo other', env: {}, user: 'a' });
    const err: Buffer[] = [];
    s.onStderr((d) => err.push(d));
    const { out, exit } = await run(s);
    expect(out).toBe('');
    expect(exit).toEqual({ code: 127 });
    expect(Buffer.concat(err).toString()).toContain('without NUL bytes');
  });

  it("lets go of the program's input once it has exited, EOF or not (no descriptor left behind)", async () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 20; i++) expect((await run(await target().open({ kind: 'exec', command: 'true', env: {}, user: 'a' }))).exit).toEqual({ code: 0 });
    await new Promise((r) => setTimeout(r, 50)); // the sockets' closes are done on a later turn
    expect(open()).toBeLessThanOrEqual(before + 2);
  });

  it("does not write-protect the bastion's memory either", async () => {
    const big = Buffer.alloc(64 * 1024 * 1024, 1);
    const s = await target().open({ kind: 'exec', command: 'true', env: {}, user: 'a' });
    const faults0 = process.resourceUsage().minorPageFault;
    big.fill(2);
    const faults = process.resourceUsage().minorPageFault - faults0;
    expect((await run(s)).exit).toEqual({ code: 0 });
    expect(faults).toBeLessThan(2000);
  });
});
