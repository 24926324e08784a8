import { Worker } from 'node:worker_threads';
import type { Clock } from '../clock.js';
import type { Header } from './asciicast.js';
import type { ChunkRecord } from './chain.js';
import { EV, REUSED_FROM, type FromWorker, type ToWorker } from './worker-protocol.js';

/** How often batched events go to the recording thread; the recorder's own fsync interval is shortened by as much. */
export const BATCH_MS = 25;
const BATCH_BYTES = 256 * 1024;
/** Bytes handed to the recording thread and not yet acknowledged beyond which the session's source is paused... */
const BACKLOG_HIGH = 4 * 1024 * 1024;
/** ...until it is down to this. */
const BACKLOG_LOW = 1024 * 1024;
/** Buffers for big batches are made this big (a batch is BATCH_BYTES and the last part that reached it)... */
const REUSED_SIZE = 512 * 1024;
/** ...and at most this many wait to be used again. */
const SPARES = 8;
/** A backlog that makes no progress this long (a hung disk) fails the recording: a session is never paused for ever. */
const STALL_MS = 60_000;

type Closed = { chunks: ChunkRecord[]; bytes: number; failed?: unknown };

interface Handlers {
  created(err?: string): void;
  chunk(c: ChunkRecord, dueAt: number): void;
  ack(bytes: number): void;
  failed(err: string): void;
  closed(r: Closed): void;
}

/** The recording thread, shared by every session of this bastion. */
export class RecorderThread {
  private worker!: Worker;
  private readonly handlers = new Map<string, Handlers>();
  private stopping = false;
  /** Batch buffers the thread handed back, for the next big batches of any session. */
  private readonly spares: ArrayBuffer[] = [];

  constructor() {
    this.spawn();
  }

  private spawn(): void {
    // Built output runs the compiled worker; tests that import the sources use the built one too.
    const url = import.meta.url.endsWith('.ts') ? new URL('../../dist/src/recording/recorder-worker.js', import.meta.url) : new URL('./recorder-worker.js', import.meta.url);
    const worker = new Worker(url);
    this.worker = worker;
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'ack' && m.spare && this.spares.length < SPARES) this.spares.push(m.spare);
      const h = this.handlers.get(m.id);
      if (!h) return;
      switch (m.op) {
        case 'created':
          return h.created();
        case 'createFailed':
          this.handlers.delete(m.id);
          return h.created(m.error);
        case 'chunk':
          return h.chunk(m.chunk, m.dueAt);
        case 'ack':
          return h.ack(m.bytes);
        case 'failed':
          return h.failed(m.error);
        case 'closed':
          this.handlers.delete(m.id);
          return h.closed({ chunks: m.chunks, bytes: m.bytes, ...(m.failed ? { failed: new Error(m.failed) } : {}) });
      }
    });
    // If the thread dies, every recording on it has failed: starting sessions are refused, running
    // ones closed (never left unrecorded), and what reached the disk is sealed by recovery. A new
    // thread takes the next sessions.
    let dead = false;
    const die = (err: unknown) => {
      if (dead || this.worker !== worker) return;
      dead = true;
      const message = `the recording thread stopped: ${(err as Error)?.message ?? String(err)}`;
      const gone = [...this.handlers.values()];
      this.handlers.clear();
      for (const h of gone) {
        h.created(message);
        h.failed(message);
        h.closed({ chunks: [], bytes: 0, failed: new Error(message) });
      }
      if (!this.stopping) this.spawn();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
  }

  /** A buffer of `size` bytes for a batch, handed over with it (never shared). */
  batchBuffer(size: number): Uint8Array<ArrayBuffer> {
    if (size < REUSED_FROM) return new Uint8Array(size);
    let spare = this.spares.pop();
    while (spare && spare.byteLength < size) spare = this.spares.pop();
    return new Uint8Array(spare ?? new ArrayBuffer(Math.max(size, REUSED_SIZE)), 0, size);
  }

  send(m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }

  register(id: string, h: Handlers): void {
    this.handlers.set(id, h);
  }

  /** Whether the thread still knows this recording (false once it closed or the thread died). */
  has(id: string): boolean {
    return this.handlers.has(id);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.worker.terminate();
  }
}

/**
 * A session's recorder as the session thread sees it: events are only collected here (no
 * encoding, no hashing) and handed to the recording thread in batches every few milliseconds.
 */
export class RemoteRecorder {
  private parts: Buffer[] = [];
  private meta: number[] = [];
  private bytes = 0;
  private hiddenBytes = 0;
  private timer?: NodeJS.Timeout;
  private failure?: unknown;
  private closing?: Promise<Closed>;
  /** The thread's final answer, when it came before close() was called (the thread died). */
  private closedEarly?: Closed;
  private closedResolve?: (c: Closed) => void;
  /** Bytes sent to the thread and not yet acknowledged. */
  private inFlight = 0;
  private drained?: { promise: Promise<void>; resolve: () => void; stall: NodeJS.Timeout };
  private onFailure?: (err: unknown) => void;
  private stallMs = STALL_MS;

  private constructor(
    private readonly thread: RecorderThread,
    private readonly id: string,
    private readonly clock: Clock,
  ) {}

  static create(
    thread: RecorderThread,
    clock: Clock,
    o: { castPath: string; chunksPath: string; header: Header; flushMs: number; chunkMs: number; chunkBytes: number; onChunk?: (c: ChunkRecord, dueAt: number) => void; onFailure?: (err: unknown) => void; stallMs?: number },
  ): Promise<RemoteRecorder> {
    const id = o.header.bastion.session_id;
    const r = new RemoteRecorder(thread, id, clock);
    r.onFailure = o.onFailure;
    if (o.stallMs !== undefined) r.stallMs = o.stallMs;
    return new Promise((resolve, reject) => {
      thread.register(id, {
        created: (err) => (err ? reject(new Error(err)) : resolve(r)),
        chunk: (c, dueAt) => o.onChunk?.(c, dueAt),
        ack: (bytes) => r.acknowledged(bytes),
        failed: (err) => r.failed(new Error(err)),
        closed: (c) => {
          r.release();
          if (r.closedResolve) r.closedResolve(c);
          else r.closedEarly = c;
        },
      });
      const { onChunk: _c, onFailure: _f, stallMs: _s, ...rest } = o;
      thread.send({ op: 'create', id, ...rest, flushMs: Math.max(25, o.flushMs - BATCH_MS) });
    });
  }

  private add(kind: number, data: Buffer | undefined, length: number): void {
    if (this.closing) return;
    this.meta.push(this.clock.now(), kind, length);
    if (data) {
      this.parts.push(data);
      this.bytes += data.length;
    }
    if (this.bytes >= BATCH_BYTES) this.send();
    else this.timer ??= setTimeout(() => this.send(), BATCH_MS);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.meta.length === 0) return;
    // An unshared buffer (fresh, or one the thread handed back), so it can be handed over instead of copied.
    const data = this.thread.batchBuffer(this.bytes);
    let off = 0;
    for (const p of this.parts) {
      data.set(p, off);
      off += p.length;
    }
    const meta = Float64Array.from(this.meta);
    this.parts = [];
    this.meta = [];
    this.bytes = 0;
    this.inFlight += data.byteLength;
    this.thread.send({ op: 'events', id: this.id, meta, data }, [data.buffer, meta.buffer]);
  }

  /**
   * While the recording thread is behind (the disk is slower than the session's output), a
   * promise that resolves when it has caught up: the session pauses its source meanwhile, so
   * bulk output slows down to what can be recorded rather than the session failing.
   */
  backlog(): Promise<void> | undefined {
    if (this.drained) return this.drained.promise;
    if (this.inFlight + this.bytes < BACKLOG_HIGH || this.failure || this.closing) return undefined;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.drained = { promise, resolve, stall: this.stallTimer() };
    return promise;
  }

  private stallTimer(): NodeJS.Timeout {
    const t = setTimeout(() => this.failed(new Error(`the recording made no progress for ${this.stallMs / 1000} s (is the spool's disk hanging?)`)), this.stallMs);
    t.unref();
    return t;
  }

  private acknowledged(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight <= BACKLOG_LOW) this.release();
    else if (this.drained) {
      // Progress: the stall clock starts again.
      clearTimeout(this.drained.stall);
      this.drained.stall = this.stallTimer();
    }
  }

  /** The recording cannot go on: the session decides (it is closed, unless break-glass may go on unrecorded). */
  private failed(err: Error): void {
    const first = this.failure === undefined;
    this.failure ??= err;
    this.release();
    if (first) this.onFailure?.(this.failure);
  }

  /** Whoever waits for the backlog goes on (caught up, or the recording ended or failed). */
  private release(): void {
    const d = this.drained;
    this.drained = undefined;
    if (d) clearTimeout(d.stall);
    d?.resolve();
  }

  output(chunk: Buffer): void {
    this.add(EV.o, chunk, chunk.length);
  }
  /**
   * Hidden input becomes one marker per line (at Enter), not one per keystroke: a marker per key
   * would keep the secret's length and its typing rhythm.
   */
  input(chunk: Buffer, hidden: boolean): void {
    if (!hidden) {
      this.endHidden();
      this.add(EV.i, chunk, chunk.length);
      return;
    }
    this.hiddenBytes += chunk.length;
    if (chunk.includes(0x0d) || chunk.includes(0x0a)) this.endHidden();
  }

  private endHidden(): void {
    if (this.hiddenBytes === 0) return;
    this.add(EV.h, undefined, this.hiddenBytes);
    this.hiddenBytes = 0;
  }
  resize(cols: number, rows: number): void {
    const b = Buffer.from(`${cols}x${rows}`);
    this.add(EV.r, b, b.length);
  }
  marker(label: string): void {
    const b = Buffer.from(label);
    this.add(EV.m, b, b.length);
  }

  close(finalMarker: string): Promise<Closed> {
    if (!this.closing) {
      if (this.closedEarly || !this.thread.has(this.id)) {
        this.closing = Promise.resolve(this.closedEarly ?? { chunks: [], bytes: 0, failed: this.failure ?? new Error('the recording thread is gone') });
      } else {
        this.endHidden();
        this.send();
        this.closing = new Promise<Closed>((resolve) => {
          this.closedResolve = resolve;
          this.thread.send({ op: 'close', id: this.id, marker: finalMarker });
        });
      }
    }
    return this.closing;
  }
}
