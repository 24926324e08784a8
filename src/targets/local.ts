import { spawn as spawnChild } from 'node:child_process';
import { constants as os, homedir, userInfo } from 'node:os';
import { spawn as spawnPty, type IPty } from "node-pty";
import type { ResolvedLocalTarget } from '../config/targets.js';
import { BastionError } from '../errors.js';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { inputHidden, pendingBytes } from './termios.js';
import { onPtyExit, preparePtyExit } from './pty-exit.js';
import { Emitter } from './emitter.js';
import type { ExitInfo, OpenRequest, TargetConnector, TargetStream } from './target.js';

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** After a hang-up, how long a target's processes get before the whole group is killed. */
const KILL_AFTER_MS = 2000;
/** The longest a finished program's output is drained before the pty is let go. */
const DRAIN_LIMIT_MS = 1000;

/**
 * Hangs up a process group (the target and everything it started), then kills what is left.
 * A session that ends must not leave a `sleep` or a `tail -f` behind holding its output open.
 */
function hangUpGroup(pid: number | undefined, isDone: () => boolean): void {
  signalGroup(pid, 'SIGHUP');
  setTimeout(() => {
    if (!isDone()) signalGroup(pid, 'SIGKILL');
  }, KILL_AFTER_MS).unref();
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is gone
  }
}

/** Runs the target's shell on this host: in a pty (node-pty) when the client asked for one, else with pipes. */
export class LocalTargetConnector implements TargetConnector {
  readonly shell: string;

  constructor(private readonly target: ResolvedLocalTarget) {
    this.shell = target.command?.[0] ?? target.shell;
  }

  async open(req: OpenRequest): Promise<TargetStream> {
    const t = this.target;
    let file = t.shell;
    let args: string[];
    if (req.kind === 'subsystem') {
      if (t.command) throw new BastionError('TARGET_FAILED', `target ${t.name} runs a fixed program and offers no file transfer`);
      const env = this.environment(req);
      const ids = t.run_as ? { uid: t.run_as.uid, gid: t.run_as.gid } : {};
      return new PipeStream(t.sftp_server, [], { cwd: t.cwd ?? t.run_as?.home ?? homedir(), env, ...ids });
    }
    if (t.command) {
      // A fixed-program target (psql, kubectl exec -it ...) is interactive only: no arbitrary commands.
      if (req.kind === 'exec') throw new BastionError('TARGET_FAILED', `target ${t.name} runs a fixed program and does not accept commands; connect without one`);
      [file, ...args] = t.command as [string, ...string[]];
    } else {
      args = req.kind === 'exec' ? ['-c', req.command ?? ''] : req.pty ? ['-l'] : [];
    }
    const env = this.environment(req);
    const ids = t.run_as ? { uid: t.run_as.uid, gid: t.run_as.gid } : {};
    const cwd = t.cwd ?? t.run_as?.home ?? homedir();
    return req.pty ? new PtyStream(file, args, { ...req.pty, cwd, env, ...ids }) : new PipeStream(file, args, { cwd, env, ...ids });
  }

  /** A minimal base, then the client's allow-listed variables, then the target's own (which win). */
  private environment(req: OpenRequest): Record<string, string> {
    const name = this.target.run_as?.name ?? userInfo().username;
    return {
      PATH: SAFE_PATH,
      HOME: this.target.run_as?.home ?? homedir(),
      USER: name,
      LOGNAME: name,
      SHELL: this.target.shell,
      ...(req.pty ? { TERM: req.pty.term } : {}),
      ...req.env,
      BASTION_USER: req.user,
      BASTION_TARGET: this.target.name,
      ...this.target.env,
    };
  }
}

/** Reads this long or longer suggest a flood: see PtyStream.withMore. */
const COALESCE_FROM = 1024;
const COALESCE_MAX = 64 * 1024;

class PtyStream implements TargetStream {
  private readonly data = new Emitter<Buffer>();
  private readonly stderr = new Emitter<Buffer>();
  private readonly exit = new Emitter<ExitInfo>();
  private readonly proc: IPty;
  private exited = false;
  /** Our own handle on the pty's slave side, held until the output is drained (see pty-exit.ts). */
  private slaveFd: number | undefined;

  constructor(file: string, args: string[], o: { term: string; cols: number; rows: number; cwd: string; env: Record<string, string>; uid?: number; gid?: number }) {
    const hooked = preparePtyExit();
    this.proc = spawnPty(file, args, { name: o.term, cols: o.cols, rows: o.rows, cwd: o.cwd, env: o.env, encoding: null, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
    const internals = this.proc as unknown as { _pty?: string; _fd?: number };
    if (hooked && internals._pty && onPtyExit(this.proc.pid, () => this.drainThenRelease(internals._fd))) {
      try {
        this.slaveFd = openSync(internals._pty, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
      } catch {
        // the program has already gone; nothing to hold
      }
    }
    this.proc.onData((d) => this.data.emit(this.withMore(typeof d === 'string' ? Buffer.from(d, 'utf8') : (d as Buffer), internals._fd)));
    this.proc.onExit(({ exitCode, signal }) => {
      this.releaseSlave();
      this.exited = true;
      const name = signal ? signalName(signal) : undefined;
      this.exit.emit(name ? { code: null, signal: name } : { code: exitCode });
    });
  }

  /**
   * A pty hands its reader at most one line-discipline buffer (4 KB) per read, and node-pty reads
   * once per event-loop turn: a flood of output would become thousands of small events, each
   * its own SSH packet. What is already waiting (FIONREAD) is read now, in the same turn, up to
   * 64 KB: fewer, fuller packets, and no added delay for a single keystroke's echo.
   */
  private withMore(first: Buffer, fd: number | undefined): Buffer {
    if (fd === undefined || first.length < COALESCE_FROM) return first;
    // Only when node-pty holds nothing back (it buffers while paused): what is read here must come after all of it.
    if ((this.proc as unknown as { _socket?: { readableLength?: number } })._socket?.readableLength) return first;
    const parts = [first];
    let total = first.length;
    while (total < COALESCE_MAX) {
      const waiting = pendingBytes(fd);
      if (!waiting) break;
      const buf = Buffer.allocUnsafe(Math.min(waiting, COALESCE_MAX - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch {
        break; // EAGAIN: node-pty's reader took it meanwhile; EIO: the program is gone
      }
      if (n <= 0) break;
      parts.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
    }
    return parts.length === 1 ? first : Buffer.concat(parts, total);
  }

  onData = (l: (b: Buffer) => void) => this.data.on(l);
  onStderr = (l: (b: Buffer) => void) => this.stderr.on(l);
  onExit = (l: (e: ExitInfo) => void) => this.exit.on(l);
  write(chunk: Buffer): void {
    this.proc.write(chunk as unknown as string);
  }
  endInput(): void {
    // A pty has no half-close; the shell sees the hang-up when the channel closes.
  }
  resize(cols: number, rows: number): void {
    try {
      this.proc.resize(Math.max(1, cols), Math.max(1, rows));
    } catch {
      // the process may have exited between the request and now
    }
  }
  pause(): void {
    this.proc.pause();
  }
  resume(): void {
    this.proc.resume();
  }
  inputHidden(): boolean | undefined {
    const fd = (this.proc as unknown as { _fd?: number })._fd;
    return typeof fd === 'number' ? inputHidden(fd) : undefined;
  }
  signal(name: string): void {
    signalGroup(this.proc.pid, `SIG${name}` as NodeJS.Signals);
  }
  close(): void {
    // The shell leads its own session and process group in the pty.
    hangUpGroup(this.proc.pid, () => this.exited);
  }

  /**
   * The program has exited: read everything it wrote (resuming even if the client is slow; what
   * is left is at most the kernel's pty buffer), then let go of the slave so the read side ends.
   */
  private drainThenRelease(masterFd: number | undefined): void {
    this.proc.resume();
    const started = Date.now();
    let quiet = 0;
    const check = () => {
      const pending = masterFd === undefined ? undefined : pendingBytes(masterFd);
      quiet = pending === 0 ? quiet + 1 : 0;
      if (pending === undefined || quiet >= 2 || Date.now() - started > DRAIN_LIMIT_MS) this.releaseSlave();
      else setTimeout(check, 2);
    };
    setTimeout(check, 2);
  }

  private releaseSlave(): void {
    if (this.slaveFd === undefined) return;
    try {
      closeSync(this.slaveFd);
    } catch {
      // already closed
    }
    this.slaveFd = undefined;
  }
}

class PipeStream implements TargetStream {
  private readonly data = new Emitter<Buffer>();
  private readonly stderr = new Emitter<Buffer>();
  private readonly exit = new Emitter<ExitInfo>();
  private readonly child;
  private exited = false;

  constructor(file: string, args: string[], o: { cwd: string; env: Record<string, string>; uid?: number; gid?: number }) {
    // detached: its own process group, so a hang-up reaches everything it started.
    this.child = spawnChild(file, args, { ...o, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout.on('data', (d: Buffer) => this.data.emit(d));
    this.child.stderr.on('data', (d: Buffer) => this.stderr.emit(d));
    this.child.stdin.on('error', () => undefined); // EPIPE when the program exits before reading its input
    this.child.on('error', (err) => {
      this.stderr.emit(Buffer.from(`bastion: cannot start ${file}: ${err.message}\n`));
      this.finish({ code: 127 });
    });
    // 'close' fires after stdout and stderr have ended, so no output is lost.
    this.child.on('close', (code, signal) => {
      this.finish(signal ? { code: null, signal: signal.replace(/^SIG/, '') } : { code: code ?? 0 });
    });
  }

  private finish(info: ExitInfo): void {
    if (this.exited) return;
    this.exited = true;
    this.exit.emit(info);
  }

  onData = (l: (b: Buffer) => void) => this.data.on(l);
  onStderr = (l: (b: Buffer) => void) => this.stderr.on(l);
  onExit = (l: (e: ExitInfo) => void) => this.exit.on(l);
  write(chunk: Buffer): void {
    if (this.child.stdin.writable) this.child.stdin.write(chunk);
  }
  endInput(): void {
    this.child.stdin.end();
  }
  resize(): void {
    // no terminal to resize
  }
  pause(): void {
    this.child.stdout.pause();
    this.child.stderr.pause();
  }
  resume(): void {
    this.child.stdout.resume();
    this.child.stderr.resume();
  }
  signal(name: string): void {
    signalGroup(this.child.pid, `SIG${name}` as NodeJS.Signals);
  }
  close(): void {
    hangUpGroup(this.child.pid, () => this.exited);
  }
}

function signalName(num: number): string | undefined {
  const entry = Object.entries(os.signals).find(([, n]) => n === num);
  return entry ? entry[0].replace(/^SIG/, '') : undefined;
}
