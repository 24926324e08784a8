import { isAscii } from 'node:buffer';
import { escapeJsonInto, nativeEscapeAvailable } from './json-escape.js';

/** Encoded lines live in slabs of this size, taken from and given back to one pool per thread. */
export const SLAB_BYTES = 256 * 1024;
/** Slabs the pool keeps for the next write (the rest go to the garbage collector). */
const POOL_SLABS = 32;
/** An event whose data would get less than this much room in a slab's rest starts the next slab. */
const MIN_PIECE = 512;

/**
 * Slabs written and given back, ready for the next events: bulk output goes through the same
 * few megabytes again instead of fresh memory (a page fault every 4 KB: six times the output's
 * size for a NUL-heavy stream, whose every byte is six in asciicast).
 */
const pool: Buffer[] = [];
const slab = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
function giveBack(b: Buffer): void {
  if (pool.length < POOL_SLABS && b.byteOffset === 0 && b.buffer.byteLength === SLAB_BYTES) pool.push(Buffer.from(b.buffer as ArrayBuffer));
}

/** Slabs in the pool now (for tests). */
export const pooledSlabs = (): number => pool.length;

/**
 * Encoded asciicast lines as bytes: what the recorder has encoded and not yet written, appended in
 * place into slabs (no array of strings to join and re-encode, no buffer grown by copying). Output
 * that is whole, valid UTF-8, nearly all terminal output, is escaped straight from its bytes (the
 * native escaper; without it, plain ASCII only), split across slabs where it does not fit.
 * A recorder with nothing pending holds no slab.
 */
export class EventBytes {
  private readonly slabs: Buffer[] = [];
  /** Bytes used of each slab. */
  private readonly fills: number[] = [];
  private len = 0;

  get length(): number {
    return this.len;
  }

  /** Appends text (a header, a line made by encodeEvent) as UTF-8. */
  text(s: string): void {
    if (s.length === 0) return;
    if (this.slabs.length === 0) this.addSlab();
    if (s.length * 3 <= this.roomInLast()) {
      this.advance(this.last().write(s, this.lastFill(), 'utf8'));
      return;
    }
    const bytes = Buffer.from(s, 'utf8');
    for (let i = 0; i < bytes.length; ) {
      if (this.roomInLast() === 0) this.addSlab();
      const n = bytes.copy(this.last(), this.lastFill(), i);
      this.advance(n);
      i += n;
    }
  }

  /**
   * Appends the event line `[t, "code", data]` for `data` taken as whole UTF-8 text, the same
   * bytes as encodeEvent of its decoded text; false (nothing appended) when it is not whole, valid
   * UTF-8, or is not ASCII and there is no native escaper: the caller decodes it as a stream.
   */
  event(t: number, code: string, data: Buffer): boolean {
    if (!nativeEscapeAvailable) {
      if (!isAscii(data)) return false;
      this.text(`[${t.toFixed(6)}, "${code}", ${JSON.stringify(data.toString('latin1'))}]\n`);
      return true;
    }
    const mark = { slabs: this.slabs.length, fill: this.lastFill(), len: this.len };
    this.text(`[${t.toFixed(6)}, "${code}", "`);
    for (let i = 0; i < data.length; ) {
      // A piece of the data whose worst case (6 bytes a byte) fits this slab's rest, cut before
      // a character's first byte: the pieces' escapes, one after the other, are the whole's.
      let n = Math.min(data.length - i, Math.floor(this.roomInLast() / 6));
      if (n < data.length - i && n < MIN_PIECE) {
        this.addSlab();
        continue;
      }
      let end = i + n;
      for (let k = 0; k < 3 && end < data.length && end > i && (data[end]! & 0xc0) === 0x80; k++) end--;
      const at = escapeJsonInto(data.subarray(i, end), this.last(), this.lastFill());
      if (at === undefined || end === i) {
        this.rollBack(mark);
        return false;
      }
      this.advance(at - this.lastFill());
      i = end;
    }
    this.text('"]\n');
    return true;
  }

  /**
   * Hands over what was appended, in order, and starts empty; give the buffers to `reuse` once
   * written, and their slabs serve the next events.
   */
  take(): Buffer[] {
    const out = this.slabs.map((s, k) => s.subarray(0, this.fills[k]));
    this.slabs.length = 0;
    this.fills.length = 0;
    this.len = 0;
    return out;
  }

  /** What `take` handed out has been written (or is dropped): its slabs go back to the pool. */
  reuse(taken: readonly Buffer[]): void {
    for (const b of taken) giveBack(b);
  }

  clear(): void {
    this.reuse(this.take());
  }

  private last(): Buffer {
    return this.slabs[this.slabs.length - 1]!;
  }

  private lastFill(): number {
    return this.fills[this.fills.length - 1] ?? 0;
  }

  private roomInLast(): number {
    return this.slabs.length === 0 ? 0 : SLAB_BYTES - this.lastFill();
  }

  private addSlab(): void {
    this.slabs.push(slab());
    this.fills.push(0);
  }

  private advance(n: number): void {
    this.fills[this.fills.length - 1] = this.lastFill() + n;
    this.len += n;
  }

  /** Undoes an event half appended: back to how things were at `mark`. */
  private rollBack(mark: { slabs: number; fill: number; len: number }): void {
    while (this.slabs.length > mark.slabs) {
      giveBack(this.slabs.pop()!);
      this.fills.pop();
    }
    if (mark.slabs > 0) this.fills[mark.slabs - 1] = mark.fill;
    this.len = mark.len;
  }
}
