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
  buffer?: { scrollTop?: number; scrollBottom?: number; x?: number; y?: number; savedX?: number; savedY?: number };
  _inputHandler?: { _curAttrData?: IBufferCell };
  coreService?: { decPrivateModes?: { origin?: boolean }; isCursorHidden?: boolean };
  _charsetService?: { charset?: unknown };
}

/**
 * A headless terminal emulator (xterm.js) that output is fed into: the screen a user saw at any
 * moment, for the player, seek keyframes and (later) live viewers joining mid-session.
 */
export class Screen {
  private term: XTerm;
  private serializer = new SerializeAddon();

  constructor(
    cols: number,
    rows: number,
    private readonly scrollback = 0,
  ) {
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
    // A new emulator rather than RIS: some state (cursor visibility) survives xterm's reset().
    this.term.dispose();
    this.term = new Terminal({ cols: clampSize(cols), rows: clampSize(rows), scrollback: this.scrollback, allowProposedApi: true });
    this.serializer = new SerializeAddon();
    this.term.loadAddon(this.serializer as never);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(clampSize(cols), clampSize(rows));
  }

  snapshot(): Snapshot {
    const core = (this.term as unknown as { _core?: CoreInternals })._core ?? {};
    // The addon writes zero-length moves ("ESC[0C") meaning none, which a terminal reads as 1.
    let data = this.serializer.serialize({ scrollback: 0 }).replace(/\x1b\[0[A-D]/g, '');
    const buffer = core.buffer;
    const x = buffer?.x ?? 0;
    const top = buffer?.scrollTop ?? 0;
    const bottom = buffer?.scrollBottom ?? this.rows - 1;
    const origin = core.coreService?.decPrivateModes?.origin === true;
    const goBack = `\x1b[${(buffer?.y ?? 0) - (origin ? top : 0) + 1};${x + 1}H`; // relative to the region in origin mode
    // The saved cursor (DECSC): saved in place, then back (position only; the pen is the current one).
    if ((buffer?.savedX ?? 0) !== 0 || (buffer?.savedY ?? 0) !== 0) {
      data += `\x1b[?6l\x1b[${(buffer?.savedY ?? 0) + 1};${(buffer?.savedX ?? 0) + 1}H\x1b7${origin ? '\x1b[?6h' : ''}${goBack}`;
    }
    // DECSTBM homes the cursor: put it back where it was.
    if (top !== 0 || bottom !== this.rows - 1) data += `\x1b[${top + 1};${bottom + 1}r${goBack}`;
    if (x >= this.cols && (buffer?.y ?? 0) < this.rows) {
      // A full line leaves the cursor past the last column, waiting to wrap; no cursor move can
      // say that, so the last character is written again, then the pen is put back.
      const cell = this.term.buffer.active.getLine(this.term.buffer.active.viewportY + (buffer?.y ?? 0))?.getCell(this.cols - 1);
      const pen = core._inputHandler?._curAttrData;
      if (cell && pen && cell.getWidth() === 1) data += `\x1b[${(buffer?.y ?? 0) - (origin ? top : 0) + 1};${this.cols}H\x1b[0;${sgrOf(cell, true)}m${cell.getChars() || ' '}\x1b[0;${sgrOf(pen, true)}m`;
    }
    if (core._charsetService?.charset) data += '\x1b(0';
    if (core.coreService?.isCursorHidden) data += '\x1b[?25l';
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
  return sgrOf(c, false, atCursor);
}

/** SGR parameters for a cell's attributes; true colour kept (`exact`) or mapped to 256 colours. */
function sgrOf(c: IBufferCell, exact: boolean, atCursor = false): string {
  const parts: string[] = [];
  if (c.isBold()) parts.push('1');
  if (c.isDim()) parts.push('2');
  if (c.isItalic()) parts.push('3');
  if (c.isUnderline()) parts.push('4');
  if (c.isInverse() !== 0 ? !atCursor : atCursor) parts.push('7');
  if (c.isInvisible()) parts.push('8');
  if (c.isStrikethrough()) parts.push('9');
  const rgb = (v: number) => `2;${(v >> 16) & 0xff};${(v >> 8) & 0xff};${v & 0xff}`;
  if (c.isFgPalette()) parts.push(`38;5;${c.getFgColor()}`);
  else if (c.isFgRGB()) parts.push(exact ? `38;${rgb(c.getFgColor())}` : `38;5;${rgbTo256(c.getFgColor())}`);
  if (c.isBgPalette()) parts.push(`48;5;${c.getBgColor()}`);
  else if (c.isBgRGB()) parts.push(exact ? `48;${rgb(c.getBgColor())}` : `48;5;${rgbTo256(c.getBgColor())}`);
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
