/** Options passed through on every object: encryption at rest and retention. */
export interface PutOptions {
  readonly contentType: string;
  /** Hex SHA-256 of the body, stored as metadata and checked after the upload. */
  readonly sha256: string;
  /** Have the store check the body in transit (Content-MD5): for final objects; chunks are temporary. */
  readonly verifyInTransit?: boolean;
  /** Base64 MD5 of the body when the caller has it (a file is then not read twice for Content-MD5). */
  readonly md5?: string;
}

/** A file uploaded as it is on disk, never held in memory whole (a recording may be gigabytes). */
export interface FileBody {
  readonly path: string;
  readonly size: number;
}

/** Bytes in memory (a chunk, a manifest) or a file (a whole recording). */
export type PutBody = Buffer | FileBody;

export const bodySize = (body: PutBody): number => (Buffer.isBuffer(body) ? body.length : body.size);

export interface ObjectInfo {
  readonly size: number;
  readonly sha256?: string;
}

/** Where recordings end up. S3 in production and in the embedded default; anything with these verbs. */
export interface ObjectStore {
  /** Stores `body` under `key`; once it resolves, the store keeps no reference to a Buffer body (the caller may reuse it). */
  put(key: string, body: PutBody, opts: PutOptions): Promise<void>;
  head(key: string): Promise<ObjectInfo | undefined>;
  get(key: string): Promise<Buffer>;
  list(prefix: string): AsyncIterable<string>;
  delete(key: string): Promise<void>;
  /** For messages: "s3://bucket". */
  readonly location: string;
}

/** Puts an object and confirms it is there with the same size and hash; throws otherwise. */
export async function putConfirmed(store: ObjectStore, key: string, body: PutBody, opts: PutOptions): Promise<void> {
  await store.put(key, body, opts);
  const info = await store.head(key);
  if (!info) throw new Error(`${store.location}/${key} is missing right after the upload`);
  const size = bodySize(body);
  if (info.size !== size) throw new Error(`${store.location}/${key} has ${info.size} bytes, ${size} were sent`);
  if (info.sha256 !== undefined && info.sha256 !== opts.sha256) throw new Error(`${store.location}/${key} has a different checksum than what was sent`);
}
