import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import { describeError } from '../errors.js';
import type { Spool } from './spool.js';
import type { ChunkRecord } from '../recording/chain.js';
import { sha256OfPieces } from '../recording/chunk-hash.js';
import { putConfirmed, type ObjectStore } from './object-store.js';
import { compressForUpload, removeCopy, type SpaceOf } from './compress-for-upload.js';

// Hashed here rather than in the thread pool: WebCrypto copies the buffer and, on two cores, its
// thread competes with the session and recording threads (A/B: 16 % slower bulk output).
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A long session's chunks are deleted this many at a time after its final upload. */
const DELETE_PARALLEL = 16;

/** Where a recording's chunk goes while the session runs. */
const chunkKey = (base: string, index: number) => `${base}/chunks/${String(index).padStart(6, '0')}.part`;

/** PREFIX/YYYY/MM/DD/SESSION, the date taken from the session id (s-20261123T095100Z-…). */
export function objectBase(prefix: string, sessionId: string): string {
  const m = /^s-(\d{4})(\d{2})(\d{2})T/.exec(sessionId);
  const date = m ? `${m[1]}/${m[2]}/${m[3]}` : 'undated';
  return `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}${date}/${sessionId}`;
}

export interface UploadHealth {
  /** Recordings (sealed) and chunks (live sessions) still waiting to leave this machine. */
  pending: number;
  /** Since when uploads have been failing without a success, if they are. */
  failingSince?: number;
  uploaded: number;
  failures: number;
}

/**
 * Moves the spool to the object store: chunks of live sessions as they close (so a destroyed
 * host loses at most about one chunk interval), then the final gzip and manifest, after which the
 * chunks are removed. A file leaves the spool only once the store confirms size and checksum.
 * Failures retry forever with exponential backoff and jitter; nothing is ever dropped.
 */
export class Uploader {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private attempt = 0;
  private nextTryAt = 0;
  private readonly health: UploadHealth = { pending: 0, uploaded: 0, failures: 0 };
  /**
   * Active recordings' chunk progress as last read. The recorder says when a recording closes a
   * chunk (kick(id)); one that has not, and is all uploaded, is skipped without touching its files.
   * Every pass visits every running session, so with hundreds of them this keeps the pass cheap.
   */
  private readonly progress = new Map<string, { total: number; uploaded: number }>();
  /** Active recordings that closed a chunk since their progress was read (told by the recorder). */
  private readonly grown = new Set<string>();
  /** Active recordings whose newest chunks are not due yet (closed by size in a burst): when they are. */
  private readonly due = new Map<string, number>();
  /**
   * What chunks are read into, kept while chunks keep coming: a fresh 32 MB buffer per chunk costs
   * a page fault every 4 KB of it, in the middle of the session whose output it is.
   */
  private chunkBuffer?: Buffer;
  /**
   * Recordings whose session has ended and which are being sealed (the whole file hashed, the
   * manifest signed): their chunks wait, since the final upload follows and supersedes them. A
   * flood's recording was otherwise uploaded twice, its chunks while it was hashed, then the whole.
   */
  private readonly sealingIds = new Set<string>();

  constructor(
    private readonly deps: {
      spool: Spool;
      store: ObjectStore;
      prefix: string;
      clock: Clock;
      log: Logger;
      audit: AuditSink;
      intervalMs: number;
      maxBackoffMs?: number;
      /** See compressForUpload. */
      memoryBytes?: number;
      /** Default: statfs. Replaced in tests (a disk cannot be filled on demand). */
      spaceOf?: SpaceOf;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.deps.intervalMs);
    this.timer.unref();
    void this.kick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  getHealth(): UploadHealth {
    return { ...this.health };
  }

  /**
   * Runs a pass now (or right after the one in progress). `chunkOf`: that recording has a new
   * chunk, to be uploaded by `dueAt` (default: now). A chunk not due yet waits for the pass that
   * finds it due, or for its recording's final upload, whichever comes first: a burst of output
   * that ends sooner is uploaded once, not twice, and does not compete with the session for CPU.
   */
  kick(chunkOf?: string, dueAt?: number): Promise<void> {
    if (chunkOf !== undefined && dueAt !== undefined && dueAt > this.deps.clock.now()) {
      if (!this.grown.has(chunkOf) && !this.due.has(chunkOf)) this.due.set(chunkOf, dueAt);
      return Promise.resolve();
    }
    if (chunkOf !== undefined) {
      this.due.delete(chunkOf); // a chunk due now: the recording's earlier ones go with it
      this.grown.add(chunkOf);
    }
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running); // the pass that follows it
    }
    const running = this.pass()
      .catch((err: unknown) => this.deps.log.error({ err: describeError(err) }, 'upload pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.kick();
        }
      });
    this.running = running;
    return running;
  }

  /**
   * `on`: the recording's session has ended and it is being sealed, so its chunks wait for the
   * final upload. `off`: sealing is over; a recording still active then (the seal failed) has its
   * chunks uploaded as before, from the next pass (the caller kicks one, as after any seal).
   */
  sealing(id: string, on: boolean): void {
    if (on) {
      this.sealingIds.add(id);
      return;
    }
    this.sealingIds.delete(id);
    this.grown.add(id); // read again: still active, its chunks go; sealed, the pass forgets it
  }

  /** Resolves once everything in the spool has been uploaded, or after `ms` (false). */
  async drain(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    // Everything now, due or not.
    for (const id of this.due.keys()) this.grown.add(id);
    this.due.clear();
    for (;;) {
      this.nextTryAt = 0;
      void this.kick(); // one pass at a time, always: a second one would upload the same objects again
      while (this.running) await this.running;
      if (this.health.pending === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async pass(): Promise<void> {
    const { spool, clock } = this.deps;
    const active = await spool.activeIds();
    const running = new Set(active);
    for (const id of this.progress.keys()) if (!running.has(id)) this.progress.delete(id);
    for (const id of this.grown) if (!running.has(id)) this.grown.delete(id);
    for (const [id, at] of this.due) {
      if (!running.has(id)) this.due.delete(id);
      else if (at <= clock.now()) {
        this.due.delete(id);
        this.grown.add(id);
      }
    }
    if (clock.now() < this.nextTryAt) {
      // Still backing off, but the lag keeps growing: count it.
      for (const id of active) await this.refresh(id).catch(() => undefined);
      this.health.pending = await this.countPending();
      return;
    }
    // Each recording on its own: one that cannot be uploaded must not hold back the others.
    let failure: unknown;
    for (const id of active) await this.uploadChunks(id).catch((err: unknown) => (failure ??= err));
    for (const id of await spool.sealedIds()) await this.uploadSealed(id).catch((err: unknown) => (failure ??= err));
    if (failure === undefined) this.succeeded();
    else await this.failed(failure);
    this.health.pending = await this.countPending();
    if (this.due.size === 0 && this.grown.size === 0) this.chunkBuffer = undefined; // no chunk on its way
  }

  /** Chunks waiting: every sealed recording, and active recordings' chunks not uploaded yet (as last read, or told). */
  private async countPending(): Promise<number> {
    try {
      let n = (await this.deps.spool.sealedIds()).length;
      for (const p of this.progress.values()) n += p.total - p.uploaded;
      n += this.due.size; // at least one chunk each, closed but not due yet
      return n;
    } catch {
      return this.health.pending; // a file moved under us (a seal in progress): count again next pass
    }
  }

  /**
   * An active recording's chunk progress, re-read only when it closed a chunk since; the chunks
   * themselves when some are not uploaded yet.
   */
  private async refresh(id: string): Promise<ChunkRecord[] | undefined> {
    const known = this.progress.get(id);
    const upToDate = known !== undefined && known.uploaded >= known.total;
    if (upToDate && !this.grown.has(id)) return undefined;
    // Its newest chunks are not due yet, and nothing older waits.
    if (this.due.has(id) && (upToDate || !known)) return undefined;
    const { chunks, uploaded } = this.deps.spool.chunkState(id); // if this throws, the hint stays for the next pass
    this.grown.delete(id);
    this.progress.set(id, { total: chunks.length, uploaded });
    return uploaded < chunks.length ? chunks : undefined;
  }

  private async uploadChunks(id: string): Promise<void> {
    const { spool, store, prefix } = this.deps;
    const chunks = await this.refresh(id);
    if (!chunks || this.sealingIds.has(id)) return; // counted as pending, uploaded by the final upload
    const { uploaded } = this.progress.get(id)!;
    let fh;
    try {
      fh = await open(spool.activePaths(id).cast, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // sealed meanwhile: the final upload covers it
      throw err;
    }
    try {
      const todo = chunks.slice(uploaded);
      const longest = todo.reduce((n, c) => Math.max(n, c.length), 0);
      if (!this.chunkBuffer || this.chunkBuffer.length < longest) this.chunkBuffer = Buffer.allocUnsafeSlow(longest);
      for (const c of todo) {
        if (this.sealingIds.has(id)) break; // its session ended meanwhile: the final upload covers the rest
        // Filled by the read (its length is checked); free again once the store has confirmed it.
        const body = this.chunkBuffer.subarray(0, c.length);
        const { bytesRead } = await fh.read(body, 0, c.length, c.offset);
        // The bytes must still be the ones the recorder hashed: a spool file changed or cut on disk is not uploaded as if intact.
        if (bytesRead !== c.length || (await sha256OfPieces([body])) !== c.sha256) throw new Error(`recording ${id}: chunk ${c.index} in the spool no longer matches its hash`);
        await putConfirmed(store, chunkKey(objectBase(prefix, id), c.index), body, { contentType: 'application/octet-stream', sha256: c.sha256 });
        await spool.markChunksUploaded(id, c.index + 1);
        this.progress.set(id, { total: chunks.length, uploaded: c.index + 1 });
      }
    } finally {
      await fh.close();
    }
  }

  private async uploadSealed(id: string): Promise<void> {
    const { spool, store, prefix, audit } = this.deps;
    const paths = spool.sealedPaths(id);
    const base = objectBase(prefix, id);
    const manifest = await readFile(paths.manifest);
    const { log, memoryBytes, spaceOf } = this.deps;
    const gz = await compressForUpload({ id, cast: paths.cast, copy: paths.gzip, log, memoryBytes, spaceOf });
    try {
      await putConfirmed(store, `${base}.cast.gz`, gz.body, { contentType: 'application/gzip', sha256: gz.sha256, md5: gz.md5, verifyInTransit: true });
    } finally {
      if (!Buffer.isBuffer(gz.body)) await removeCopy(id, paths.gzip, log);
    }
    await putConfirmed(store, `${base}.manifest.json`, manifest, { contentType: 'application/json', sha256: sha256(manifest), verifyInTransit: true });
    // The chunks uploaded during the session are superseded: deleted by name (a chunk that never
    // got there is a harmless delete), not by listing, which costs as much as the whole bucket on
    // some stores and needs a permission the uploads otherwise do not.
    const chunkCount = (JSON.parse(manifest.toString('utf8')) as { chunks?: unknown[] }).chunks?.length ?? 0;
    for (let i = 0; i < chunkCount; i += DELETE_PARALLEL) {
      const batch = Array.from({ length: Math.min(DELETE_PARALLEL, chunkCount - i) }, (_, j) => store.delete(chunkKey(base, i + j)));
      await Promise.all(batch);
    }
    await spool.remove(id);
    this.health.uploaded += 1;
    await audit.record({ type: 'recording.uploaded', session_id: id, object: `${store.location}/${base}.cast.gz`, bytes: gz.sourceBytes, gzip_bytes: gz.size });
  }

  private succeeded(): void {
    if (this.health.failingSince !== undefined) this.deps.log.info({ failing_for_ms: this.deps.clock.now() - this.health.failingSince }, 'uploads work again');
    delete this.health.failingSince;
    this.attempt = 0;
    this.nextTryAt = 0;
  }

  private async failed(err: unknown): Promise<void> {
    const now = this.deps.clock.now();
    this.health.failures += 1;
    if (this.health.failingSince === undefined) {
      this.health.failingSince = now;
      await recordOrLog(this.deps.audit, this.deps.log, { type: 'recording.upload_failed', store: this.deps.store.location, error: describeError(err).slice(0, 300), note: 'recordings stay in the spool and are retried' });
    }
    this.attempt += 1;
    const max = this.deps.maxBackoffMs ?? 60_000;
    const backoff = Math.min(max, 500 * 2 ** Math.min(this.attempt, 20));
    this.nextTryAt = now + backoff * (0.5 + Math.random() / 2); // jitter: many bastions must not retry in step
    this.deps.log.warn({ err: describeError(err), attempt: this.attempt, retry_in_ms: this.nextTryAt - now }, 'upload failed; will retry');
  }
}
