/**
 * Encoded asciicast lines as bytes, appended in place: what the recorder has encoded and not yet
 * written (no array of strings to join and re-encode). Output that is plain ASCII, most terminal
 * output, skips the UTF-8 decoder and encoder: its bytes are its characters.
 */
export class EventBytes {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  get length(): number {
    return this.len;
  }

  /** Appends text (a header, a line made by encodeEvent) as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /** Appends the event line `[t, "code", data]` for bytes that are all ASCII (`buffer.isAscii`). */
  asciiEvent(t: number, code: string, data: Buffer): void {
    // The same characters as the general path's encodeEvent, so the same bytes.
    const line = `[${t.toFixed(6)}, "${code}", ${JSON.stringify(data.toString('latin1'))}]\n`;
    this.room(line.length);
    this.len += this.buf.write(line, this.len, 'latin1');
  }

  /** Hands over what was appended, and starts empty. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, Math.min(this.buf.length, 1024 * 1024)));
    this.len = 0;
    return out;
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
