import { Screen, type Snapshot } from '../src/recording/screen.js';
import { Code, type CodeValue, type EventTable } from './reader.js';

/** The screen as it was right after event `index` (-1: before any event). */
export interface Keyframe {
  readonly index: number;
  readonly snapshot: Snapshot;
}

/** A keyframe at least every this much output, so a seek replays at most this much (about 5 ms of emulation). */
export const KEYFRAME_BYTES = 256 * 1024;
/** ...or every this many events, since decoding events costs too. */
export const KEYFRAME_EVENTS = 4000;

/** Keyframes in event order: seeking restores the nearest one before the target and replays the rest. */
export class SeekIndex {
  constructor(readonly keyframes: readonly Keyframe[]) {}

  /** The last keyframe at or before event `index`. */
  nearest(index: number): Keyframe {
    const k = this.keyframes;
    let lo = 0;
    let hi = k.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (k[mid]!.index <= index) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return k[found]!;
  }
}

/**
 * Builds the seek index in the same pass that reads the recording: every event is fed to a
 * headless terminal, and a snapshot is taken at event boundaries every KEYFRAME_BYTES of output.
 * Snapshots are taken in the terminal's write callbacks, so each is exact for its event even
 * though parsing runs behind reading.
 */
export class IndexBuilder {
  private readonly screen: Screen;
  private readonly keyframes: Keyframe[] = [];
  private bytes = 0;
  private events = 0;

  constructor(cols: number, rows: number) {
    this.screen = new Screen(cols, rows);
    this.keyframes.push({ index: -1, snapshot: this.screen.snapshot() });
  }

  onEvent(i: number, code: CodeValue, data: string): void {
    if (!applyEvent(this.screen, code, data)) return;
    this.events++;
    if (code === Code.output) this.bytes += data.length;
    if (this.bytes >= KEYFRAME_BYTES || this.events >= KEYFRAME_EVENTS) {
      this.bytes = 0;
      this.events = 0;
      this.screen.after(() => this.keyframes.push({ index: i, snapshot: this.screen.snapshot() }));
    }
  }

  /** Waits until the terminal has caught up with everything fed (called between input pieces). */
  catchUp(): Promise<void> {
    return this.screen.flush();
  }

  async finish(): Promise<SeekIndex> {
    await this.screen.flush();
    this.screen.dispose();
    return new SeekIndex(this.keyframes);
  }
}

/** Queues one event's effect on a screen, in order. False when the event does not touch the screen. */
export function applyEvent(screen: Screen, code: CodeValue, data: string): boolean {
  if (code === Code.output) {
    screen.feed(data);
    return true;
  }
  if (code === Code.resize) {
    const m = /^(\d+)x(\d+)$/.exec(data);
    if (m) screen.feedResize(Number(m[1]), Number(m[2]));
    return m !== null;
  }
  return false;
}

/** Feeds events (from, to] of a table into a screen and waits until they are on it. */
export async function replay(screen: Screen, events: EventTable, from: number, to: number): Promise<void> {
  for (let i = from + 1; i <= to; i++) {
    const code = events.code(i);
    if (code === Code.output || code === Code.resize) applyEvent(screen, code, events.data(i));
  }
  await screen.flush();
}
