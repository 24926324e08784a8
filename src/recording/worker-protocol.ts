import type { Header } from './asciicast.js';
import type { ChunkRecord } from './chain.js';

/** Event kinds in a batch: output, input, redacted input (length only), resize, marker. */
export const EV = { o: 0, i: 1, h: 2, r: 3, m: 4 } as const;

/**
 * Batch buffers this big or bigger are handed back with the acknowledgement, to carry a later
 * batch: bulk output would otherwise take fresh memory, a page fault per 4 KB, for every batch.
 */
export const REUSED_FROM = 64 * 1024;

/**
 * A batch of one session's events: `meta` holds [atMs, kind, length] per event, `data` their bytes
 * back to back (resize and marker texts as UTF-8; nothing for redacted input).
 */
export interface EventBatch {
  readonly op: 'events';
  readonly id: string;
  readonly meta: Float64Array;
  readonly data: Uint8Array;
}

export type ToWorker =
  | { op: 'create'; id: string; castPath: string; chunksPath: string; header: Header; flushMs: number; chunkMs: number; chunkBytes: number }
  | EventBatch
  | { op: 'close'; id: string; marker: string };

export type FromWorker =
  | { op: 'created'; id: string }
  | { op: 'createFailed'; id: string; error: string }
  | { op: 'chunk'; id: string; chunk: ChunkRecord; dueAt: number }
  /** A batch's bytes are taken care of (at once, or once written when the recorder is behind). */
  | { op: 'ack'; id: string; bytes: number; spare?: ArrayBuffer }
  | { op: 'failed'; id: string; error: string }
  | { op: 'closed'; id: string; chunks: ChunkRecord[]; bytes: number; failed?: string };
