import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { PutBody } from './object-store.js';

/** A compressed recording, described by what a store needs to check it. */
export interface Compressed {
  /** Bytes of the recording as it is in the spool. */
  readonly sourceBytes: number;
  /** Bytes compressed. */
  readonly size: number;
  readonly sha256: string;
  /** Base64, as Content-MD5 wants it. */
  readonly md5: string;
}

/** The compressed copy could not be written (the disk is full, over quota, failing): the recording itself is fine. */
export class CopyNotWritten extends Error {
  constructor(cause: unknown) {
    super(`cannot write the compressed copy: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

/** Counts and hashes what flows through, as the stages of a pipeline. */
function meter() {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  return {
    count: async function* (source: AsyncIterable<Buffer>) {
      for await (const b of source) {
        bytes += b.length;
        yield b;
      }
    },
    hash: async function* (source: AsyncIterable<Buffer>) {
      for await (const b of source) {
        sha256.update(b);
        md5.update(b);
        bytes += b.length;
        yield b;
      }
    },
    get bytes() {
      return bytes;
    },
    digests: () => ({ sha256: sha256.digest('hex'), md5: md5.digest('base64') }),
  };
}

/**
 * Compresses the recording at SRC into DEST (0600), hashing the result on the way: neither is
 * ever held in memory whole, however long the session was. Gzip runs in the thread pool. A
 * failure to write DEST is a CopyNotWritten; a failure to read SRC is itself.
 */
export async function gzipToFile(src: string, dest: string): Promise<Compressed> {
  const input = meter();
  const output = meter();
  const out = createWriteStream(dest, { mode: 0o600 });
  let writeError: unknown;
  out.once('error', (err) => (writeError = err));
  try {
    await pipeline(createReadStream(src), input.count, createGzip(), output.hash, out);
  } catch (err) {
    throw writeError !== undefined ? new CopyNotWritten(writeError) : err;
  }
  return { sourceBytes: input.bytes, size: output.bytes, ...output.digests() };
}

/** The same into memory: at most LIMIT compressed bytes, beyond which it gives up rather than risk the process. */
export async function gzipToMemory(src: string, limit: number): Promise<Compressed & { body: Buffer }> {
  const input = meter();
  const output = meter();
  const parts: Buffer[] = [];
  await pipeline(createReadStream(src), input.count, createGzip(), output.hash, async (source: AsyncIterable<Buffer>) => {
    for await (const b of source) {
      parts.push(b);
      if (output.bytes > limit) throw new Error(`it is over ${Math.round(limit / 1048576)} MB compressed, too large to compress in memory`);
    }
  });
  return { sourceBytes: input.bytes, size: output.bytes, ...output.digests(), body: Buffer.concat(parts) };
}

export type SpaceOf = (dir: string) => Promise<{ free: number; total: number }>;

/**
 * A recording up to this size is gzipped in memory for its upload, and one too large for that, when
 * the spool has no room for a compressed copy, if it compresses to this size.
 */
const MEMORY_BYTES = 64 * 1024 * 1024;
/** Free space a compressed copy must leave in the spool, for the live sessions' recordings: 5 % of the disk, at most 1 GB. */
const reserveOf = (total: number) => Math.min(1024 ** 3, total * 0.05);

/** Free (for unprivileged users) and total bytes of the filesystem holding DIR. */
export async function spaceOf(dir: string): ReturnType<SpaceOf> {
  const s = await statfs(dir);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

const mb = (bytes: number) => `${Math.round(bytes / 1048576)} MB`;

/**
 * The recording gzipped for its upload. A small one in memory, using no disk; a larger one to a
 * file beside it, streamed (a long session's recording may be larger than memory), when the
 * spool's disk has room for that and a reserve: the live sessions' recordings must not be the
 * ones to find the disk full. Without the room, or when the disk refuses the file, it is
 * compressed in memory if it compresses small enough; otherwise it waits in the spool for room.
 */
export async function compressForUpload(o: { id: string; cast: string; copy: string; log: Logger; memoryBytes?: number; spaceOf?: SpaceOf }): Promise<Compressed & { body: PutBody }> {
  const { id, cast, copy, log } = o;
  const limit = o.memoryBytes ?? MEMORY_BYTES;
  const { size } = await stat(cast);
  if (size <= limit) return gzipToMemory(cast, limit);
  const { free, total } = await (o.spaceOf ?? spaceOf)(dirname(copy));
  const needed = size + reserveOf(total); // gzip adds at most a few bytes per 16 KB to what it cannot compress
  let why: string;
  if (free >= needed) {
    try {
      const gz = await gzipToFile(cast, copy);
      return { ...gz, body: { path: copy, size: gz.size } };
    } catch (err) {
      if (!(err instanceof CopyNotWritten)) throw err;
      await removeCopy(id, copy, log);
      why = err.message;
    }
  } else why = `the spool has ${mb(free)} free, a compressed copy needs up to ${mb(size)} and leaves ${mb(reserveOf(total))} for live sessions`;
  log.warn({ session_id: id, reason: why }, 'no compressed copy of the recording in the spool; compressing it in memory');
  try {
    return await gzipToMemory(cast, limit);
  } catch (err) {
    throw new Error(`recording ${id} waits in the spool: ${why}, and ${(err as Error).message}`, { cause: err });
  }
}

/** The compressed copy is disposable: failing to remove it must not fail the upload (the next attempt overwrites it, start-up removes it). */
export async function removeCopy(id: string, copy: string, log: Logger): Promise<void> {
  await rm(copy, { force: true }).catch((err: unknown) => log.warn({ session_id: id, err: describeError(err) }, 'cannot remove the compressed copy of a recording'));
}

