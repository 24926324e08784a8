import { Screen } from '../src/recording/screen.js';
import { Code, type LoadedRecording } from './reader.js';
import { replay, type SeekIndex } from './seek-index.js';
import { isRedaction } from './keys.js';

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16] as const;
/** With idle compression on, no pause between events lasts longer than this. */
export const IDLE_LIMIT = 2;
/** Replaying more than this many events to move forward is slower than restoring a keyframe. */
const FORWARD_REPLAY_LIMIT = 2000;

/** The last index in `times[0..count)` whose value is at most `t` (-1 when none). */
export function lastAtOrBefore(times: Float64Array, count: number, t: number): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * The player's state, without any UI: a position on the timeline, speed, pause, idle compression,
 * and a screen that always shows the recording at that position. Positions are in timeline time,
 * which is recording time, or shorter when idle compression is on.
 */
export class Playback {
  readonly screen: Screen;
  /** The last event shown on the screen (-1: none yet). */
  private applied = -1;
  private times: Float64Array;
  private _position = 0;
  private _speedIndex = SPEEDS.indexOf(1);
  private _paused = true;
  private _idleCompression = false;

  private constructor(
    readonly rec: LoadedRecording,
    private readonly index: SeekIndex,
    screen: Screen,
  ) {
    this.screen = screen;
    this.times = timeline(rec, false);
  }

  static async open(rec: LoadedRecording, index: SeekIndex): Promise<Playback> {
    const first = index.nearest(-1);
    return new Playback(rec, index, await Screen.restore(first.snapshot));
  }

  get position(): number {
    return this._position;
  }
  get duration(): number {
    const n = this.rec.events.count;
    return n > 0 ? this.times[n - 1]! : 0;
  }
  get speed(): number {
    return SPEEDS[this._speedIndex]!;
  }
  get paused(): boolean {
    return this._paused;
  }
  get idleCompression(): boolean {
    return this._idleCompression;
  }
  get ended(): boolean {
    return this._position >= this.duration;
  }
  /** The last event on screen, and its recording time (for the keystroke panel). */
  get currentIndex(): number {
    return this.applied;
  }
  get recordingTime(): number {
    return this.applied >= 0 ? this.rec.events.time(this.applied) : 0;
  }

  /** Play/pause; playing from the end starts again from the beginning. */
  async togglePause(): Promise<void> {
    if (this._paused && this.ended) await this.seek(0);
    this._paused = !this._paused;
  }
  pause(): void {
    this._paused = true;
  }
  faster(): void {
    this._speedIndex = Math.min(SPEEDS.length - 1, this._speedIndex + 1);
  }
  slower(): void {
    this._speedIndex = Math.max(0, this._speedIndex - 1);
  }

  /** Toggles idle compression; the position moves to the same moment on the new timeline. */
  toggleIdleCompression(): void {
    this._idleCompression = !this._idleCompression;
    this.times = timeline(this.rec, this._idleCompression);
    if (this.applied >= 0) this._position = this.times[this.applied]!;
  }

  /** Moves the screen to timeline time `t` (clamped), from the nearest keyframe when that is quicker. */
  async seek(t: number): Promise<void> {
    const target = Math.max(0, Math.min(this.duration, t));
    await this.showIndex(lastAtOrBefore(this.times, this.rec.events.count, target));
    this._position = target;
  }

  /**
   * Moves the screen to right after event `i`. Several events can share a timestamp, so a time
   * seek may land past a search hit; this lands on it exactly.
   */
  async seekToEvent(i: number): Promise<void> {
    const k = Math.max(0, Math.min(this.rec.events.count - 1, i));
    await this.showIndex(k);
    this._position = this.times[k]!;
  }

  /** Advances by `elapsedMs` of wall time at the current speed, when playing. */
  async tick(elapsedMs: number): Promise<void> {
    if (this._paused) return;
    const next = Math.min(this.duration, this._position + (elapsedMs / 1000) * this.speed);
    await this.showIndex(lastAtOrBefore(this.times, this.rec.events.count, next));
    this._position = next;
    if (this.ended) this._paused = true;
  }

  /** Shows the next event (while paused): the smallest step a reviewer can take. */
  async step(): Promise<void> {
    const next = Math.min(this.rec.events.count - 1, this.applied + 1);
    if (next < 0) return;
    await this.showIndex(next);
    this._position = this.times[next]!;
  }

  /** Timeline times of markers (not redactions), for m/M and the progress bar. */
  markers(): number[] {
    const ev = this.rec.events;
    const out: number[] = [];
    for (let i = 0; i < ev.count; i++) if (ev.code(i) === Code.marker && !isRedaction(ev.data(i))) out.push(this.times[i]!);
    return out;
  }

  /** Timeline time of event `i`. */
  timeOf(i: number): number {
    return this.times[i]!;
  }

  private async showIndex(k: number): Promise<void> {
    if (k === this.applied) return;
    if (k < this.applied || k - this.applied > FORWARD_REPLAY_LIMIT) {
      const kf = this.index.nearest(k);
      if (k < this.applied || kf.index > this.applied) {
        this.screen.reset(kf.snapshot.cols, kf.snapshot.rows);
        await this.screen.write(kf.snapshot.data);
        this.applied = kf.index;
      }
    }
    await replay(this.screen, this.rec.events, this.applied, k);
    this.applied = k;
  }
}

/** Timeline times per event: recording times, or with every pause cut to IDLE_LIMIT. */
export function timeline(rec: LoadedRecording, compressIdle: boolean): Float64Array {
  const ev = rec.events;
  const out = new Float64Array(Math.max(1, ev.count));
  let shift = 0;
  let prev = 0;
  for (let i = 0; i < ev.count; i++) {
    const t = ev.time(i);
    if (compressIdle && t - prev > IDLE_LIMIT) shift += t - prev - IDLE_LIMIT;
    out[i] = t - shift;
    prev = t;
  }
  return out;
}
