import { isAscii } from 'node:buffer';
import { escapeJsonInto, nativeEscapeAvailable } from './json-escape.js';

const QUOTE_BRACKET_NL = Buffer.from('"]\n');
const INITIAL = 64 * 1024;
const MAX_SPARE = 8 * 1024 * 1024;

/**
 * Encoded asciicast lines as bytes, appended in place: what the recorder has encoded and not yet
 * written (no array of strings to join and re-encode). Output that is whole, valid UTF-8, nearly
 * all terminal output, is escaped straight from its bytes (the native escaper; without it, plain
 * ASCII only): no decode to a string and encode back.
 */
export class EventBytes {
  private buf = Buffer.allocUnsafe(INITIAL);
  private spare: Buffer<ArrayBuffer> | undefined;
  private len = 0;

  get length(): number {
    return this.len;
  }

  /** Appends text (a header, a line made by encodeEvent) as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /**
   * Appends the event line `[t, "code", data]` for `data` taken as whole UTF-8 text, the same
   * bytes as encodeEvent of its decoded text; false (nothing appended) when it is not whole, valid
   * UTF-8, or is not ASCII and there is no native escaper: the caller decodes it as a stream.
   */
  event(t: number, code: string, data: Buffer): boolean {
    if (!nativeEscapeAvailable) {
      if (!isAscii(data)) return false;
      const line = `[${t.toFixed(6)}, "${code}", ${JSON.stringify(data.toString('latin1'))}]\n`;
      this.room(line.length);
      this.len += this.buf.write(line, this.len, 'latin1');
      return true;
    }
    this.room(32 + code.length + data.length * 6);
    const open = this.len + this.buf.write(`[${t.toFixed(6)}, "${code}", "`, this.len, 'latin1');
    const end = escapeJsonInto(data, this.buf, open);
    if (end === undefined) return false;
    this.len = end + QUOTE_BRACKET_NL.copy(this.buf, end);
    return true;
  }

  /** Hands over what was appended, and starts empty (in the buffer given back by `reuse`, if any). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = this.spare ?? Buffer.allocUnsafe(Math.max(INITIAL, Math.min(this.buf.length, 1024 * 1024)));
    this.spare = undefined;
    this.len = 0;
    return out;
  }

  /**
   * What `take` handed out has been written: its buffer is used again. (Bulk output would
   * otherwise take fresh memory for every write, and the kernel a page fault for every 4 KB of it.)
   */
  reuse(taken: Buffer): void {
    if (this.spare === undefined && taken.byteOffset === 0 && taken.buffer.byteLength <= MAX_SPARE) this.spare = Buffer.from(taken.buffer as ArrayBuffer);
  }

  /** Quiet: lets go of what bulk output grew. */
  trim(): void {
    this.spare = undefined;
    if (this.len === 0 && this.buf.length > INITIAL) this.buf = Buffer.allocUnsafe(INITIAL);
  }

  clear(): void {
    this.len = 0;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}
