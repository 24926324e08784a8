import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const dist = (p: string) => pathToFileURL(resolve(import.meta.dirname, '../../dist/src', p)).href;

// The built uploader in a process whose files may not grow past LIMIT bytes (RLIMIT_FSIZE, set by
// util-linux prlimit): the kernel refuses the compressed copy of a recording too large to compress
// in memory straight away, as a full disk would (EFBIG after a short write). The store is a fake in
// memory (the real S3 path, files included, is tested with s3rver elsewhere), and so, in one test,
// is the free space the spool's filesystem reports: what is tested is the spool's side.
const LIMIT = 1_000_000;
const script = `
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Spool } from '${dist('storage/spool.js')}';
import { Uploader } from '${dist('storage/uploader.js')}';
import { systemClock } from '${dist('clock.js')}';
import { createLogger } from '${dist('log.js')}';
const [root, memoryBytes, free] = process.argv.slice(2);
const objects = new Map();
const store = {
  location: 's3://mem',
  async put(key, body) { objects.set(key, { bytes: Buffer.isBuffer(body) ? Buffer.from(body) : readFileSync(body.path), from: Buffer.isBuffer(body) ? 'memory' : 'file' }); },
  async head(key) { const o = objects.get(key); return o ? { size: o.bytes.length } : undefined; },
  async get(key) { return objects.get(key).bytes; },
  async *list() {},
  async delete(key) { objects.delete(key); },
};
const audit = [];
const uploader = new Uploader({ spool: new Spool(root), store, prefix: 'rec', clock: systemClock, log: createLogger({ level: 'warn', destination: process.stderr }),
  audit: { record: async (e) => { audit.push(e); } }, intervalMs: 60_000, memoryBytes: Number(memoryBytes),
  ...(free ? { spaceOf: async () => ({ free: Number(free), total: 100 * 1024 ** 3 }) } : {}) });
await uploader.kick();
const gz = [...objects].find(([k]) => k.endsWith('.cast.gz'));
console.log(JSON.stringify({
  health: uploader.getHealth(),
  keys: [...objects.keys()],
  from: gz?.[1].from,
  castSha256: gz ? createHash('sha256').update(gunzipSync(gz[1].bytes)).digest('hex') : null,
  audit,
}));
`;

const id = 's-20261206T070000Z-0000abcd';

/** A spool with one sealed recording of incompressible text, larger than LIMIT once gzipped. */
function spoolWithRecording() {
  const root = mkdtempSync(join(tmpdir(), 'upload-full-'));
  writeFileSync(join(root, 'upload.mjs'), script);
  mkdirSync(join(root, 'sealed'), { recursive: true });
  const lines = ['{"version":2,"width":80,"height":24}'];
  for (let i = 0; i < 1500; i++) lines.push(JSON.stringify([i / 10, 'o', randomBytes(1500).toString('base64')]));
  const cast = Buffer.from(lines.join('\n') + '\n');
  writeFileSync(join(root, 'sealed', `${id}.cast`), cast);
  writeFileSync(join(root, 'sealed', `${id}.manifest.json`), JSON.stringify({ session_id: id, chunks: [] }));
  const gzBytes = gzipSync(cast).length;
  expect(gzBytes).toBeGreaterThan(LIMIT);
  // Too large to go to memory straight away, small enough to fit there once compressed.
  const fitsOnceCompressed = Math.floor((gzBytes + cast.length) / 2);
  return { root, castSha256: createHash('sha256').update(cast).digest('hex'), castBytes: cast.length, fitsOnceCompressed };
}

type Result = { health: { pending: number; uploaded: number; failures: number }; keys: string[]; from?: string; castSha256: string | null; audit: Record<string, unknown>[] };

function upload(root: string, memoryBytes: number, { fsize = LIMIT, free }: { fsize?: number | null; free?: number } = {}) {
  const argv = [join(root, 'upload.mjs'), root, String(memoryBytes), ...(free !== undefined ? [String(free)] : [])];
  const run = fsize === null ? spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 60_000 }) : spawnSync('prlimit', [`--fsize=${fsize}`, process.execPath, ...argv], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status).toBe(0);
  expect(run.stderr).not.toMatch(/\n\s+at /); // a warning, never a stack trace
  return { out: JSON.parse(run.stdout) as Result, stderr: run.stderr };
}

describe('uploading a recording when the spool disk has no room for its compressed copy', () => {
  it('compresses it in memory when the disk refuses the copy, uploads it whole, and leaves nothing behind', () => {
    const { root, castSha256, castBytes, fitsOnceCompressed } = spoolWithRecording();
    const { out, stderr } = upload(root, fitsOnceCompressed);
    expect(stderr).toContain('no compressed copy of the recording in the spool; compressing it in memory');
    expect(stderr).toMatch(/cannot write the compressed copy: .*EFBIG/);
    expect(out.from).toBe('memory');
    expect(out.castSha256).toBe(castSha256); // every byte, in order
    expect(out.health).toMatchObject({ pending: 0, uploaded: 1, failures: 0 });
    expect(out.audit).toEqual([expect.objectContaining({ type: 'recording.uploaded', session_id: id, bytes: castBytes })]);
    expect(readdirSync(join(root, 'sealed'))).toEqual([]);
  });

  it('does not even try the copy when the disk lacks room for it and a reserve (live recordings need that room)', () => {
    const { root, castSha256, fitsOnceCompressed } = spoolWithRecording();
    const { out, stderr } = upload(root, fitsOnceCompressed, { free: 4 * 1024 * 1024 });
    expect(stderr).toMatch(/the spool has 4 MB free, a compressed copy needs up to \d+ MB and leaves 1024 MB for live sessions/);
    expect(stderr).not.toContain('cannot write the compressed copy'); // under the same RLIMIT_FSIZE, a try would have failed
    expect(out).toMatchObject({ from: 'memory', castSha256, health: { uploaded: 1 } });
  });

  it('keeps a recording too large for memory in the spool, says why, and uploads it from a file once the disk takes it', () => {
    const { root, castSha256 } = spoolWithRecording();
    const refused = upload(root, 512 * 1024);
    expect(refused.out.health).toMatchObject({ pending: 1, uploaded: 0, failures: 1 });
    expect(refused.out.keys).toEqual([]);
    expect(refused.out.audit).toEqual([
      expect.objectContaining({ type: 'recording.upload_failed', error: expect.stringMatching(/waits in the spool: cannot write the compressed copy: .*EFBIG.*too large to compress in memory/) }),
    ]);
    // Nothing lost, and no half-written compressed copy left.
    expect(readdirSync(join(root, 'sealed')).sort()).toEqual([`${id}.cast`, `${id}.manifest.json`]);

    // The disk has room again (no limit, and plenty free): the streamed path, from a file, which is then removed.
    const { out } = upload(root, 512 * 1024, { fsize: null, free: 100 * 1024 ** 3 });
    expect(out).toMatchObject({ from: 'file', castSha256, health: { uploaded: 1 } });
    expect(existsSync(join(root, 'sealed', `${id}.cast.gz.tmp`))).toBe(false);
    expect(readdirSync(join(root, 'sealed'))).toEqual([]);
  });
});
