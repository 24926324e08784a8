import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedS3 } from '../../src/storage/embedded-s3.js';
import { S3ObjectStore, md5InSlices } from '../../src/storage/s3.js';
import { putConfirmed } from '../../src/storage/object-store.js';
import { objectBase } from '../../src/storage/uploader.js';

/** An HTTP server standing in for S3 that answers every request with 200 and keeps what it got (s3rver does not check Content-MD5). */
async function recordingServer() {
  const { createServer } = await import('node:http');
  const got: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(parts) });
      res.writeHead(200, { etag: '"x"' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got, server };
}

describe('S3ObjectStore against s3rver (the real S3 protocol)', () => {
  let dir: string;
  let s3: Awaited<ReturnType<typeof startEmbeddedS3>>;
  let store: S3ObjectStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 's3unit-'));
    s3 = await startEmbeddedS3({ host: '127.0.0.1', port: 0, dir, bucket: 'rec' });
    store = new S3ObjectStore({ bucket: 'rec', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  });
  afterAll(async () => {
    store.destroy();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores bytes exactly (the SDK checksum trap would corrupt them silently), confirms, lists and deletes', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await putConfirmed(store, 'a/b/one.bin', body, { contentType: 'application/octet-stream', sha256, verifyInTransit: true });
    expect((await store.get('a/b/one.bin')).equals(body)).toBe(true);
    expect(await store.head('a/b/one.bin')).toEqual({ size: body.length, sha256 });
    const keys: string[] = [];
    for await (const k of store.list('a/')) keys.push(k);
    expect(keys).toEqual(['a/b/one.bin']);
    await store.delete('a/b/one.bin');
    expect(await store.head('a/b/one.bin')).toBeUndefined();
  });

  it('streams a file body from disk exactly (the checksum trap is about streamed bodies), with its MD5 checked in transit', async () => {
    const body = randomBytes(5 * 1024 * 1024 + 3);
    const path = join(dir, 'upload.bin');
    writeFileSync(path, body);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const md5 = createHash('md5').update(body).digest('base64');
    await putConfirmed(store, 'f/one.gz', { path, size: body.length }, { contentType: 'application/gzip', sha256, md5, verifyInTransit: true });
    expect((await store.get('f/one.gz')).equals(body)).toBe(true);
    // s3rver does not check Content-MD5 (S3 does): what the request carries is checked below.
    // Without an MD5 a file cannot be checked in transit: refused before anything is sent.
    expect(() => store.putParams('f/three.gz', { path, size: body.length }, { contentType: 'application/gzip', sha256, verifyInTransit: true })).toThrow(/needs its MD5/);
  });

  it('fails an upload whose file cannot be read (missing, or a read error midway) as an ordinary error', async () => {
    const opts = { contentType: 'application/gzip', sha256: 'ab'.repeat(32), md5: createHash('md5').update('').digest('base64'), verifyInTransit: true };
    await expect(store.put('f/missing.gz', { path: join(dir, 'no-such-file'), size: 10 }, opts)).rejects.toThrow(/ENOENT/);
    // A directory opens, then fails at the first read: the request is aborted, nothing is stored,
    // and no error escapes (vitest fails the run on an uncaught one).
    await expect(store.put('f/dir.gz', { path: dir, size: 10 }, opts)).rejects.toThrow(/EISDIR/);
    expect(await store.head('f/dir.gz')).toBeUndefined();
  });

  it('sends server-side encryption and Object Lock on every object (s3rver ignores them, so the request is checked)', () => {
    const locked = new S3ObjectStore({
      bucket: 'rec',
      region: 'eu-west-1',
      sse: { mode: 'aws:kms', kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/abc' },
      objectLock: { mode: 'COMPLIANCE', retainDays: 2190 },
      now: () => Date.parse('2026-11-23T00:00:00Z'),
    });
    const params = locked.putParams('k', Buffer.from('x'), { contentType: 'application/gzip', sha256: 'ab', verifyInTransit: true });
    expect(params).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'arn:aws:kms:eu-west-1:1:key/abc',
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date('2032-11-21T00:00:00Z'),
      Metadata: { sha256: 'ab' },
      ContentMD5: createHash('md5').update('x').digest('base64'),
    });
    locked.destroy();
  });

  it('signs the body with the SHA-256 it was given (no second hash of a large chunk) and S3 gets it to check', async () => {
    const { createServer } = await import('node:http');
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume().on('end', () => res.writeHead(200, { etag: '"x"' }).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const spy = new S3ObjectStore({ bucket: 'rec', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    // A value that is not the body's hash shows the signer took it rather than hashing the body.
    const sha256 = 'ab'.repeat(32);
    await spy.put('k', randomBytes(64 * 1024), { contentType: 'application/octet-stream', sha256 });
    spy.destroy();
    server.close();
    expect(seen[0]!['x-amz-content-sha256']).toBe(sha256);
    expect(String(seen[0]!.authorization)).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
  });

  it('sends a file with its length and the MD5 it was given, for S3 to check the bytes in transit', async () => {
    const { endpoint, got, server } = await recordingServer();
    const spy = new S3ObjectStore({ bucket: 'rec', region: 'us-east-1', endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const body = randomBytes(300 * 1024);
    const path = join(dir, 'spy.bin');
    writeFileSync(path, body);
    const md5 = createHash('md5').update(body).digest('base64');
    await spy.put('k.gz', { path, size: body.length }, { contentType: 'application/gzip', sha256: createHash('sha256').update(body).digest('hex'), md5, verifyInTransit: true });
    spy.destroy();
    server.close();
    expect(got[0]!.headers['content-md5']).toBe(md5);
    expect(got[0]!.headers['content-length']).toBe(String(body.length));
    expect(got[0]!.body.equals(body)).toBe(true);
  });

  it('with Object Lock, sends a chunk buffer with the Content-MD5 of its bytes, taken a slice at a time', async () => {
    const { endpoint, got, server } = await recordingServer();
    const locked = new S3ObjectStore({ bucket: 'rec', region: 'us-east-1', endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, objectLock: { mode: 'COMPLIANCE', retainDays: 1 } });
    const body = randomBytes(3 * 1024 * 1024 + 5); // four slices
    await locked.put('c/000001.part', body, { contentType: 'application/octet-stream', sha256: createHash('sha256').update(body).digest('hex') });
    locked.destroy();
    server.close();
    expect(got[0]!.headers['content-md5']).toBe(createHash('md5').update(body).digest('base64'));
    expect(got[0]!.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    expect(got[0]!.body.equals(body)).toBe(true);
  });

  it('md5InSlices gives the MD5 of the whole, and lets the event loop run between slices', async () => {
    for (const [size, slice] of [[0, 4], [1, 4], [8, 4], [9, 4], [1024 * 1024, 1024 * 1024], [3_500_000, 1024 * 1024]] as const) {
      const body = randomBytes(size);
      expect(await md5InSlices(body, slice), `${size} bytes in ${slice}-byte slices`).toBe(createHash('md5').update(body).digest('base64'));
    }
    const turn = async (size: number) => {
      let ran = false;
      setImmediate(() => (ran = true));
      await md5InSlices(Buffer.alloc(size), 1024);
      return ran;
    };
    expect(await turn(1024)).toBe(false); // one slice: no turn of the loop needed
    expect(await turn(3 * 1024)).toBe(true); // three slices: the loop ran between them
  });

  it('names objects PREFIX/YYYY/MM/DD/SESSION', () => {
    expect(objectBase('recordings', 's-20261123T095100Z-3f9a2c1b')).toBe('recordings/2026/11/23/s-20261123T095100Z-3f9a2c1b');
    expect(objectBase('', 's-20261123T095100Z-3f9a2c1b')).toBe('2026/11/23/s-20261123T095100Z-3f9a2c1b');
  });

  it('refuses to confirm an object whose size or checksum differs from what was sent', async () => {
    const liar = { ...store, location: 's3://rec', put: async () => undefined, head: async () => ({ size: 1, sha256: 'nope' }), get: store.get.bind(store), list: store.list.bind(store), delete: store.delete.bind(store) };
    await expect(putConfirmed(liar, 'k', Buffer.from('xy'), { contentType: 'x', sha256: 'abc' })).rejects.toThrow(/has 1 bytes, 2 were sent/);
  });
});
