import { StringDecoder } from 'node:string_decoder';
import { Screen } from '../recording/screen.js';

/**
 * Output kept for rebuilding a session's current screen; a program redraws its screen in far less.
 * Rebuilding parses this much on the event loop (about 25-50 ms), once per change of the tail.
 */
export const TAIL_BYTES = 512 * 1024;

const PIECE = 16 * 1024;

type Entry = Buffer | { readonly cols: number; readonly rows: number };

export interface RebuiltScreen {
  readonly cols: number;
  readonly rows: number;
  /** Escape sequences that draw it on a fresh terminal of that size. */
  readonly screen: string;
}

/**
 * The last output of a session, with the resizes among it, so that the screen a viewer joins to
 * is the one the user sees. Viewers joining or resynchronising at the same moment share one rebuild.
 */
export class ScreenTail {
  private entries: Entry[] = [];
  private bytes = 0;
  /** The terminal size where the kept output starts. */
  private start: { cols: number; rows: number };
  private version = 0;
  private cached: { version: number; screen: Promise<RebuiltScreen> } | undefined;

  constructor(cols: number, rows: number) {
    this.start = { cols, rows };
  }

  output(chunk: Buffer): void {
    this.entries.push(chunk);
    this.bytes += chunk.length;
    this.version++;
    while (this.entries.length > 1 && this.bytes - sizeOf(this.entries[0]!) >= TAIL_BYTES) {
      const dropped = this.entries.shift()!;
      if (Buffer.isBuffer(dropped)) this.bytes -= dropped.length;
      else this.start = dropped;
    }
  }

  resize(cols: number, rows: number): void {
    this.entries.push({ cols, rows });
    this.version++;
  }

  /** The screen now (taken synchronously: only output after this call may follow it). */
  screen(): Promise<RebuiltScreen> {
    if (this.cached?.version !== this.version) this.cached = { version: this.version, screen: rebuild(this.start, [...this.entries]) };
    return this.cached.screen;
  }
}

const sizeOf = (e: Entry) => (Buffer.isBuffer(e) ? e.length : 0);

async function rebuild(start: { cols: number; rows: number }, entries: readonly Entry[]): Promise<RebuiltScreen> {
  const s = new Screen(start.cols, start.rows);
  const utf8 = new StringDecoder('utf8');
  try {
    // The kept output starts wherever the cut fell: attributes reset, so a colour set before it does not leak.
    s.feed('\x1b[0m');
    for (const e of entries) {
      if (!Buffer.isBuffer(e)) s.feedResize(e.cols, e.rows);
      // In small pieces: the emulator yields to the event loop between pieces, never mid-piece.
      else for (let i = 0; i < e.length; i += PIECE) s.feed(utf8.write(e.subarray(i, i + PIECE)));
    }
    await s.flush();
    const snap = s.snapshot();
    return { cols: snap.cols, rows: snap.rows, screen: snap.data };
  } finally {
    s.dispose();
  }
}
