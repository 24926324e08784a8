import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  S3Client,
  PutObjectCommand,
  HeadObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { bodySize, type ObjectInfo, type ObjectStore, type PutBody, type PutOptions } from './object-store.js';

export interface S3Settings {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  readonly sse?: { readonly mode: 'AES256' | 'aws:kms'; readonly kmsKeyId?: string };
  readonly objectLock?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly retainDays: number };
  /** Overridable for tests (object lock retain-until is computed from it). */
  readonly now?: () => number;
}

/** ObjectStore on S3 (AWS, MinIO, or the embedded s3rver) with @aws-sdk/client-s3. */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;

  constructor(private readonly s: S3Settings) {
    this.location = `s3://${s.bucket}`;
    this.client = new S3Client({
      region: s.region,
      ...(s.endpoint ? { endpoint: s.endpoint, forcePathStyle: true } : {}),
      ...(s.credentials ? { credentials: s.credentials } : {}),
      // With the default flexible checksums, s3rver stores the aws-chunked framing inside the
      // object, silently; checksums are computed only where S3 requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1, // the uploader retries, with its own backoff
    });
  }

  /** Whether S3 must get the object's Content-MD5: to check it in transit, or because Object Lock refuses writes without one. */
  private needsMd5(opts: PutOptions): boolean {
    return opts.verifyInTransit === true || this.s.objectLock !== undefined;
  }

  /**
   * The parameters sent with every object (also what tests check, since s3rver ignores Object Lock).
   * A file's body is not among them: `put` streams it from disk. Its MD5, when needed, must come
   * in `opts.md5`.
   */
  putParams(key: string, body: PutBody, opts: PutOptions): PutObjectCommandInput {
    const s = this.s;
    const needMd5 = this.needsMd5(opts);
    if (needMd5 && !opts.md5 && !Buffer.isBuffer(body)) throw new Error(`uploading ${body.path} needs its MD5`);
    return {
      Bucket: s.bucket,
      Key: key,
      ...(Buffer.isBuffer(body) ? { Body: body } : {}),
      ContentType: opts.contentType,
      ContentLength: bodySize(body),
      // S3 refuses Object Lock writes without Content-MD5 (or a checksum header), chunks included.
      ...(needMd5 ? { ContentMD5: opts.md5 ?? createHash('md5').update(body as Buffer).digest('base64') } : {}),
      Metadata: { sha256: opts.sha256 },
      ...(s.sse ? { ServerSideEncryption: s.sse.mode, ...(s.sse.kmsKeyId ? { SSEKMSKeyId: s.sse.kmsKeyId } : {}) } : {}),
      ...(s.objectLock
        ? { ObjectLockMode: s.objectLock.mode, ObjectLockRetainUntilDate: new Date((s.now ?? Date.now)() + s.objectLock.retainDays * 86_400_000) }
        : {}),
    };
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    // A buffer's MD5 (Object Lock needs one on every object) is taken a slice at a time: in one
    // go, a 32 MB chunk held every session on this thread up for about 50 ms.
    if (Buffer.isBuffer(body) && !opts.md5 && this.needsMd5(opts)) opts = { ...opts, md5: await md5InSlices(body) };
    const params = this.putParams(key, body, opts);
    if (Buffer.isBuffer(body)) return this.send(params, opts.sha256);
    // Opened here, so that a missing file is an ordinary failure; a read error midway aborts the
    // request (the SDK pipes the stream and would leave its error uncaught, and the request waiting).
    const file = await open(body.path, 'r');
    const abort = new AbortController();
    let readError: unknown;
    const stream = file.createReadStream({ autoClose: false });
    stream.on('error', (err) => {
      readError = err;
      abort.abort(err);
    });
    try {
      await this.send({ ...params, Body: stream }, opts.sha256, abort.signal);
    } catch (err) {
      throw readError ?? err;
    } finally {
      stream.destroy();
      await file.close();
    }
  }

  private async send(params: PutObjectCommandInput, sha256: string, abortSignal?: AbortSignal): Promise<void> {
    const command = new PutObjectCommand(params);
    // The body's SHA-256 is known: the signer takes it from this header instead of hashing the
    // body again (a recording chunk is megabytes), and S3 checks the body against it.
    command.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
        return next(args);
      },
      { step: 'build', name: 'knownPayloadSha256' },
    );
    await this.client.send(command, abortSignal ? { abortSignal } : {});
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.s.bucket, Key: key }));
      return { size: r.ContentLength ?? -1, ...(r.Metadata?.sha256 ? { sha256: r.Metadata.sha256 } : {}) };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as Error).name === 'NotFound') return undefined;
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  async *list(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of r.Contents ?? []) if (o.Key) yield o.Key;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: key }));
  }

  destroy(): void {
    this.client.destroy();
  }
}

/**
 * MD5 (base64) of BODY, SLICE bytes at a time with a turn of the event loop between slices, so
 * that the sessions sharing this thread wait for one slice (about 2 ms) at most, not for the whole.
 */
export async function md5InSlices(body: Buffer, slice = 1024 * 1024): Promise<string> {
  const h = createHash('md5');
  for (let at = 0; at < body.length; at += slice) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    h.update(body.subarray(at, at + slice));
  }
  return h.digest('base64');
}
