import type { SessionMetadata } from '../src/recording/asciicast.js';
import { BastionError } from '../src/errors.js';

/** Event kinds, stored as one byte each. */
export const Code = { output: 0, input: 1, resize: 2, marker: 3, exit: 4, other: 5 } as const;
export type CodeValue = (typeof Code)[keyof typeof Code];
const CODES: Record<string, CodeValue> = { o: Code.output, i: Code.input, r: Code.resize, m: Code.marker, x: Code.exit };
/** Set on events that happened while a full-screen program had the alternate screen up. */
const ALT_SCREEN = 0x80;
const ALT_SWITCH = /\x1b\[\?(?:1049|1047|47)([hl])/g;

/** Whether output leaves the alternate screen on (h) or off (l); unchanged when it does not switch. */
function altScreenAfter(data: string, before: boolean): boolean {
  if (!data.includes('\x1b[?')) return before;
  let state = before;
  for (const m of data.matchAll(ALT_SWITCH)) state = m[1] === 'h';
  return state;
}

export interface RecordingHeader {
  readonly version: 2 | 3;
  readonly cols: number;
  readonly rows: number;
  /** Start time, seconds since the epoch, when the recording says. */
  readonly timestamp?: number;
  readonly title?: string;
  readonly term?: string;
  readonly shell?: string;
  /** This bastion's session metadata, when the recording comes from it. */
  readonly bastion?: Partial<SessionMetadata>;
  /** The header line as written, for the metadata panel. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A single line longer than this is skipped (with a warning) rather than parsed. */
export const DEFAULT_MAX_LINE = 64 * 1024 * 1024;
const MAX_DETAILED_WARNINGS = 5;

/**
 * Every event of a recording, column-wise: times and kinds in typed arrays, the data left in the
 * bytes it was read from and decoded on demand. A 100 MB recording with a million events costs a
 * few megabytes of index on top of its bytes, instead of a million objects.
 */
export class EventTable {
  count = 0;
  private times = new Float64Array(1024);
  private codes = new Uint8Array(1024);
  private segs = new Uint32Array(1024);
  private starts = new Uint32Array(1024);
  private ends = new Uint32Array(1024);
  private readonly segments: Buffer[] = [];

  time(i: number): number {
    return this.times[i]!;
  }
  code(i: number): CodeValue {
    return (this.codes[i]! & ~ALT_SCREEN) as CodeValue;
  }
  /** True when a full-screen program (vim, less, top) had the alternate screen up at event `i`. */
  inAltScreen(i: number): boolean {
    return (this.codes[i]! & ALT_SCREEN) !== 0;
  }
  /** The event's data string (output text, typed keys, "COLSxROWS", marker label). */
  data(i: number): string {
    const line = this.segments[this.segs[i]!]!.toString('utf8', this.starts[i]!, this.ends[i]!);
    return (JSON.parse(line) as [number, string, unknown])[2] as string;
  }
  /** @internal */ addSegment(b: Buffer): number {
    this.segments.push(b);
    return this.segments.length - 1;
  }
  /** @internal */ push(t: number, code: number, seg: number, start: number, end: number): number {
    if (this.count === this.times.length) this.grow();
    const i = this.count++;
    this.times[i] = t;
    this.codes[i] = code;
    this.segs[i] = seg;
    this.starts[i] = start;
    this.ends[i] = end;
    return i;
  }
  private grow(): void {
    const n = this.times.length * 2;
    const grow = <T extends Float64Array | Uint8Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.times = grow(this.times, (k) => new Float64Array(k));
    this.codes = grow(this.codes, (k) => new Uint8Array(k));
    this.segs = grow(this.segs, (k) => new Uint32Array(k));
    this.starts = grow(this.starts, (k) => new Uint32Array(k));
    this.ends = grow(this.ends, (k) => new Uint32Array(k));
  }
}

export interface LoadedRecording {
  readonly header: RecordingHeader;
  readonly events: EventTable;
  /** Seconds from the start to the last event. */
  readonly duration: number;
  /** What was skipped or looked wrong, for the user: the rest still plays. */
  readonly warnings: readonly string[];
  /** Decompressed bytes read. */
  readonly bytes: number;
}

export interface ReadOptions {
  readonly maxLine?: number;
  readonly onHeader?: (h: RecordingHeader) => void;
  /** Called for every event as it is read, with its decoded data (the seek index is built this way, in the same pass). */
  readonly onEvent?: (i: number, t: number, code: CodeValue, data: string) => void;
  /** Awaited after each piece of input: lets the consumer of `onEvent` catch up (backpressure). */
  readonly onPiece?: () => Promise<void>;
}

/**
 * Reads asciicast v2 (and v3) from pieces of bytes. The header must be valid; after it, lines that
 * are not events are skipped with a warning, so a damaged recording still plays what is intact.
 */
export async function readRecording(input: AsyncIterable<Buffer>, opts: ReadOptions = {}): Promise<LoadedRecording> {
  const maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  const events = new EventTable();
  const warnings: string[] = [];
  let skipped = 0;
  let lastSkipReason = '';
  const skip = (lineNo: number, why: string) => {
    skipped++;
    lastSkipReason = why;
    if (skipped <= MAX_DETAILED_WARNINGS) warnings.push(`line ${lineNo}: ${why}; skipped`);
  };

  let header: RecordingHeader | undefined;
  let lineNo = 0;
  let bytes = 0;
  let lastT = 0;
  let alt = false;
  let carry: Buffer[] = [];
  let carryLen = 0;
  let overlong = -1; // while dropping a line that is over the limit: its length so far
  const overlongDone = () => {
    skip(lineNo, `${formatBytes(overlong)} long, over the ${formatBytes(maxLine)} line limit`);
    overlong = -1;
  };

  const handleLine = (seg: Buffer, segIndex: () => number, start: number, end: number) => {
    lineNo++;
    if (end > start && seg[end - 1] === 13) end--; // CRLF
    if (end === start) return;
    const text = seg.toString('utf8', start, end);
    if (!header) {
      header = parseHeader(text);
      opts.onHeader?.(header);
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return skip(lineNo, 'not JSON');
    }
    if (!Array.isArray(v) || v.length < 3 || typeof v[0] !== 'number' || !Number.isFinite(v[0]) || typeof v[1] !== 'string' || typeof v[2] !== 'string') {
      return skip(lineNo, 'not a [time, code, data] event');
    }
    // v3 stores the interval since the previous event; v2 the time since the start. Time never runs backwards.
    const t = Math.max(lastT, header.version === 3 ? lastT + Math.max(0, v[0]) : v[0]);
    lastT = t;
    const code = CODES[v[1]] ?? Code.other;
    const i = events.push(t, code | (alt ? ALT_SCREEN : 0), segIndex(), start, end);
    if (code === Code.output) alt = altScreenAfter(v[2], alt);
    opts.onEvent?.(i, t, code, v[2]);
  };

  for await (const piece of input) {
    bytes += piece.length;
    // A piece is kept only when an event points into it (a skipped 1 GB line is not retained).
    let segIndex = -1;
    const seg = () => (segIndex === -1 ? (segIndex = events.addSegment(piece)) : segIndex);
    let pos = 0;
    while (pos < piece.length) {
      const nl = piece.indexOf(10, pos);
      const stop = nl === -1 ? piece.length : nl;
      if (overlong >= 0) {
        overlong += stop - pos;
        if (nl !== -1) overlongDone();
      } else if (carryLen + (stop - pos) > maxLine) {
        lineNo++;
        if (!header) throw new BastionError('BAD_RECORDING', `the first line is over ${formatBytes(maxLine)} long: this is not an asciicast recording`);
        overlong = carryLen + (stop - pos);
        carry = [];
        carryLen = 0;
        if (nl !== -1) overlongDone();
      } else if (nl === -1) {
        carry.push(piece.subarray(pos));
        carryLen += piece.length - pos;
      } else if (carryLen > 0) {
        // A line split across pieces becomes a segment of its own.
        const joined = Buffer.concat([...carry, piece.subarray(pos, nl)]);
        carry = [];
        carryLen = 0;
        handleLine(joined, () => events.addSegment(joined), 0, joined.length);
      } else {
        handleLine(piece, seg, pos, nl);
      }
      pos = stop + 1;
    }
    await opts.onPiece?.();
  }
  if (overlong >= 0) overlongDone();
  if (carryLen > 0) {
    const rest = Buffer.concat(carry);
    const before = events.count;
    const skippedBefore = skipped;
    handleLine(rest, () => events.addSegment(rest), 0, rest.length);
    if (events.count === before && skipped > skippedBefore && lastSkipReason === 'not JSON') {
      // A last line without its newline that does not parse: the file was cut off mid-write.
      if (skipped-- <= MAX_DETAILED_WARNINGS) warnings.pop();
      warnings.push(`the last line (line ${lineNo}) is cut off: the recording ends early or was truncated`);
    }
  }
  if (!header) throw new BastionError('BAD_RECORDING', bytes === 0 ? 'the recording is empty' : 'the recording has no header line');
  if (skipped > MAX_DETAILED_WARNINGS) warnings.push(`…and ${skipped - MAX_DETAILED_WARNINGS} more lines skipped`);
  const duration = events.count > 0 ? events.time(events.count - 1) : 0;
  return { header, events, duration, warnings, bytes };
}

function parseHeader(text: string): RecordingHeader {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new BastionError('BAD_RECORDING', 'the first line is not JSON: this is not an asciicast recording');
  }
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new BastionError('BAD_RECORDING', 'the first line is not an asciicast header');
  const version = h.version;
  if (version !== 2 && version !== 3) {
    const v = typeof version === 'number' || typeof version === 'string' ? String(version) : 'none';
    throw new BastionError('BAD_RECORDING', `asciicast version ${v} is not supported (this player reads versions 2 and 3)`);
  }
  const term = (version === 3 ? h.term : undefined) as Record<string, unknown> | undefined;
  const env = (h.env ?? {}) as Record<string, unknown>;
  const cols = Number(version === 3 ? term?.cols : h.width);
  const rows = Number(version === 3 ? term?.rows : h.height);
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) {
    throw new BastionError('BAD_RECORDING', 'the header has no valid terminal size');
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const bastion = h.bastion && typeof h.bastion === 'object' ? (h.bastion as Partial<SessionMetadata>) : undefined;
  return {
    version,
    cols: Math.min(cols, 1000),
    rows: Math.min(rows, 1000),
    ...(typeof h.timestamp === 'number' ? { timestamp: h.timestamp } : {}),
    ...(str(h.title) !== undefined ? { title: str(h.title) } : {}),
    ...(str(term?.type ?? env.TERM) !== undefined ? { term: str(term?.type ?? env.TERM) } : {}),
    ...(str(env.SHELL) !== undefined ? { shell: str(env.SHELL) } : {}),
    ...(bastion ? { bastion } : {}),
    raw: h,
  };
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
