import { expect } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChunkRecord } from '../../src/recording/chain.js';

/**
 * Checks a recording's chunks against its spool file: numbered in order, end to end from byte 0,
 * each hash that of its bytes, and the `.chunks` file at `chunksPath` holding the same records.
 * Returns where the last chunk ends.
 */
export function expectChunksOf(bytes: Buffer, chunks: ChunkRecord[], chunksPath: string): number {
  let offset = 0;
  chunks.forEach((c, i) => {
    expect([c.index, c.offset]).toEqual([i, offset]);
    expect(c.offset + c.length).toBeLessThanOrEqual(bytes.length);
    expect(createHash('sha256').update(bytes.subarray(c.offset, c.offset + c.length)).digest('hex')).toBe(c.sha256);
    offset += c.length;
  });
  expect(readFileSync(chunksPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(chunks);
  return offset;
}
