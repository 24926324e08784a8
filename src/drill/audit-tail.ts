import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

export interface AuditLine {
  readonly ts: string;
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * Reads the lines the bastion appends to its audit log from the moment the tail is made: what a
 * drill needs to see, without reading a long log again at every poll.
 */
export class AuditTail {
  private offset: number;
  private partial = '';
  private readonly seen: AuditLine[] = [];

  constructor(private readonly path: string) {
    try {
      this.offset = statSync(path).size;
    } catch {
      this.offset = 0; // no log yet: everything in it will be new
    }
  }

  /** Every line appended since the tail was made, read up to now. */
  lines(): readonly AuditLine[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return this.seen;
    }
    try {
      const size = fstatSync(fd).size;
      if (size > this.offset) {
        const buf = Buffer.alloc(size - this.offset);
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        const text = this.partial + buf.subarray(0, n).toString('utf8');
        const parts = text.split('\n');
        this.partial = parts.pop() ?? '';
        for (const p of parts) {
          try {
            this.seen.push(JSON.parse(p) as AuditLine);
          } catch {
            // a damaged line: the audit chain control reports it
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return this.seen;
  }

  /** Polls until `pick` finds something in the new lines, or the time is up (undefined). */
  async waitFor<T>(pick: (lines: readonly AuditLine[]) => T | undefined, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = pick(this.lines());
      if (found !== undefined || Date.now() >= deadline) return found;
      await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
    }
  }
}
