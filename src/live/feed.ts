import { ScreenTail, type RebuiltScreen } from './screen-tail.js';
import type { ViewerRole } from './tokens.js';

/** What the hub needs from a watcher's connection (a websocket, or a fake in tests). */
export interface ViewerPort {
  readonly name: string;
  readonly role: ViewerRole;
  /** Bytes handed to the connection and not yet written to the network. */
  buffered(): number;
  sendOutput(chunk: Buffer): void;
  sendJson(message: object): void;
  close(code: number, reason: string): void;
}

/** A session as viewers see it. */
export interface SessionSummary {
  readonly id: string;
  readonly user: string;
  readonly target: string;
  readonly ticket: string;
  readonly reason: string;
  readonly break_glass: boolean;
  /** A fire drill (`bastion drill`), not a real emergency. */
  readonly drill?: boolean;
  readonly via: string;
  readonly source_ip: string;
  readonly started_at: string;
}

/** A viewer with this much unsent is behind: it stops getting output until it catches up. */
export const VIEWER_HIGH_WATER = 1024 * 1024;
/** ...and gets a fresh screen once it is down to this. */
export const VIEWER_LOW_WATER = 64 * 1024;
const RESYNC_CHECK_MS = 50;
/** While output streams, it is gathered for at most this long into one frame per viewer. */
const FLUSH_MS = 1;
const FLUSH_BYTES = 256 * 1024;
/**
 * Each viewer gets output at up to this rate (with a burst of VIEWER_BURST; about 3,000 lines a
 * second): far more than anyone can read. Beyond it (a `cat` of a large file) the viewer gets the
 * screen as it is, every FLOOD_SCREEN_MS, instead of every byte: the recording keeps every byte,
 * and ten viewers of a flood no longer cost the session a third of its throughput.
 */
export const VIEWER_RATE = 256 * 1024;
export const VIEWER_BURST = 256 * 1024;
const FLOOD_SCREEN_MS = 500;

interface ViewerState {
  readonly port: ViewerPort;
  /** 'live' gets every frame; 'syncing' queues them until its screen is sent; 'behind' gets nothing. */
  state: 'live' | 'syncing' | 'behind';
  queue: (Buffer | object)[];
  queued: number;
  /** The `hello` frame still to be sent (until its first screen goes out). */
  hello?: object;
  /** Counts screen syncs: a sync overtaken by a newer one drops its result. */
  sync: number;
  /** Output budget in bytes (a token bucket refilled at VIEWER_RATE), and when it was last refilled. */
  budget: number;
  refilledAt: number;
  /** Why it is behind: its connection is slow, or the output is faster than it can follow. */
  cause?: 'slow' | 'flood';
  screenAt: number;
}

/**
 * One live session's fan-out: output, typed input (redacted like recordings), resizes and markers
 * go to every viewer as they happen; a viewer joining late, or one that fell behind, first gets
 * the current screen, rebuilt from the last output. Nothing here ever waits for a viewer: a slow
 * one is cut off from output and resynchronised when it drains.
 */
export class LiveFeed {
  private readonly viewers = new Set<ViewerState>();
  private readonly tail: ScreenTail;
  private hiddenBytes = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Output waiting for the next flush (FLUSH_MS), sent as one frame to each viewer. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private flushedAt = 0;

  constructor(
    readonly summary: SessionSummary,
    private cols: number,
    private rows: number,
  ) {
    this.tail = new ScreenTail(cols, rows);
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.cols, rows: this.rows };
  }

  viewerNames(): string[] {
    return [...this.viewers].map((v) => v.port.name);
  }

  output(chunk: Buffer): void {
    this.tail.output(chunk);
    if (this.viewers.size === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Interactive output (a keystroke's echo after a quiet spell) goes at once; a stream is gathered.
      const quiet = performance.now() - this.flushedAt > 4 * FLUSH_MS;
      if (quiet) setImmediate(() => this.flush());
      else setTimeout(() => this.flush(), FLUSH_MS);
    }
  }

  /** Sends the output gathered since the last flush, as one frame, to every viewer. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    this.flushedAt = performance.now();
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    for (const v of this.viewers) {
      if (v.state === 'live') {
        refill(v);
        if (v.port.buffered() > VIEWER_HIGH_WATER) this.fallBehind(v, 'slow');
        else if (v.budget < data.length) this.fallBehind(v, 'flood');
        else {
          v.budget -= data.length;
          v.port.sendOutput(data);
        }
      } else if (v.state === 'syncing') this.enqueue(v, data);
    }
  }

  /** Typed input; while the terminal hides it, only its length per line (as in recordings). */
  input(chunk: Buffer, hidden: boolean): void {
    if (!hidden) {
      this.endHidden();
      this.broadcast({ type: 'input', data: chunk.toString('utf8') });
      return;
    }
    this.hiddenBytes += chunk.length;
    if (chunk.includes(0x0d) || chunk.includes(0x0a)) this.endHidden();
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    this.flush(); // output written at the old size goes first, in the tail as to viewers
    this.tail.resize(cols, rows);
    this.broadcast({ type: 'resize', cols, rows });
  }

  marker(label: string): void {
    this.broadcast({ type: 'marker', label });
  }

  /** Adds a viewer: it gets `hello` with the current screen, then every frame. */
  join(port: ViewerPort, extra: object): void {
    this.flush();
    const v: ViewerState = { port, state: 'syncing', queue: [], queued: 0, hello: { type: 'hello', session: this.summary, ...extra }, sync: 0, budget: VIEWER_BURST, refilledAt: Date.now(), screenAt: 0 };
    this.viewers.add(v);
    void this.sendScreen(v);
    this.broadcast({ type: 'viewers', viewers: this.viewerNames() });
  }

  leave(port: ViewerPort): boolean {
    for (const v of this.viewers) {
      if (v.port !== port) continue;
      this.viewers.delete(v);
      this.broadcast({ type: 'viewers', viewers: this.viewerNames() });
      return true;
    }
    return false;
  }

  /** The session is over: every viewer gets the end frame and is closed normally. */
  end(info: { exit_code: number | null; signal: string | null; reason: string }): void {
    if (this.ended) return;
    this.endHidden();
    this.flush();
    this.ended = true;
    const frame = { type: 'end', ...info };
    for (const v of this.viewers) {
      // A viewer still getting its screen gets the end after it (sendScreen closes it then).
      if (v.state === 'syncing') v.queue.push(frame);
      else {
        v.port.sendJson(frame);
        v.port.close(1000, 'session ended');
      }
    }
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  private broadcast(frame: object): void {
    this.flush(); // output that came before this frame goes first
    for (const v of this.viewers) {
      if (v.state === 'live') v.port.sendJson(frame);
      else if (v.state === 'syncing') this.enqueue(v, frame);
    }
  }

  private enqueue(v: ViewerState, item: Buffer | object): void {
    v.queue.push(item);
    v.queued += Buffer.isBuffer(item) ? item.length : 64;
    if (v.queued > VIEWER_HIGH_WATER) this.fallBehind(v, 'slow');
  }

  private fallBehind(v: ViewerState, cause: 'slow' | 'flood'): void {
    v.state = 'behind';
    v.cause = cause;
    v.queue = [];
    v.queued = 0;
    this.resyncTimer ??= setInterval(() => this.resync(), RESYNC_CHECK_MS);
  }

  private resync(): void {
    let behind = 0;
    const now = Date.now();
    // Viewers following a flood get their screens together, so that one rebuild serves them all.
    const floodDue = [...this.viewers].some((v) => v.state === 'behind' && v.cause === 'flood' && now - v.screenAt >= FLOOD_SCREEN_MS);
    for (const v of this.viewers) {
      if (v.state !== 'behind') continue;
      refill(v, now);
      const ready = v.port.buffered() <= VIEWER_LOW_WATER && (v.cause !== 'flood' || floodDue);
      if (ready) void this.sendScreen(v);
      else behind++;
    }
    if (behind === 0 && this.resyncTimer) {
      clearInterval(this.resyncTimer);
      this.resyncTimer = undefined;
    }
  }

  /**
   * Sends the screen (in `hello` the first time, else a `screen` frame), then what arrived while it
   * was being built, then goes live.
   */
  private async sendScreen(v: ViewerState): Promise<void> {
    this.flush(); // the screen is built from the tail as it is now: only later output may follow it
    v.state = 'syncing';
    v.queue = [];
    v.queued = 0;
    const sync = ++v.sync;
    const screen: RebuiltScreen = await this.tail.screen();
    if (!this.viewers.has(v) || v.state !== 'syncing' || v.sync !== sync) return; // left, fell behind again, or overtaken
    const reason = v.cause === 'flood' ? 'output too fast to follow byte by byte; this is the screen now' : 'you fell behind; this is the screen now';
    v.port.sendJson(v.hello ? { ...v.hello, ...screen } : { type: 'screen', reason, ...screen });
    v.hello = undefined;
    v.screenAt = Date.now();
    for (const item of v.queue) {
      if (Buffer.isBuffer(item)) v.port.sendOutput(item);
      else v.port.sendJson(item);
    }
    v.queue = [];
    v.queued = 0;
    v.state = 'live';
    if (this.ended) v.port.close(1000, 'session ended');
  }

  private endHidden(): void {
    if (this.hiddenBytes === 0) return;
    this.broadcast({ type: 'input', redacted: this.hiddenBytes });
    this.hiddenBytes = 0;
  }
}

/** Tops up a viewer's output budget for the time since it was last topped up. */
function refill(v: ViewerState, now = Date.now()): void {
  v.budget = Math.min(VIEWER_BURST, v.budget + ((now - v.refilledAt) / 1000) * VIEWER_RATE);
  v.refilledAt = now;
}
