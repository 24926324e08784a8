import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

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
