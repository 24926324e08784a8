import { describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../../src/recording/recorder.js';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Spool } from '../../src/storage/spool.js';
import { Uploader } from '../../src/storage/uploader.js';
import { spaceOf } from '../../src/storage/compress-for-upload.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import type { Header } from '../../src/recording/asciicast.js';
import { signManifest } from '../../src/recording/manifest.js';
import { ed25519KeyPair } from '../../src/auth/keygen.js';

// A fake store and clock (time is what is tested here); the real S3 path is in the e2e tests.
function memoryStore(): ObjectStore & { keys: string[] } {
  const objects = new Map<string, { body: Buffer; sha256: string }>();
  return {
    location: 's3://mem',
    keys: [],
    async put(key, body, opts) {
      // A copy, as a real store keeps: the caller may use its buffer again once put resolves.
      objects.set(key, { body: Buffer.isBuffer(body) ? Buffer.from(body) : readFileSync(body.path), sha256: opts.sha256 });
      this.keys.push(key);
    },
    async head(key) {
      const o = objects.get(key);
      return o ? { size: o.body.length, sha256: o.sha256 } : undefined;
    },
    async get(key) {
      return objects.get(key)!.body;
    },
    async *list() {},
    async delete(key) {
      objects.delete(key);
    },
  };
}

const header = (id: string): Header => ({
  version: 2, width: 80, height: 24, timestamp: 1_795_000_000, title: 't', env: {},
  bastion: { session_id: id, user: 'alice', target: 'shell', source_ip: '127.0.0.1', ticket: 'INC-1', reason: 'r', break_glass: false, via: 'standing', mfa: 'totp', kind: 'shell', bastion_host: 'h', bastion_version: '0' },
});

/** A recording in a fresh spool whose closed chunks are handed to an uploader, as main.ts wires them. */
async function recording(id: string, audit: { record(e: Record<string, unknown>): Promise<void> } = { record: async () => undefined }) {
  const spool = new Spool(mkdtempSync(join(tmpdir(), 'upl-')));
  const clock = new ManualClock(1_795_000_000_000);
  const store = memoryStore();
  const uploader = new Uploader({ spool, store, prefix: 'rec', clock, log: silentLogger(), audit, intervalMs: 60_000 });
  const p = spool.activePaths(id);
  const r = await Recorder.create({
    castPath: p.cast, chunksPath: p.chunks, header: header(id), clock, flushMs: 1000, chunkMs: 10_000, chunkBytes: 64 * 1024,
    onChunk: (_c, dueAt) => void uploader.kick(id, dueAt),
  });
  return { spool, clock, store, uploader, r };
}

/** 300 KB at once, paced as the recording thread's acknowledgements pace it: several chunks closed by size. */
async function burst(r: Recorder): Promise<void> {
  for (let i = 0; i < 150; i++) {
    r.output(Buffer.from(`${i} ${'y'.repeat(2000)}\r\n`));
    if (i % 40 === 39) await r.settled();
  }
}

describe('Uploader: chunks of a live recording', () => {
  it('uploads a chunk closed by age at once, and one closed by size in a burst only when chunk_interval old', async () => {
    const id = 's-20261123T000000Z-0000000a';
    const { spool, clock, store, uploader, r } = await recording(id);
    const chunkPuts = () => store.keys.filter((k) => k.includes('/chunks/')).length;
    const settle = async () => {
      await r.sealed();
      await uploader.kick();
    };

    // A burst closes chunks by size; none is due yet.
    await burst(r);
    await settle();
    expect(chunkPuts()).toBe(0);
    expect(uploader.getHealth().pending).toBeGreaterThan(0); // waiting is counted

    // chunk_interval after the burst began, they are due: the next pass uploads them all.
    clock.advance(10_000);
    await settle();
    expect(chunkPuts()).toBeGreaterThanOrEqual(3);
    // Each holds its own bytes of the spool file (they were read one after the other into one buffer).
    const cast = readFileSync(spool.activePaths(id).cast);
    const chunks = spool.chunkState(id).chunks;
    for (const key of store.keys.filter((k) => k.includes('/chunks/'))) {
      const c = chunks[Number(key.split('/').pop()!.split('.')[0])]!;
      expect((await store.get(key)).equals(cast.subarray(c.offset, c.offset + c.length))).toBe(true);
    }

    // Quiet output closes its chunk by age, due at once.
    const before = chunkPuts();
    r.output(Buffer.from('a prompt $ '));
    await r.flush();
    clock.advance(10_000);
    await r.flush();
    await uploader.kick();
    expect(chunkPuts()).toBe(before + 1);
    await r.close('session ended: test');
  });

  it('does not upload a chunk whose bytes changed in the spool after they were recorded; the chunks before it go, and the failure is audited', async () => {
    const id = 's-20261123T000000Z-0000000d';
    const events: Record<string, unknown>[] = [];
    const { spool, clock, store, uploader, r } = await recording(id, { record: async (e) => void events.push(e) });
    await burst(r);
    await r.sealed();
    const chunks = spool.chunkState(id).chunks;
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    // One byte of chunk 1 changed on disk (a bad disk, or someone editing the spool).
    const fd = openSync(spool.activePaths(id).cast, 'r+');
    const at = chunks[1]!.offset + 10;
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    writeSync(fd, Buffer.from([byte[0]! ^ 0x20]), 0, 1, at);
    closeSync(fd);
    clock.advance(10_000); // all due
    await uploader.kick();
    const uploadedIndexes = store.keys.filter((k) => k.includes('/chunks/')).map((k) => Number(k.split('/').pop()!.split('.')[0]));
    expect(uploadedIndexes).toEqual([0]);
    expect(uploader.getHealth().failures).toBe(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'recording.upload_failed', error: expect.stringContaining(`recording ${id}: chunk 1 in the spool no longer matches its hash`) as unknown }));
    await r.close('session ended: test');
  });

  it('holds the due chunks of a recording being sealed for its final upload, and uploads them after all if the seal fails', async () => {
    const id = 's-20261123T000000Z-0000000c';
    const { clock, store, uploader, r } = await recording(id);
    const chunkPuts = () => store.keys.filter((k) => k.includes('/chunks/')).length;
    await burst(r);
    await r.sealed();
    clock.advance(10_000); // due now
    uploader.sealing(id, true); // the session has ended: the whole file is being hashed and signed
    await uploader.kick();
    expect(chunkPuts()).toBe(0);
    expect(uploader.getHealth().pending).toBeGreaterThan(0); // still counted as waiting
    // The seal failed (the recording is still in active/): its chunks go as they would have.
    uploader.sealing(id, false);
    await uploader.kick();
    expect(chunkPuts()).toBeGreaterThanOrEqual(3);
    await r.close('session ended: test');
  });

  it('uploads a burst that ends before its chunks are due once, as the final object', async () => {
    const id = 's-20261123T000000Z-0000000b';
    const { spool, clock, store, uploader, r } = await recording(id);
    await burst(r);
    clock.advance(2_000);
    const done = await r.close('session ended: test');
    await uploader.kick(); // the session has ended, its recording not sealed yet: its chunks still wait
    expect(store.keys).toEqual([]);
    expect(done.chunks.length).toBeGreaterThanOrEqual(3);
    const { privateKey } = ed25519KeyPair();
    await spool.seal(id, signManifest({
      version: 1, session_id: id, started_at: new Date(1_795_000_000_000).toISOString(), ended_at: new Date(clock.now()).toISOString(),
      incomplete: false, end_reason: 'test', recording: { bytes: done.bytes, sha256: 'x' }, chunks: done.chunks, chain: done.chunks.at(-1)!.chain, metadata: header(id).bastion,
    }, privateKey));
    await uploader.kick();
    expect(store.keys.filter((k) => k.includes('/chunks/'))).toEqual([]);
    expect(store.keys.map((k) => k.split('/').pop())).toEqual([`${id}.cast.gz`, `${id}.manifest.json`]);
    expect(uploader.getHealth()).toMatchObject({ pending: 0, uploaded: 1 });
  });
});

describe('Uploader: the room a compressed copy of a recording needs', () => {
  it('reads the spool filesystem\'s free and total space as df does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upl-space-'));
    const df = spawnSync('df', ['-B1', '--output=avail,size', dir], { encoding: 'utf8' });
    expect(df.status).toBe(0);
    const [avail, size] = df.stdout.trim().split('\n')[1]!.trim().split(/\s+/).map(Number);
    const got = await spaceOf(dir);
    expect(got.total).toBe(size);
    expect(Math.abs(got.free - avail!)).toBeLessThan(Math.max(64 * 1024 * 1024, avail! * 0.01)); // other writers move it a little
  });
});
