import { mkdirSync, readdirSync, readFileSync, statSync, existsSync, createReadStream } from 'node:fs';
import { open, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ChunkRecord } from '../recording/chain.js';
import { chainNext, chainStart } from '../recording/chain.js';
import type { Manifest, UnsignedManifest } from '../recording/manifest.js';
import { parseLine, type Header } from '../recording/asciicast.js';

/**
 * The durable spool of recordings on local disk:
 *   active/ID.cast         being written by a live session (fsynced every second)
 *   active/ID.chunks       closed chunks of it, one JSON line each (uploaded while the session runs)
 *   active/ID.uploaded     how many of those chunks are confirmed in the object store
 *   sealed/ID.cast + ID.manifest.json   finished and signed, waiting for upload
 *   sealed/ID.cast.gz.tmp  a large one gzipped, during its upload
 * A file leaves the spool only after the object store has confirmed it.
 */
export class Spool {
  readonly active: string;
  readonly sealed: string;

  constructor(readonly root: string) {
    this.active = join(root, 'active');
    this.sealed = join(root, 'sealed');
    mkdirSync(this.active, { recursive: true, mode: 0o700 });
    mkdirSync(this.sealed, { recursive: true, mode: 0o700 });
  }

  activePaths(id: string) {
    return { cast: join(this.active, `${id}.cast`), chunks: join(this.active, `${id}.chunks`), uploaded: join(this.active, `${id}.uploaded`) };
  }

  sealedPaths(id: string) {
    return {
      cast: join(this.sealed, `${id}.cast`),
      manifest: join(this.sealed, `${id}.manifest.json`),
      /** A large recording gzipped for its upload (made again at each attempt). */
      gzip: join(this.sealed, `${id}.cast.gz.tmp`),
    };
  }

  // Listing and stat-ing are asynchronous: the uploader visits every running session each second,
  // and synchronous calls would hold up the sessions' keystrokes meanwhile.
  async activeIds(): Promise<string[]> {
    return (await readdir(this.active)).filter((f) => f.endsWith('.cast')).map((f) => f.slice(0, -5));
  }

  async sealedIds(): Promise<string[]> {
    return (await readdir(this.sealed)).filter((f) => f.endsWith('.manifest.json')).map((f) => f.slice(0, -'.manifest.json'.length));
  }

  /** Chunks closed so far for an active recording, and how many are already uploaded. */
  chunkState(id: string): { chunks: ChunkRecord[]; uploaded: number } {
    const p = this.activePaths(id);
    const chunks = readJsonLines<ChunkRecord>(p.chunks);
    let uploaded = 0;
    try {
      uploaded = Number(readFileSync(p.uploaded, 'utf8')) || 0;
    } catch {
      uploaded = 0;
    }
    return { chunks, uploaded };
  }

  async markChunksUploaded(id: string, count: number): Promise<void> {
    const p = this.activePaths(id);
    if (!existsSync(p.cast)) return; // sealed meanwhile: its progress file is gone for good
    await writeFile(p.uploaded, String(count), { mode: 0o600 });
  }

  /**
   * Moves a finished recording to sealed/ with its signed manifest. Order matters for crashes: the
   * manifest is made durable first, then the recording moves, then the manifest appears. A crash in
   * between leaves the recording in active/ (recovered at start-up) or a sealed recording without
   * its manifest (moved back by `recoverOrphans`), never a recording nobody uploads.
   */
  async seal(id: string, manifest: Manifest): Promise<void> {
    const a = this.activePaths(id);
    const s = this.sealedPaths(id);
    const tmp = `${s.manifest}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(manifest, null, 2) + '\n');
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(a.cast, s.cast);
    await rename(tmp, s.manifest);
    await rm(a.chunks, { force: true });
    await rm(a.uploaded, { force: true });
  }

  /**
   * A crash mid-seal: finish it with the durable manifest, or send the recording back to active/ to
   * be recovered. A crash mid-upload: its compressed copy goes (it is made again for the upload).
   */
  async recoverOrphans(): Promise<void> {
    for (const f of readdirSync(this.sealed)) {
      if (f.endsWith('.cast.gz.tmp')) await rm(join(this.sealed, f), { force: true });
      if (!f.endsWith('.cast')) continue;
      const id = f.slice(0, -5);
      const { manifest } = this.sealedPaths(id);
      if (existsSync(manifest)) continue;
      // The durable manifest written before the move completes the seal; without it, recover again.
      if (existsSync(`${manifest}.tmp`)) await rename(`${manifest}.tmp`, manifest);
      else await rename(join(this.sealed, f), this.activePaths(id).cast);
    }
  }

  /** After a confirmed upload. The recording goes first: a lone manifest is harmless, a lone recording would be recovered again. */
  async remove(id: string): Promise<void> {
    const s = this.sealedPaths(id);
    await rm(s.gzip, { force: true });
    await rm(s.cast, { force: true });
    await rm(s.manifest, { force: true });
  }

  /**
   * A recording left in active/ by a bastion that died: cut to its last complete line (valid
   * asciicast), chunk what was not chunked yet, and describe it as incomplete, ready to be signed.
   */
  async recover(id: string): Promise<UnsignedManifest | undefined> {
    const p = this.activePaths(id);
    // Streamed, never read whole: a long session's recording can be larger than a Buffer may be.
    const end = await endOfLastLine(p.cast);
    await truncate(p.cast, end);
    const header = parseLine(await firstLine(p.cast), true);
    if (end === 0 || header.kind !== 'header') {
      // Not even a header survived: nothing to seal, and nothing was recorded.
      await rm(p.cast, { force: true });
      await rm(p.chunks, { force: true });
      await rm(p.uploaded, { force: true });
      return undefined;
    }
    const h: Header = header.header;
    const chunks = readJsonLines<ChunkRecord>(p.chunks).filter((c) => c.offset + c.length <= end);
    let chain = chainStart(id);
    for (const c of chunks) chain = chainNext(chain, c.sha256);
    const covered = chunks.reduce((n, c) => n + c.length, 0);
    if (covered < end) {
      const sha256 = await hashRange(p.cast, covered, end);
      chain = chainNext(chain, sha256);
      chunks.push({ index: chunks.length, offset: covered, length: end - covered, sha256, chain });
    }
    return {
      version: 1,
      session_id: id,
      started_at: new Date(h.timestamp * 1000).toISOString(),
      ended_at: statSync(p.cast).mtime.toISOString(),
      incomplete: true,
      end_reason: 'the bastion stopped during the session; sealed on restart',
      recording: { bytes: end, sha256: await hashRange(p.cast, 0, end) },
      chunks,
      chain,
      metadata: h.bastion,
    };
  }
}

function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      break; // a torn last line from a crash
    }
  }
  return out;
}

/** SHA-256 (hex) of bytes [start, end) of a file, streamed. */
export async function hashRange(path: string, start: number, end: number): Promise<string> {
  const hash = createHash('sha256');
  if (end > start) for await (const chunk of createReadStream(path, { start, end: end - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The offset just after the last newline (0 when there is none), reading backwards from the end. */
async function endOfLastLine(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const block = Buffer.alloc(64 * 1024);
    for (let pos = size; pos > 0; ) {
      const len = Math.min(block.length, pos);
      pos -= len;
      await fh.read(block, 0, len, pos);
      const nl = block.subarray(0, len).lastIndexOf(0x0a);
      if (nl >= 0) return pos + nl + 1;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/** The first line of a file (headers are small; at most 1 MiB is read). */
async function firstLine(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
    return buf.subarray(0, nl < 0 ? bytesRead : nl).toString('utf8');
  } finally {
    await fh.close();
  }
}
