import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../clock.js';
import { encodeEvent, encodeHeader, type Header } from './asciicast.js';
import { chainNext, chainStart, type ChunkRecord } from './chain.js';
import { chunkHash } from './chunk-hash.js';
import { EventBytes } from './event-bytes.js';
import { dropFromCache } from './page-cache.js';

export interface RecorderOptions {
  /** The spool file this recording is written to (created; must not exist). */
  readonly castPath: string;
  /** Append-only list of closed chunks beside it (one JSON line per chunk). */
  readonly chunksPath: string;
  readonly header: Header;
  readonly clock: Clock;
  /** Written and fsynced at least this often (kill -9 loses at most this much). */
  readonly flushMs: number;
  /** A chunk is closed (and can be uploaded) after this much time with data, or this many bytes. */
  readonly chunkMs: number;
  readonly chunkBytes: number;
  /**
   * A closed chunk is ready for upload, due at `dueAt` (ms): at once for a chunk closed by age;
   * for one closed early (by size, or as the recording ends), when it would have closed by age,
   * the promise chunk_interval makes (a burst that ends sooner is uploaded once, in the final object).
   */
  readonly onChunk?: (c: ChunkRecord, dueAt: number) => void;
  /** The recording can no longer be written (disk full, spool gone): the session must decide. */
  readonly onFailure?: (err: unknown) => void;
}

const MAX_PENDING = 64 * 1024 * 1024;
const WRITE_BYTES = 256 * 1024;
/** Synced bytes leave the page cache from a multiple of this (a page cut at the last sync is dropped with the next). */
const DROP_ALIGN = 64 * 1024;

/**
 * Writes one session as asciicast v2 to the spool: events are encoded as they come (UTF-8 decoded
 * as a stream, so a character split across reads stays whole), buffered, and written and fsynced
 * at least every `flushMs`. The file is cut into chunks whose hashes form a chain, so a recording
 * can be uploaded while the session runs and any change to it is detectable.
 */
export class Recorder {
  private readonly out = new StringDecoder('utf8');
  private readonly inp = new StringDecoder('utf8');
  /** Encoded, not written yet. */
  private readonly pending = new EventBytes();
  private writing: Promise<void> = Promise.resolve();
  /** Closed chunks being synced and recorded, in order (see closeChunk). */
  private sealing: Promise<void> = Promise.resolve();
  private unsealed = 0;
  private timer?: NodeJS.Timeout;
  private failed?: unknown;
  private closed = false;
  private writeQueued = false;
  /** Bytes of the file an fsync has covered, and the fsync running (one at a time). */
  private syncedTo = 0;
  private syncing: Promise<boolean> | undefined;
  private syncFailed = false;
  /** The file's page cache before this offset has been let go (see dropFromCache). */
  private droppedTo = 0;
  private readonly startMs: number;
  // Chunk bookkeeping (bytes written to disk).
  private offset = 0;
  private chunkStart = 0;
  private chunkStartedAt = 0;
  private readonly chunkHash = chunkHash();
  private chain: string;
  private readonly chunks: ChunkRecord[] = [];

  private constructor(
    private readonly fh: FileHandle,
    private readonly chunksFh: FileHandle,
    private readonly o: RecorderOptions,
  ) {
    this.startMs = o.header.timestamp * 1000;
    this.chain = chainStart(o.header.bastion.session_id);
  }

  /** Creates the spool file with its header, fsynced. Throws when the spool cannot be written. */
  static async create(o: RecorderOptions): Promise<Recorder> {
    const fh = await open(o.castPath, 'wx', 0o600);
    let chunksFh: FileHandle | undefined;
    try {
      chunksFh = await open(o.chunksPath, 'wx', 0o600);
      const r = new Recorder(fh, chunksFh, o);
      r.pending.text(encodeHeader(o.header) + '\n');
      await r.flush();
      if (r.failed) throw r.failed;
      r.timer = setInterval(() => void r.flush(), o.flushMs);
      r.timer.unref();
      return r;
    } catch (err) {
      await fh.close().catch(() => undefined);
      await chunksFh?.close().catch(() => undefined);
      throw err;
    }
  }

  /** Seconds since the start; `atMs` is when the event happened, where the caller knows it (batched events). */
  private t(atMs?: number): number {
    return Math.max(0, ((atMs ?? this.o.clock.now()) - this.startMs) / 1000);
  }

  private push(line: string): void {
    if (this.closed || this.failed) return;
    this.pending.text(line + '\n');
    this.pushed();
  }

  private pushed(): void {
    if (this.pending.length > MAX_PENDING) this.fail(new Error('the recording falls behind the session (spool too slow)'));
    // Bulk output is written in modest pieces as it comes (no giant strings to build and page in);
    // the fsync stays on the timer.
    if (this.pending.length >= WRITE_BYTES) void this.settled();
  }

  output(chunk: Buffer, atMs?: number): void {
    this.event('o', this.out, chunk, atMs);
  }

  /** Keystrokes as typed (hidden input never reaches the recorder: see `redacted`). */
  input(chunk: Buffer, atMs?: number): void {
    this.event('i', this.inp, chunk, atMs);
  }

  private event(code: 'o' | 'i', decoder: StringDecoder, chunk: Buffer, atMs?: number): void {
    if (this.closed || this.failed || chunk.length === 0) return;
    // Whole UTF-8 with no character left half-decoded from before: escaped straight from the bytes.
    if ((decoder as unknown as { lastNeed?: number }).lastNeed === 0 && this.pending.event(this.t(atMs), code, chunk)) return this.pushed();
    const text = decoder.write(chunk);
    if (text) this.push(encodeEvent(this.t(atMs), code, text));
  }

  /** Input typed at a hidden prompt: only that it happened, and how much, is kept. */
  redacted(bytes: number, atMs?: number): void {
    this.push(encodeEvent(this.t(atMs), 'm', `[redacted input: ${bytes} byte${bytes === 1 ? '' : 's'} typed with echo off]`));
  }

  resize(cols: number, rows: number, atMs?: number): void {
    this.push(encodeEvent(this.t(atMs), 'r', `${cols}x${rows}`));
  }

  marker(label: string, atMs?: number): void {
    this.push(encodeEvent(this.t(atMs), 'm', label));
  }

  /** Encoded bytes waiting to be written. */
  backlogBytes(): number {
    return this.pending.length;
  }

  /** Resolves once everything pushed so far has been written (not necessarily fsynced). */
  settled(): Promise<void> {
    if (this.pending.length > 0 && !this.writeQueued) {
      this.writeQueued = true;
      this.writing = this.writing.then(() => {
        this.writeQueued = false;
        return this.writeOut(false);
      });
    }
    return this.writing;
  }

  /** Resolves once everything pushed so far has been written and every chunk closed so far is recorded. */
  async sealed(): Promise<void> {
    await this.settled();
    await this.sealing;
  }

  /**
   * Writes what is pending and fsyncs it; closes the chunk when it is old enough. The fsync timer
   * calls this; it resolves once all that is done (the writes that follow do not wait for it).
   */
  async flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writeOut(true));
    await this.writing;
    await this.syncTo(this.offset);
    await this.sealing;
  }

  /**
   * Writes what is pending. The disk's flushes never hold the writes up: `sync` (the timer) starts
   * an fsync of everything written so far, and chunks are recorded once their bytes are synced,
   * while the next bytes are written.
   */
  private async writeOut(sync: boolean): Promise<void> {
    if (this.failed) return;
    if (this.pending.length > 0) {
      const size = this.pending.length;
      const pieces = this.pending.take();
      if (this.offset === this.chunkStart) this.chunkStartedAt = this.o.clock.now();
      // Hashed while the thread pool writes, on another of its threads (a failed write fails the
      // recording: the hash is moot then). The pieces are used again only once both are done.
      const written = this.fh.writev(pieces);
      const hashed = this.chunkHash.update(pieces);
      let took: number;
      try {
        [{ bytesWritten: took }] = await Promise.all([written, hashed]);
      } catch (err) {
        await Promise.allSettled([written, hashed]);
        this.fail(err);
        return;
      }
      // A disk that fills up takes part of a write before it refuses the next: those bytes are not
      // counted, so no chunk vouches for bytes the spool does not hold.
      if (took < size) return this.fail(new Error(`the spool took only ${took} of ${size} bytes (its disk is full?)`));
      this.pending.reuse(pieces);
      this.offset += size;
      // Bulk output closes chunks by size as it comes, so no chunk grows past chunkBytes however
      // fast the session writes, and the uploader never holds more than one chunk's bytes.
      if (this.offset - this.chunkStart >= this.o.chunkBytes) void this.closeChunk(true);
    }
    if (!sync) return;
    void this.syncTo(this.offset);
    // Chunks close by age on the fsync timer, one flush early, so none waits longer than chunkMs;
    // quiet now or not, what was written a while ago has to leave the machine.
    if (this.offset > this.chunkStart && this.o.clock.now() - this.chunkStartedAt >= this.o.chunkMs - this.o.flushMs) void this.closeChunk();
  }

  /**
   * Resolves once the first `target` bytes of the file are synced: true, or false when the disk
   * refused (the recording has failed). One fsync runs at a time, covering every write finished
   * before it began; a caller it does not cover waits for it and starts the next. It goes on after
   * a failed write (chunks closed before it are still recorded), never after a failed fsync: the
   * kernel reports a lost write-back once, and a later fsync would succeed over the loss.
   */
  private syncTo(target: number): Promise<boolean> {
    if (this.syncFailed) return Promise.resolve(false);
    if (this.syncedTo >= target) return Promise.resolve(true);
    if (this.syncing) return this.syncing.then((ok) => ok && this.syncTo(target));
    const upTo = this.offset;
    const running = this.fh.datasync().then(
      () => {
        this.syncedTo = Math.max(this.syncedTo, upTo);
        // Written once, read back later (uploads), so it need not stay in memory: fresh pages for
        // a flood's next megabytes cost far more than recycled ones (docs/benchmarks.md, ninth round).
        if (upTo > this.droppedTo) {
          dropFromCache(this.fh.fd, this.droppedTo, upTo - this.droppedTo);
          this.droppedTo = upTo - (upTo % DROP_ALIGN);
        }
        return true;
      },
      (err: unknown) => {
        this.syncFailed = true;
        this.fail(err);
        return false;
      },
    );
    this.syncing = running.finally(() => (this.syncing = undefined));
    return this.syncing; // it covers every write finished so far, so `target`
  }

  /**
   * Ends the chunk at what has been written; it is recorded (in order, one after the other) once
   * its bytes are synced: a chunk record vouches for synced bytes.
   * `early`: closed before its time (by size, or the recording ends and its final upload follows):
   * due when a chunk of that age would have closed by itself (chunkMs after its first write, less
   * the flush that closes it).
   */
  private closeChunk(early = false): Promise<void> {
    if (this.offset === this.chunkStart) return this.sealing;
    const dueAt = early ? this.chunkStartedAt + this.o.chunkMs - this.o.flushMs : this.o.clock.now();
    const sha256 = this.chunkHash.digest();
    this.chain = chainNext(this.chain, sha256);
    const c: ChunkRecord = { index: this.chunks.length + this.unsealed++, offset: this.chunkStart, length: this.offset - this.chunkStart, sha256, chain: this.chain };
    this.chunkStart = this.offset;
    this.sealing = this.sealing.then(() => this.seal(c, dueAt));
    return this.sealing;
  }

  private async seal(c: ChunkRecord, dueAt: number): Promise<void> {
    if (!(await this.syncTo(c.offset + c.length))) return;
    try {
      await this.chunksFh.write(JSON.stringify(c) + '\n');
      await this.chunksFh.datasync();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.unsealed--;
    this.chunks.push(c);
    this.o.onChunk?.(c, dueAt);
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = err;
    this.pending.clear();
    clearInterval(this.timer);
    this.o.onFailure?.(err);
  }

  /** Ends the recording: the decoders' rest, a final marker, everything flushed and chunked. */
  async close(finalMarker: string): Promise<{ chunks: ChunkRecord[]; bytes: number; failed?: unknown }> {
    if (!this.closed) {
      const tailOut = this.out.end();
      if (tailOut) this.push(encodeEvent(this.t(), 'o', tailOut));
      this.marker(finalMarker);
      this.closed = true;
      clearInterval(this.timer);
      await this.flush();
      await (this.writing = this.writing.then(() => (this.failed ? undefined : this.closeChunk(true))));
      await this.sealing;
      await this.syncing;
      await this.fh.close().catch(() => undefined);
      await this.chunksFh.close().catch(() => undefined);
    }
    return { chunks: [...this.chunks], bytes: this.offset, ...(this.failed ? { failed: this.failed } : {}) };
  }
}
