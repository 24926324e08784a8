import { hostname } from 'node:os';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import { hashRange, type Spool } from '../storage/spool.js';
import { describeError } from '../errors.js';
import type { Header, SessionMetadata } from './asciicast.js';
import { signManifest } from './manifest.js';
import { RecorderThread, RemoteRecorder } from './recorder-client.js';

export interface RecordingSettings {
  readonly flushMs: number;
  readonly chunkMs: number;
  readonly chunkBytes: number;
}

export interface StartRecording {
  readonly meta: Omit<SessionMetadata, 'bastion_host' | 'bastion_version'>;
  readonly cols: number;
  readonly rows: number;
  readonly term?: string;
  readonly shell?: string;
  readonly onFailure: (err: unknown) => void;
}

/** A live session's recording, as the session sees it. */
export interface ActiveRecording {
  output(chunk: Buffer): void;
  input(chunk: Buffer, hidden: boolean): void;
  resize(cols: number, rows: number): void;
  marker(label: string): void;
  /** While the recording is behind the session's output: resolves when it has caught up. */
  backlog(): Promise<void> | undefined;
  /** Flushes, signs and seals the recording for upload. */
  finish(endReason: string): Promise<void>;
}

/**
 * Starts recordings in the spool, seals and signs them when sessions end, and seals recordings
 * that a crash left behind. Wakes the uploader whenever there is something to upload.
 */
export class RecordingService {
  /** Encoding, hashing and writing happen on their own thread, away from the sessions' byte pumps. */
  private readonly thread = new RecorderThread();

  /** Ends the recording thread (after the last session has finished). */
  stop(): Promise<void> {
    return this.thread.stop();
  }

  constructor(
    private readonly deps: { spool: Spool; key: KeyObject; clock: Clock; log: Logger; settings: RecordingSettings; /** Something to upload: a closed chunk of this session's recording (due at dueAt), or (no id) a sealed recording. */ onWork: (sessionId?: string, dueAt?: number) => void; /** The recording's session has ended and it is being sealed (on), or that is over (off). */ onSealing: (sessionId: string, on: boolean) => void },
  ) {}

  async start(s: StartRecording): Promise<ActiveRecording> {
    const { spool, clock, settings } = this.deps;
    const id = s.meta.session_id;
    const paths = spool.activePaths(id);
    const header: Header = {
      version: 2,
      width: s.cols,
      height: s.rows,
      timestamp: Math.floor(clock.now() / 1000),
      title: `${s.meta.drill ? '[DRILL] ' : ''}${s.meta.user} on ${s.meta.target}${s.meta.break_glass ? ' (BREAK-GLASS)' : ''} - ${s.meta.ticket}`,
      env: { ...(s.term ? { TERM: s.term } : {}), ...(s.shell ? { SHELL: s.shell } : {}) },
      bastion: { ...s.meta, bastion_host: hostname(), bastion_version: VERSION },
    };
    const startedAt = clock.now();
    const recorder = await RemoteRecorder.create(this.thread, clock, {
      castPath: paths.cast,
      chunksPath: paths.chunks,
      header,
      flushMs: settings.flushMs,
      chunkMs: settings.chunkMs,
      chunkBytes: settings.chunkBytes,
      onChunk: (_c, dueAt) => this.deps.onWork(id, dueAt),
      onFailure: s.onFailure,
    });
    return {
      output: (c) => recorder.output(c),
      input: (c, hidden) => recorder.input(c, hidden),
      resize: (c, r) => recorder.resize(c, r),
      marker: (l) => recorder.marker(l),
      backlog: () => recorder.backlog(),
      finish: async (endReason) => {
        this.deps.onSealing(id, true);
        try {
          await this.seal(id, recorder, endReason, startedAt, header, paths.cast);
        } finally {
          this.deps.onSealing(id, false);
          this.deps.onWork(); // sealed: its final upload; or not: its chunks as before
        }
      },
    };
  }

  /** Ends a session's recording: flushed, hashed whole, signed and moved to sealed/ (after a failed write, what reached the disk is recovered as incomplete). */
  private async seal(id: string, recorder: RemoteRecorder, endReason: string, startedAt: number, header: Header, cast: string): Promise<void> {
    const { spool, clock, key, log } = this.deps;
    const done = await recorder.close(`session ended: ${endReason}`);
    if (done.failed) {
      // What reached the disk is still sealed and uploaded: recover() cuts it to its last whole line.
      log.error({ session_id: id, err: describeError(done.failed) }, 'recording incomplete: write failed');
      await this.sealRecovered(id);
      return;
    }
    const manifest = {
      version: 1 as const,
      session_id: id,
      started_at: new Date(startedAt).toISOString(),
      ended_at: new Date(clock.now()).toISOString(),
      incomplete: false,
      end_reason: endReason,
      recording: { bytes: done.bytes, sha256: await hashRange(cast, 0, done.bytes) },
      chunks: done.chunks,
      chain: done.chunks.at(-1)?.chain ?? '',
      metadata: header.bastion,
    };
    await spool.seal(id, signManifest(manifest, key));
  }

  /** Seals every recording in active/ (at start-up, none of them has a live session any more). */
  async recoverAll(): Promise<number> {
    await this.deps.spool.recoverOrphans();
    let n = 0;
    for (const id of await this.deps.spool.activeIds()) {
      try {
        if (await this.sealRecovered(id)) n += 1;
      } catch (err) {
        this.deps.log.error({ session_id: id, err: describeError(err) }, 'cannot recover recording; it stays in the spool');
      }
    }
    if (n > 0) this.deps.onWork();
    return n;
  }

  private async sealRecovered(id: string): Promise<boolean> {
    const unsigned = await this.deps.spool.recover(id);
    if (!unsigned) return false;
    await this.deps.spool.seal(id, signManifest(unsigned, this.deps.key));
    this.deps.log.warn({ session_id: id, bytes: unsigned.recording.bytes }, 'sealed an incomplete recording');
    return true;
  }
}
