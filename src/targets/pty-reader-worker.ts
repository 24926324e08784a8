import { parentPort } from 'node:worker_threads';
import { closeSync, readSync } from 'node:fs';
import tty from 'node:tty';
import type { FromReader, ToReader } from './pty-reader-protocol.js';

/**
 * The pty reader thread: reads local sessions' pty masters (through its own descriptors) while
 * they flood, so that the thread running the SSH sessions does not. A pty hands its reader at most 4 KB per
 * read; here those reads are gathered, and the session thread gets one message per batch.
 *
 * The first bytes after a quiet moment go at once: a keystroke's echo is not delayed. Reads that
 * follow each other closely (a flood of output: one every ~0.1 ms) are gathered for up to GATHER_MS or
 * BATCH bytes, so the session thread gets a few large batches instead of thousands of small ones
 * (and the client fewer, fuller SSH packets). One batch per session is in flight at a time; while
 * the session thread is busy with it the next one grows (during a flood, until it is full or GATHER_MS
 * old, not only until the last one is acknowledged). A session that does not acknowledge (its
 * client's window is full) stops being read once HOLD bytes wait, and the program in the pty
 * blocks, as it would on a slow terminal.
 *
 * Sessions come here for floods only: a pty quiet for QUIET_MS, everything sent and acknowledged,
 * is released, and the session thread reads it itself again (a keystroke's echo then crosses no
 * thread on its way to the client).
 */
const port = parentPort!;
const HOLD = 256 * 1024;
/**
 * A flood's batch: at most BATCH bytes, GATHER_MS old. Each batch wakes the session thread and is
 * acknowledged back; 256 KB and 3 ms instead of 64 KB and 1 ms cost 4-6 % less CPU per MB of a
 * pty `cat` in three A/B runs, the MB/s within their noise (docs/benchmarks.md, eleventh round).
 */
const BATCH = 256 * 1024;
const GATHER_MS = 3;
/** Reads closer together than this are a flood. */
const BURST_GAP_MS = 0.3;
const READ_SIZE = 64 * 1024;
/** A pty with no output this long, everything sent and acknowledged, goes back to the session thread. */
const QUIET_MS = 250;

interface Reader {
  stream: tty.ReadStream;
  fd: number;
  /** What was read and not sent yet: `waiting` bytes (at most HOLD + READ_SIZE). */
  stage: Buffer;
  waiting: number;
  inFlight: boolean;
  /** Reading stopped: HOLD bytes wait for a batch to be acknowledged. */
  held: boolean;
  done: boolean;
  lastRead: number;
  gather?: NodeJS.Timeout;
  quiet?: NodeJS.Timeout;
}

/**
 * Every read of every pty lands here and is copied to its reader's stage before the next: no
 * buffer is allocated per read (a pty gives at most 4 KB per read, hundreds per MB).
 */
const readInto = Buffer.alloc(READ_SIZE);

const readers = new Map<number, Reader>();
const send = (m: FromReader, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);

function flush(id: number, r: Reader): void {
  clearTimeout(r.gather);
  r.gather = undefined;
  if (r.waiting === 0) return;
  // A fresh ArrayBuffer of the batch's size (never a pooled one): it is handed over, not copied.
  // Not zero-filled first: the copy fills it whole.
  const data = Buffer.allocUnsafeSlow(r.waiting);
  r.stage.copy(data, 0, 0, r.waiting);
  r.waiting = 0;
  r.inFlight = true;
  send({ op: 'data', id, data }, [data.buffer]);
}

/**
 * Ends a read: what was read and not sent, then (when detached, the descriptor still open) what
 * the kernel still holds, at most HOLD more (a background job writing on after the program
 * exited must not keep this thread, which serves every session, busy for ever); sends it all and
 * lets go of the descriptor.
 */
function finish(id: number, r: Reader): void {
  if (!letGo(r)) return;
  // After an error or the end the stream has closed the descriptor: its number may already be
  // someone else's, so it is not read again.
  if (!r.stream.destroyed) {
    for (let taken = 0; taken < HOLD; ) {
      if (r.waiting + READ_SIZE > r.stage.length) flush(id, r);
      let n = 0;
      try {
        n = readSync(r.fd, r.stage, r.waiting, READ_SIZE, null);
      } catch {
        break; // EAGAIN: nothing more now; EIO: the program and everything it started are gone
      }
      if (n <= 0) break;
      r.waiting += n;
      taken += n;
    }
  }
  close(id, r);
  send({ op: 'end', id });
}

/**
 * Hands a quiet pty back to the session thread: what was read and not sent goes first, the rest
 * stays in the kernel for the session thread to read. All within one turn of the event loop, so
 * nothing more is read here.
 */
function release(id: number, r: Reader): void {
  if (!letGo(r)) return;
  close(id, r);
  send({ op: 'released', id });
}

/** Stops taking reads; false when the read was already let go. */
function letGo(r: Reader): boolean {
  if (r.done) return false;
  r.done = true;
  clearTimeout(r.quiet);
  return true;
}

/** Sends what was collected and closes this thread's descriptor (only ours: the pty stays open). */
function close(id: number, r: Reader): void {
  flush(id, r);
  readers.delete(id);
  r.stream.on('error', () => undefined);
  r.stream.destroy();
}

/** Releases the pty once it has been quiet for QUIET_MS with nothing waiting or unacknowledged. */
function watchQuiet(id: number, r: Reader): void {
  if (r.done || r.quiet) return;
  const idle = performance.now() - r.lastRead;
  r.quiet = setTimeout(
    () => {
      r.quiet = undefined;
      if (r.done) return;
      if (r.inFlight || r.waiting > 0 || performance.now() - r.lastRead < QUIET_MS) watchQuiet(id, r);
      else release(id, r);
    },
    // Checked again at most every 50 ms while a slow client holds a batch.
    Math.max(50, QUIET_MS - idle),
  );
}

/** Sends what waits now, unless a flood is on and there is less than a batch: then within GATHER_MS. */
function gatherOrFlush(id: number, r: Reader, flood: boolean): void {
  if (r.waiting === 0) return;
  if (!flood || r.waiting >= BATCH) flush(id, r);
  else r.gather ??= setTimeout(() => (r.inFlight ? undefined : flush(id, r)), GATHER_MS);
}

function attach(id: number, fd: number): void {
  let stream: tty.ReadStream;
  try {
    // Reads go straight into readInto and to onRead: no 'data' events, no stream buffering.
    // (`onread` is net.Socket's; @types/node lists it for connect() only.)
    const onread = { buffer: readInto, callback: (n: number) => onRead(id, r, n) };
    stream = new tty.ReadStream(fd, { onread } as ConstructorParameters<typeof tty.ReadStream>[1]);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // not ours any more
    }
    send({ op: 'end', id, error: (err as Error).message });
    return;
  }
  // Read from only once the stream is resumed below.
  const r: Reader = { stream, fd, stage: Buffer.alloc(HOLD + READ_SIZE), waiting: 0, inFlight: false, held: false, done: false, lastRead: performance.now() };
  readers.set(id, r);
  send({ op: 'attached', id }); // the descriptor is this thread's to close now
  watchQuiet(id, r);
  // EIO once the program and everything holding the pty have gone: the end of its output.
  stream.on('error', () => finish(id, r));
  stream.on('end', () => finish(id, r));
  stream.resume(); // a tty.ReadStream starts paused
}

/** One read of N bytes in readInto. False stops reading (HOLD bytes wait): the program in the pty blocks. */
function onRead(id: number, r: Reader, n: number): boolean {
  if (r.done) return false; // not reached: a let-go reader's stream is destroyed in the same turn
  r.stage.set(readInto.subarray(0, n), r.waiting);
  r.waiting += n;
  const now = performance.now();
  const flood = now - r.lastRead < BURST_GAP_MS;
  r.lastRead = now;
  if (!r.inFlight) gatherOrFlush(id, r, flood);
  else if (r.waiting >= HOLD) {
    r.held = true;
    return false;
  }
  return true;
}

port.on('message', (m: ToReader) => {
  if (m.op === 'attach') return attach(m.id, m.fd);
  const r = readers.get(m.id);
  if (!r) return;
  if (m.op === 'ack') {
    r.inFlight = false;
    gatherOrFlush(m.id, r, performance.now() - r.lastRead < BURST_GAP_MS);
    if (r.held) {
      r.held = false;
      r.stream.resume();
    }
  } else if (m.op === 'detach') finish(m.id, r);
});
