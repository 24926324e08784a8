import xterm from '@xterm/headless';
import serialize from '@xterm/addon-serialize';
import type { IBufferCell } from '@xterm/headless';

// CommonJS packages: default imports (named ones type-check but fail under plain node).
const { Terminal } = xterm;
const { SerializeAddon } = serialize;
type XTerm = InstanceType<typeof Terminal>;

/** A screen frozen at one moment: enough to rebuild an identical terminal and carry on feeding it. */
export interface Snapshot {
  readonly cols: number;
  readonly rows: number;
  /** Escape sequences that redraw the screen and restore its modes, cursor and scroll region. */
  readonly data: string;
}

/** Internal state the serialize addon does not carry (scroll region, charset). Read defensively. */
interface CoreInternals {
  buffer?: { scrollTop?: number; scrollBottom?: number; x?: number; y?: number };
  coreService?: { decPrivateModes?: { origin?: boolean }; isCursorHidden?: boolean };
  _charsetService?: { charset?: unknown };
}

/**
 * A headless terminal emulator (xterm.js) that output is fed into: the screen a user saw at any
 * moment, for the player, seek keyframes and (later) live viewers joining mid-session.
 */
export class Screen {
  private readonly term: XTerm;
  private readonly serializer = new SerializeAddon();

  constructor(cols: number, rows: number, scrollback = 0) {
    this.term = new Terminal({ cols: clampSize(cols), rows: clampSize(rows), scrollback, allowProposedApi: true });
    this.term.loadAddon(this.serializer as never);
  }

  /** Rebuilds a screen from a snapshot. */
  static async restore(s: Snapshot): Promise<Screen> {
    const screen = new Screen(s.cols, s.rows);
    await screen.write(s.data);
    return screen;
  }

  get cols(): number {
    return this.term.cols;
  }
  get rows(): number {
    return this.term.rows;
  }

  /** Feeds output; resolves once it has been parsed (writes are processed in order). */
  write(data: string): Promise<void> {
    return new Promise((resolve) => this.term.write(data, resolve));
  }

  /** Queues output without waiting; `flush()` resolves when everything queued so far is parsed. */
  feed(data: string): void {
    this.term.write(data);
  }
  flush(): Promise<void> {
    return this.write('');
  }
  /** Runs `fn` once everything queued so far is parsed and before anything queued later is. */
  after(fn: () => void): void {
    this.term.write('', fn);
  }
  /** A resize in order with queued output (a plain `resize` would overtake it). */
  feedResize(cols: number, rows: number): void {
    this.after(() => this.resize(cols, rows));
  }

  /** Back to a blank terminal of this size (nothing may be queued). */
  reset(cols: number, rows: number): void {
    this.term.reset();
    this.resize(cols, rows);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(clampSize(cols), clampSize(rows));
  }

  snapshot(): Snapshot {
    const core = (this.term as unknown as { _core?: CoreInternals })._core ?? {};
    let data = this.serializer.serialize({ scrollback: 0 });
    const buffer = core.buffer;
    const top = buffer?.scrollTop ?? 0;
    const bottom = buffer?.scrollBottom ?? this.rows - 1;
    if (top !== 0 || bottom !== this.rows - 1) {
      // DECSTBM homes the cursor: put it back where it was (relative to the region in origin mode).
      const origin = core.coreService?.decPrivateModes?.origin === true;
      const y = (buffer?.y ?? 0) - (origin ? top : 0);
      data += `\x1b[${top + 1};${bottom + 1}r\x1b[${y + 1};${(buffer?.x ?? 0) + 1}H`;
    }
    if (core._charsetService?.charset) data += '\x1b(0';
    return { cols: this.cols, rows: this.rows, data };
  }

  /** The visible screen as plain text, one string per row, trailing spaces trimmed. */
  text(): string[] {
    const b = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.rows; y++) lines.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? '');
    return lines;
  }

  cursor(): { x: number; y: number; visible: boolean } {
    const b = this.term.buffer.active;
    const core = (this.term as unknown as { _core?: CoreInternals })._core;
    return { x: b.cursorX, y: b.cursorY, visible: core?.coreService?.isCursorHidden !== true };
  }

  /**
   * The visible screen with colours and attributes as SGR sequences (256 colours; true colour is
   * mapped to the nearest), one string per row: `height` rows from row `top`, `width` columns.
   * The cursor is drawn inverted.
   */
  styledLines(o: { width?: number; height?: number; top?: number; cursor?: boolean } = {}): string[] {
    const width = Math.min(o.width ?? this.cols, this.cols);
    const top = Math.max(0, o.top ?? 0);
    const bottom = Math.min(this.rows, top + (o.height ?? this.rows));
    const b = this.term.buffer.active;
    const cur = this.cursor();
    const cell = b.getNullCell();
    const out: string[] = [];
    for (let y = top; y < bottom; y++) {
      const line = b.getLine(b.viewportY + y);
      let s = '';
      let current = '';
      for (let x = 0; x < width; x++) {
        const c = line?.getCell(x, cell);
        if (c && c.getWidth() === 0) continue; // the right half of a wide character
        const atCursor = o.cursor !== false && cur.visible && x === cur.x && y === cur.y;
        const sgr = c ? cellSgr(c, atCursor) : atCursor ? '7' : '';
        if (sgr !== current) {
          s += `\x1b[0${sgr ? `;${sgr}` : ''}m`;
          current = sgr;
        }
        s += c?.getChars() || ' ';
      }
      out.push(current ? `${s}\x1b[0m` : s);
    }
    return out;
  }

  dispose(): void {
    this.term.dispose();
  }
}

function cellSgr(c: IBufferCell, atCursor: boolean): string {
  const parts: string[] = [];
  if (c.isBold()) parts.push('1');
  if (c.isDim()) parts.push('2');
  if (c.isItalic()) parts.push('3');
  if (c.isUnderline()) parts.push('4');
  if (c.isInverse() !== 0 ? !atCursor : atCursor) parts.push('7');
  if (c.isInvisible()) parts.push('8');
  if (c.isStrikethrough()) parts.push('9');
  if (c.isFgPalette()) parts.push(`38;5;${c.getFgColor()}`);
  else if (c.isFgRGB()) parts.push(`38;5;${rgbTo256(c.getFgColor())}`);
  if (c.isBgPalette()) parts.push(`48;5;${c.getBgColor()}`);
  else if (c.isBgRGB()) parts.push(`48;5;${rgbTo256(c.getBgColor())}`);
  return parts.join(';');
}

/** The nearest colour in the 6x6x6 cube of the 256-colour palette. */
function rgbTo256(rgb: number): number {
  const level = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  return 16 + 36 * level((rgb >> 16) & 0xff) + 6 * level((rgb >> 8) & 0xff) + level(rgb & 0xff);
}

/** Sizes a recording may claim are clamped to something a terminal can be. */
function clampSize(n: number): number {
  return Number.isFinite(n) ? Math.max(1, Math.min(1000, Math.floor(n))) : 80;
}
