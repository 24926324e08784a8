import { closeSync, writeSync } from 'node:fs';
import { spawn as spawnPty, type IPty } from 'node-pty';
import { inputHidden, pendingBytes } from './termios.js';
import { PTY_SPAWN_MISSING, onPtyExit, preparePtyExit, takeSlave } from './pty-exit.js';
import { ptyReader, type PtyRead } from './pty-reader.js';
import { hangUpGroup, signalGroup, signalName } from './process-group.js';
import { Emitter } from './emitter.js';
import type { ExitInfo, TargetStream } from './target.js';

/** The longest a finished program's output is drained before the pty is let go. */
const DRAIN_LIMIT_MS = 1000;
/** Output read here in one burst beyond which the pty goes to the reader thread (a flood)... */
const FLOOD_BYTES = 64 * 1024;
/** ...a burst being reads less than this apart. */
const BURST_GAP_MS = 3;

/** What of node-pty's UnixTerminal this class reaches into (stable across node-pty 1.x). */
interface PtyInternals {
  _fd?: number;
  _socket?: { _handle?: { readStart(): number; readStop(): number; reading?: boolean } | null; _read(n: number): void; destroy(): void; readableLength: number };
  /** node-pty's input queue: what it has yet to write, with fs.write on the thread pool. */
  _writeStream?: { _writeQueue?: unknown[] };
}

/**
 * A program in a pty (node-pty). While it is quiet or interactive node-pty reads its output here,
 * on the session thread: a keystroke's echo goes straight to the client. When it floods, the pty
 * reader thread (pty-reader.ts) takes over and the output arrives in batches, one at a time (the
 * next comes when this one has been passed on and the sink is not paused), until the pty is quiet
 * again and the thread hands it back. If the thread cannot take the pty, or fails, node-pty reads
 * it here.
 */
export class PtyStream implements TargetStream {
  private readonly data = new Emitter<Buffer>();
  private readonly stderr = new Emitter<Buffer>();
  private readonly exit = new Emitter<ExitInfo>();
  private readonly proc: IPty;
  private readonly internals: PtyInternals;
  /** Our own handle on the pty's slave side, held until the output is drained (see pty-exit.ts). */
  private slaveFd: number | undefined;
  private reader: PtyRead | undefined;
  private paused = false;
  private ackOwed = false;
  /** After the program's exit: every batch is taken at once, slow client or not (see drainThenRelease). */
  private draining = false;
  private exitInfo: ExitInfo | undefined;
  private exited = false;
  /** Bytes read here in the current burst, and when the last read came. */
  private burst = 0;
  private lastRead = 0;

  constructor(file: string, args: string[], o: { term: string; cols: number; rows: number; cwd: string; env: Record<string, string>; uid?: number; gid?: number }) {
    // Only through src/native/spawn's fork, hooked (see pty-exit.ts): node-pty's own would hand
    // this program the other sessions' terminals.
    if (!preparePtyExit()) throw new Error(PTY_SPAWN_MISSING);
    this.proc = spawnPty(file, args, { name: o.term, cols: o.cols, rows: o.rows, cwd: o.cwd, env: o.env, encoding: null, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
    this.internals = this.proc as unknown as PtyInternals;
    const masterFd = this.internals._fd;
    this.slaveFd = takeSlave(this.proc.pid);
    onPtyExit(this.proc.pid, () => this.drainThenRelease(masterFd));
    this.proc.onData((d) => this.readHereData(typeof d === 'string' ? Buffer.from(d, 'utf8') : (d as Buffer)));
    this.proc.onExit(({ exitCode, signal }) => {
      this.releaseSlave();
      const name = signal ? signalName(signal) : undefined;
      this.exitInfo = name ? { code: null, signal: name } : { code: exitCode };
      // The exit is reported after the last output: the reader's end says it has all been delivered.
      if (this.reader) this.reader.detach();
      else this.reportExit();
    });
  }

  /** Where the output is read now (for tests). */
  readingOn(): 'session' | 'reader thread' {
    return this.reader ? 'reader thread' : 'session';
  }

  /** Output node-pty read here: passed on, and a flood moves to the reader thread. */
  private readHereData(d: Buffer): void {
    this.data.emit(d);
    const now = performance.now();
    this.burst = now - this.lastRead < BURST_GAP_MS ? this.burst + d.length : d.length;
    this.lastRead = now;
    if (this.burst < FLOOD_BYTES) return;
    this.burst = 0;
    // Only while output flows (nothing waits in node-pty's stream) and the program runs.
    if (this.reader || this.paused || this.draining || this.exitInfo || this.internals._socket?.readableLength !== 0) return;
    this.reader = this.readOnThread();
  }

  /**
   * Hands the pty's output to the reader thread and stops node-pty's own reading. Called with
   * nothing read and not passed on (from node-pty's data event, or before the event loop has run).
   */
  private readOnThread(): PtyRead | undefined {
    const fd = this.internals._fd;
    const socket = this.internals._socket;
    if (fd === undefined || !socket?._handle) return undefined;
    const read = ptyReader.attach(fd, { data: (b) => this.batch(b), end: (failure) => this.readEnd(failure), released: () => this.released() });
    if (!read) return undefined;
    socket._read = () => undefined;
    socket._handle.readStop();
    socket._handle.reading = false;
    return read;
  }

  /** node-pty reads the output here (the thread handed the pty back, cannot take it, or failed). */
  private readHere(): void {
    const socket = this.internals._socket;
    if (socket && Object.prototype.hasOwnProperty.call(socket, '_read')) {
      // Undo readOnThread: the stream's own _read again, and the handle reading (as net's tryReadStart does).
      delete (socket as { _read?: unknown })._read;
      if (socket._handle && !socket._handle.reading) {
        socket._handle.reading = true;
        socket._handle.readStart();
      }
    }
    if (this.paused) this.proc.pause();
  }

  /** The reader thread let go of a quiet pty, all it read delivered. */
  private released(): void {
    this.reader = undefined;
    this.ackOwed = false; // an ack owed to this read; the next one starts afresh
    if (this.exitInfo === undefined) return this.readHere();
    // The program exited as the thread let go (the detach came too late): the thread reads what is
    // left and ends, as at any exit; if it cannot, node-pty reads on and the exit is reported now.
    this.reader = this.readOnThread();
    if (this.reader) return this.reader.detach();
    this.readHere();
    this.reportExit();
  }

  private batch(b: Buffer): void {
    this.data.emit(b);
    if (this.paused && !this.draining) this.ackOwed = true;
    else this.reader?.ack();
  }

  private readEnd(failure: { error: string } | undefined): void {
    this.reader = undefined;
    this.ackOwed = false;
    // Stopped, or the thread failed: everything it read has been delivered; the rest is read here.
    if (failure && this.exitInfo === undefined) return this.readHere();
    if (this.exitInfo) return this.reportExit();
    // The output ended before node-pty heard of the exit: let it see the end too, so it reports
    // the exit now rather than after its own timeout.
    try {
      this.internals._socket?.destroy();
    } catch {
      // already gone
    }
  }

  private reportExit(): void {
    if (this.exited || !this.exitInfo) return;
    this.exited = true;
    this.exit.emit(this.exitInfo);
  }

  onData = (l: (b: Buffer) => void) => this.data.on(l);
  onStderr = (l: (b: Buffer) => void) => this.stderr.on(l);
  onExit = (l: (e: ExitInfo) => void) => this.exit.on(l);
  /**
   * Input goes straight into the pty master (non-blocking) when nothing waits before it: a
   * keystroke reaches the program without a trip through the thread pool and back. What the
   * kernel will not take now (a large paste) goes to node-pty's queue, which retries in order.
   */
  write(chunk: Buffer): void {
    // Once node-pty's stream has closed the master (its handle gone), the number may already be
    // another file's: nothing is written to it, by either way.
    if (this.exited || !this.internals._socket?._handle) return;
    const fd = this.internals._fd;
    if (fd !== undefined && this.internals._writeStream?._writeQueue?.length === 0) {
      try {
        const n = writeSync(fd, chunk);
        if (n === chunk.length) return;
        chunk = chunk.subarray(n);
      } catch (err) {
        // EAGAIN: the kernel's buffer is full, node-pty's queue waits for room. Anything else (EIO:
        // the program has gone) means the input has nowhere to go.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
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
    this.paused = true;
    if (!this.reader) this.proc.pause();
  }
  resume(): void {
    this.paused = false;
    if (this.reader) this.ackIfOwed();
    else this.proc.resume();
  }

  /** The batch held back while paused has been passed on: the next may come. */
  private ackIfOwed(): void {
    if (!this.ackOwed) return;
    this.ackOwed = false;
    this.reader?.ack();
  }
  inputHidden(): boolean | undefined {
    const fd = this.internals._fd;
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
    this.draining = true;
    if (this.reader) this.ackIfOwed();
    else this.proc.resume();
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
