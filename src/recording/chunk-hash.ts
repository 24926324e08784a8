import { createHash } from 'node:crypto';
import { loadAddon } from '../native/load-addon.js';

interface HashAddon {
  hashNew(): object;
  hashUpdate(h: object, buffers: Uint8Array[], done: (err: Error | null) => void): void;
  hashDigest(h: object): string;
}

/** src/native/asciicast's SHA-256 in the thread pool (hash.c), when it is built. */
const addon = loadAddon<Partial<HashAddon>>('asciicast');
const pool = typeof addon?.hashNew === 'function' ? (addon as HashAddon) : undefined;

/** The SHA-256 of a spool chunk, fed as its bytes are written. */
export interface ChunkHash {
  /** Adds these bytes, after those added before; they must stay as they are until this settles. */
  update(pieces: readonly Uint8Array[]): Promise<void>;
  /** Hex digest of what was added since the last digest, and starts again. Not while an update runs. */
  digest(): string;
}

/**
 * A chunk hash for the recorder: on a thread of the pool (beside the file's write, while the
 * recording thread escapes the next batch) where the addon is built, else here, at once.
 */
export function chunkHash(): ChunkHash {
  if (pool) {
    const h = pool.hashNew();
    return {
      update: (pieces) => new Promise((resolve, reject) => pool.hashUpdate(h, [...pieces], (err) => (err ? reject(err) : resolve()))),
      digest: () => pool.hashDigest(h),
    };
  }
  let h = createHash('sha256');
  return {
    update(pieces) {
      for (const p of pieces) h.update(p);
      return Promise.resolve();
    },
    digest() {
      const hex = h.digest('hex');
      h = createHash('sha256');
      return hex;
    },
  };
}

/**
 * SHA-256 (hex) of these bytes, on a thread of the pool where the addon is built: a 32 MB chunk is
 * about 28 ms of hashing (this project's 2-core VM) that the thread running every session does not
 * do, where every session's keystrokes would wait for it. The bytes must stay as they are until it
 * resolves.
 */
export async function sha256OfPieces(pieces: readonly Uint8Array[]): Promise<string> {
  const h = chunkHash();
  await h.update(pieces);
  return h.digest();
}
