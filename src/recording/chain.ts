import { createHash } from 'node:crypto';

/** One piece of a recording file: its place, its hash, and the chain value through it. */
export interface ChunkRecord {
  readonly index: number;
  readonly offset: number;
  readonly length: number;
  readonly sha256: string;
  /** sha256(previous chain ‖ sha256 of this chunk), hex; the first link starts from the session id. */
  readonly chain: string;
}

export function chainStart(sessionId: string): string {
  return createHash('sha256').update(`bastion-recording-v1\0${sessionId}`).digest('hex');
}

export function chainNext(prev: string, chunkSha256: string): string {
  return createHash('sha256').update(prev + chunkSha256).digest('hex');
}
