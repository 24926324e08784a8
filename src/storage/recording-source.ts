import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/load.js';
import { describeVerification, RecordingVerifier, type VerifyResult } from '../recording/manifest.js';
import { BastionError, describeError } from '../errors.js';
import { S3ObjectStore } from './s3.js';
import { objectBase } from './uploader.js';
import { readRunFile } from '../state/run-file.js';

/** Decompressed size beyond which gunzipping stops (a gzip bomb, or a session far beyond any real one). */
export const DEFAULT_MAX_BYTES = 1024 ** 3;
const SESSION_ID = /^s-\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** A recording to read: a local file (manifest beside it), s3://bucket/key, or a session id looked up in the configured bucket. */
export interface RecordingSource {
  /** For messages: the path or s3:// URL. */
  readonly name: string;
  /** The recording's bytes, decompressed, in pieces. A damaged or cut-off gzip ends early with a warning, not an error. */
  pieces(warn: (message: string) => void): AsyncIterable<Buffer>;
  /** The manifest's text, or undefined when there is none (yet). */
  manifest(): Promise<string | undefined>;
  /** Set when this is not the final recording (e.g. a live session's chunks). */
  readonly partial?: string;
  close(): void;
}

export interface SourceOptions {
  readonly config?: Config;
  readonly maxBytes?: number;
}

export function isSessionId(ref: string): boolean {
  return SESSION_ID.test(ref);
}

export async function openRecordingSource(ref: string, o: SourceOptions = {}): Promise<RecordingSource> {
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref);
  if (s3) {
    const store = storeForReading(o.config, s3[1]!);
    return objectSource(store, s3[2]!, ref, maxBytes);
  }
  if (isSessionId(ref)) {
    if (!o.config) throw new BastionError('CONFIG_INVALID', `${ref} looks like a session id: give --config FILE so the bucket can be searched`);
    const store = storeForReading(o.config, o.config.storage.bucket);
    const base = objectBase(o.config.storage.prefix, ref);
    if (await headOrExplain(store, `${base}.cast.gz`)) return objectSource(store, `${base}.cast.gz`, `s3://${o.config.storage.bucket}/${base}.cast.gz`, maxBytes);
    return chunkSource(store, base, ref, maxBytes);
  }
  if (!existsSync(ref)) throw new BastionError('STATE_IO', `${ref}: no such file`);
  if (!statSync(ref).isFile()) throw new BastionError('STATE_IO', `${ref}: not a file`);
  const manifestPath = manifestKey(ref);
  return {
    name: ref,
    pieces: (warn) => decode(createReadStream(ref, { highWaterMark: 4 * 1024 * 1024 }), maxBytes, warn),
    manifest: async () => (existsSync(manifestPath) ? readFileSync(manifestPath, 'utf8') : undefined),
    close: () => undefined,
  };
}

/** X.cast.gz → X.manifest.json, the name the uploader gives a recording's manifest. */
export function manifestKey(recordingKey: string): string {
  return recordingKey.replace(/\.cast(\.gz)?$/, '') + '.manifest.json';
}

/** An S3 client for reading recordings; the embedded demo store is reached at its endpoint (the bastion must be running). */
export function storeForReading(config: Config | undefined, bucket: string): S3ObjectStore {
  const s = config?.storage;
  // The embedded store's actual port (it may be configured as 0) comes from the running bastion's run file.
  const running = config && s?.embedded ? readRunFile(config.data_dir)?.s3_endpoint : undefined;
  const endpoint = process.env.BASTION_S3_ENDPOINT ?? s?.endpoint ?? (s?.embedded ? (running ?? `http://${s.embedded.host}:${s.embedded.port}`) : undefined);
  const credentials = s?.embedded
    ? { accessKeyId: s.embedded.access_key_id, secretAccessKey: s.embedded.secret_access_key }
    : s?.access_key_id && config?.storage_secret
      ? { accessKeyId: s.access_key_id, secretAccessKey: config.storage_secret.reveal() }
      : undefined;
  return new S3ObjectStore({
    bucket,
    region: s?.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/** Why a bucket could not be read, in words (the SDK's errors name neither the endpoint nor the remedy). */
export function explainStoreError(store: S3ObjectStore, err: unknown): BastionError {
  const code = (err as { code?: string }).code ?? (err as Error).name;
  const where = store.location;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(describeError(err))) {
    return new BastionError('STATE_IO', `cannot reach the object store for ${where} (connection refused): is it running? The demo's embedded S3 runs inside the bastion (npm start)`, { cause: err });
  }
  if (code === 'NoSuchBucket') return new BastionError('STATE_IO', `${where}: no such bucket`, { cause: err });
  return new BastionError('STATE_IO', `cannot read ${where}: ${describeError(err)}`, { cause: err });
}

async function headOrExplain(store: S3ObjectStore, key: string): Promise<boolean> {
  try {
    return (await store.head(key)) !== undefined;
  } catch (err) {
    store.destroy();
    throw explainStoreError(store, err);
  }
}

function objectSource(store: S3ObjectStore, key: string, name: string, maxBytes: number): RecordingSource {
  return {
    name,
    pieces: (warn) => decode(fetched(store, key, name), maxBytes, warn),
    manifest: async () => {
      try {
        return (await store.head(manifestKey(key))) ? (await store.get(manifestKey(key))).toString('utf8') : undefined;
      } catch (err) {
        throw explainStoreError(store, err);
      }
    },
    close: () => store.destroy(),
  };
}

async function* fetched(store: S3ObjectStore, key: string, name: string): AsyncIterable<Buffer> {
  let body: Buffer;
  try {
    if (!(await store.head(key))) throw new BastionError('STATE_IO', `${name}: no such object`);
    body = await store.get(key);
  } catch (err) {
    throw err instanceof BastionError ? err : explainStoreError(store, err);
  }
  for (let i = 0; i < body.length; i += 4 * 1024 * 1024) yield body.subarray(i, i + 4 * 1024 * 1024);
}

/** A session whose final recording is not in the bucket (yet): the chunks uploaded while it ran. */
async function chunkSource(store: S3ObjectStore, base: string, id: string, maxBytes: number): Promise<RecordingSource> {
  const keys: string[] = [];
  try {
    for await (const k of store.list(`${base}/chunks/`)) keys.push(k);
  } catch (err) {
    store.destroy();
    throw explainStoreError(store, err);
  }
  if (keys.length === 0) {
    store.destroy();
    throw new BastionError('STATE_IO', `no recording of session ${id} in ${store.location} (neither ${base}.cast.gz nor any chunk of it)`);
  }
  keys.sort();
  async function* all(): AsyncIterable<Buffer> {
    for (const k of keys) {
      try {
        yield await store.get(k);
      } catch (err) {
        throw explainStoreError(store, err);
      }
    }
  }
  return {
    name: `${store.location}/${base}/chunks/`,
    partial: `no final recording yet: playing the ${keys.length} chunk${keys.length === 1 ? '' : 's'} uploaded so far (the session may still be running, or its upload is pending)`,
    pieces: (warn) => decode(all(), maxBytes, warn),
    manifest: async () => undefined,
    close: () => store.destroy(),
  };
}

/**
 * Passes bytes through, gunzipping them when they start with the gzip magic and stopping at
 * `maxBytes` of decompressed output with an error that says why. Damaged gzip ends the stream
 * with a warning.
 */
export async function* decode(src: AsyncIterable<Buffer>, maxBytes: number, warn: (message: string) => void): AsyncIterable<Buffer> {
  const it = src[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const rest = (async function* () {
    yield first.value;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  const gzipped = first.value.length >= 2 && first.value[0] === 0x1f && first.value[1] === 0x8b;
  let total = 0;
  const limit = (n: number) => {
    total += n;
    if (total > maxBytes) {
      throw new BastionError(
        'BAD_RECORDING',
        `the recording is larger than ${Math.round(maxBytes / 1024 ** 2)} MiB once decompressed (a gzip bomb, or an extremely long session); pass --max-bytes to allow more`,
      );
    }
  };
  if (!gzipped) {
    // A plain file is as big as it is on disk; what is kept of it is bounded by the reader.
    yield* rest;
    return;
  }
  const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
  const feeding = (async () => {
    try {
      for await (const piece of rest) {
        if (gunzip.destroyed) break; // the reader stopped early: stop reading the source too
        if (!gunzip.write(piece)) await drainedOrClosed(gunzip);
      }
      if (!gunzip.destroyed) gunzip.end();
    } catch (err) {
      gunzip.destroy(err as Error);
    }
  })();
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      limit(piece.length);
      yield piece;
    }
  } catch (err) {
    if (err instanceof BastionError) throw err;
    if ((err as { code?: string }).code?.startsWith('Z_')) {
      warn(`the gzip data ${(err as { code?: string }).code === 'Z_BUF_ERROR' ? 'ends early (the file was cut off)' : `is damaged (${describeError(err)})`} after ${total} bytes: playing what comes before`);
    } else throw err;
  } finally {
    gunzip.destroy();
    await feeding;
    await it.return?.(); // a reader that stopped early (or the size limit) closes the file too
  }
}

/** Resolves once the stream has drained or closed, and leaves no listener behind (for waits repeated many times). */
export function drainedOrClosed(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Checks a recording against its signed manifest while streaming it. `ref` is what the user named:
 * a valid recording of another session copied over this session's name is reported as such.
 */
export async function verifySource(source: RecordingSource, trusted: readonly KeyObject[], ref: string): Promise<VerifyResult> {
  const manifest = await source.manifest();
  if (manifest === undefined) {
    return { ok: false, where: 'manifest', reason: source.partial ? `there is none yet: ${source.partial}` : `${manifestKey(source.name)} is missing; a recording cannot be verified without it` };
  }
  const verifier = new RecordingVerifier(manifest, trusted);
  let damaged: string | undefined;
  for await (const piece of source.pieces((w) => (damaged = w))) verifier.update(piece);
  const result = verifier.finish();
  if (!result.ok) return damaged ? { ok: false, where: 'recording', reason: damaged } : result;
  const named = /(s-\d{8}T\d{6}Z-[0-9a-f]{8})(\.cast(\.gz)?)?$/.exec(ref.split('/').at(-1) ?? '')?.[1];
  if (named !== undefined && result.manifest.session_id !== named) {
    return { ok: false, where: 'manifest', reason: `it belongs to session ${result.manifest.session_id}, not ${named}` };
  }
  return result;
}

/** Opens, verifies and describes: what `bastion recording verify` and `bastion-player --verify` print. */
export async function verifyRef(ref: string, trusted: readonly KeyObject[], o: SourceOptions = {}): Promise<{ ok: boolean; text: string }> {
  if (trusted.length === 0) throw new BastionError('CONFIG_INVALID', 'give --config FILE (its recording keys) or --public-key PEM to verify against');
  const source = await openRecordingSource(ref, o);
  try {
    const result = await verifySource(source, trusted, ref);
    return { ok: result.ok, text: describeVerification(source.name, result) };
  } finally {
    source.close();
  }
}
