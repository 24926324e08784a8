import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../clock.js';
import { BastionError, describeError } from '../errors.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Every kind of audited fact. */
export type AuditEventType =
  | 'bastion.start'
  | 'bastion.stop'
  | 'audit.recovered'
  | 'connection.refused'
  | 'login.failure'
  | 'login.locked'
  | 'login.success'
  | 'access.refused'
  | 'channel.refused'
  | 'forward.opened'
  | 'session.start'
  | 'session.notice'
  | 'session.end'
  | 'grant.created'
  | 'grant.revoked'
  | 'api.refused'
  | 'recording.uploaded'
  | 'recording.upload_failed'
  | 'recording.failed'
  | 'review.opened'
  | 'review.approved'
  | 'review.flagged'
  | 'session.watch_started'
  | 'session.watch_ended'
  | 'session.terminated'
  | 'token.issued'
  | 'token.revoked'
  | 'live.refused'
  | 'alert.delivered'
  | 'alert.failed'
  | 'alert.gave_up'
  | 'review.open_failed'
  | 'drill.completed';

export interface AuditEvent {
  readonly type: AuditEventType;
  readonly [field: string]: unknown;
}

/** Where audited facts go. Implementations must make a fact durable before `record` resolves. */
export interface AuditSink {
  record(event: AuditEvent): Promise<void>;
}

/**
 * Records a fact from a place that cannot wait for or act on the result (an ssh2 callback, a
 * background loop): a failed write is never silent, it is logged as an error.
 */
export function recordOrLog(audit: AuditSink, log: { error(obj: object, msg: string): void }, event: AuditEvent): Promise<void> {
  return audit.record(event).catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err), event: event.type }, 'audit write failed'));
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Append-only JSON-lines audit log. Each line carries `seq` and `prev`, the SHA-256 of the previous
 * line's text, so any edit, deletion or reordering breaks the chain. Lines are fsynced before
 * `record` resolves; concurrent records are written in order and share an fsync.
 */
export class AuditLog implements AuditSink {
  private pending: { event: AuditEvent; ts: number; done: (err?: unknown) => void }[] = [];
  private flushing = false;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly clock: Clock,
    /** Hash of the last line known to be on disk, its seq, and the file size after it. */
    private prev: string,
    private seq: number,
    private size: number,
  ) {}

  /** Opens (or creates, mode 0600) the log, recovering from a line torn by a crash. */
  static async open(path: string, clock: Clock): Promise<AuditLog> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let fh: FileHandle;
    try {
      fh = await open(path, 'a+', 0o600);
    } catch (err) {
      throw new BastionError('AUDIT_IO', `cannot open audit log ${path}: ${describeError(err)}`, { cause: err });
    }
    const { lastLine, tornBytes, size } = await readTail(fh);
    if (tornBytes > 0) await fh.truncate(size - tornBytes);
    let prev = GENESIS_HASH;
    let seq = 0;
    if (lastLine !== undefined) {
      prev = sha256Hex(lastLine);
      try {
        seq = Number((JSON.parse(lastLine) as { seq?: unknown }).seq) || 0;
      } catch {
        seq = 0;
      }
    }
    const log = new AuditLog(fh, clock, prev, seq, size - tornBytes);
    if (tornBytes > 0) await log.record({ type: 'audit.recovered', dropped_bytes: tornBytes, note: 'a partial line left by a crash was removed' });
    return log;
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new BastionError('AUDIT_IO', 'audit log is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ event, ts: this.clock.now(), done: (err) => (err ? reject(err) : resolve()) });
      if (!this.flushing) void this.flush();
    });
  }

  /**
   * Writes queued events in order and fsyncs once per batch. Lines are chained only when written,
   * and the chain moves on only after the fsync: a failed write (disk full) is cut off again, so
   * the file never holds a torn line or a gap the next line would chain over.
   */
  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      let prev = this.prev;
      let seq = this.seq;
      const lines = batch.map(({ event, ts }) => {
        const { type, ...fields } = event;
        seq += 1;
        const line = JSON.stringify({ seq, ts: new Date(ts).toISOString(), type, ...fields, prev });
        prev = sha256Hex(line);
        return line + '\n';
      });
      const text = lines.join('');
      try {
        await this.fh.write(text);
        await this.fh.datasync();
        this.prev = prev;
        this.seq = seq;
        this.size += Buffer.byteLength(text);
        for (const b of batch) b.done();
      } catch (err) {
        await this.fh.truncate(this.size).catch(() => undefined);
        const e = new BastionError('AUDIT_IO', `cannot write audit log: ${describeError(err)}`, { cause: err });
        for (const b of batch) b.done(e);
      }
    }
    this.flushing = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.fh.close();
  }
}

async function readTail(fh: FileHandle): Promise<{ lastLine?: string; tornBytes: number; size: number }> {
  const { size } = await fh.stat();
  if (size === 0) return { tornBytes: 0, size };
  // Lines are small; 1 MiB of tail always holds the last complete one.
  const len = Math.min(size, 1 << 20);
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, size - len);
  const text = buf.toString('utf8');
  const lastNl = text.lastIndexOf('\n');
  const tornBytes = Buffer.byteLength(text.slice(lastNl + 1));
  if (lastNl < 0) return { tornBytes, size };
  const before = text.lastIndexOf('\n', lastNl - 1);
  return { lastLine: text.slice(before + 1, lastNl), tornBytes, size };
}
