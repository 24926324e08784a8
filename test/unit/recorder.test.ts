import { describe, expect, it } from 'vitest';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ed25519KeyPair } from '../../src/auth/keygen.js';
import { Recorder } from '../../src/recording/recorder.js';
import { ManualClock } from '../../src/clock.js';
import { encodeEvent, parseLine, type Header } from '../../src/recording/asciicast.js';
import { signManifest, verifyRecording } from '../../src/recording/manifest.js';
import { Spool } from '../../src/storage/spool.js';
import { PromptSecretDetector } from '../../src/recording/secret-input.js';
import { nativeEscapeAvailable } from '../../src/recording/json-escape.js';
import { expectChunksOf } from '../helpers/chunks.js';

const header = (id: string): Header => ({
  version: 2,
  width: 80,
  height: 24,
  timestamp: 1_795_000_000,
  title: 't',
  env: { TERM: 'xterm' },
  bastion: { session_id: id, user: 'alice', target: 'shell', source_ip: '127.0.0.1', ticket: 'INC-1', reason: 'r', break_glass: false, via: 'standing', mfa: 'totp', kind: 'shell', bastion_host: 'h', bastion_version: '0' },
});

async function record(fn: (r: Recorder, clock: ManualClock) => void | Promise<void>, opts: { chunkBytes?: number } = {}) {
  const spool = new Spool(mkdtempSync(join(tmpdir(), 'rec-')));
  const clock = new ManualClock(1_795_000_000_000);
  const id = 's-20261123T000000Z-00000001';
  const p = spool.activePaths(id);
  const r = await Recorder.create({ castPath: p.cast, chunksPath: p.chunks, header: header(id), clock, flushMs: 60_000, chunkMs: 60_000, chunkBytes: opts.chunkBytes ?? 1 << 20 });
  await fn(r, clock);
  const done = await r.close('session ended: test');
  return { spool, id, done, text: readFileSync(p.cast, 'utf8') };
}

describe('Recorder', () => {
  it('writes output and input escaped from their bytes (its fast path) as the same bytes as the general encoder: control characters, quotes, every length of UTF-8, half and invalid characters', async () => {
    const chunks = [
      Buffer.from('plain text\r\n'),
      Buffer.from('"quoted" \\ back\tslash \x1b[1mbold\x1b[0m \x00\x07\x7f\b\f'),
      Buffer.from('caf\xc3', 'latin1'), // a character cut in half: the rest waits for its byte
      Buffer.from('\xa9 then ascii', 'latin1'),
      Buffer.from('ascii after it'),
      Buffer.from('│ héllo ─ ✓ 日本語 😀 \u2028 \u00a0\r\n'),
      Buffer.from([0xff, 0x41]), // invalid UTF-8: the decoder's replacement character
      Buffer.from([0xc0, 0x80, 0x41]), // an overlong NUL
      Buffer.from([0xed, 0xa0, 0x80, 0x42]), // a surrogate
      Buffer.from([0xf4, 0x90, 0x80, 0x80, 0x43]), // past U+10FFFF
      Buffer.from([0x44, 0x80, 0x45]), // a lone continuation byte
      Buffer.from('😀'.repeat(3)).subarray(0, 10), // ends inside the third
      Buffer.from('😀').subarray(2),
      Buffer.from('x'.repeat(100_000)),
      Buffer.from('\x00'.repeat(70_000)),
    ];
    const { text } = await record((r) => {
      for (const c of chunks) {
        r.output(c);
        r.input(c);
      }
    });
    const events = text.trim().split('\n').slice(1, -1);
    const { StringDecoder } = await import('node:string_decoder');
    const out = new StringDecoder('utf8');
    const inp = new StringDecoder('utf8');
    const expected = chunks.flatMap((c) => [encodeEvent(0, 'o', out.write(c)), encodeEvent(0, 'i', inp.write(c))]).filter((l) => !l.endsWith(', ""]'));
    expect(events).toEqual(expected);
    expect(nativeEscapeAvailable).toBe(true); // so the native escaper is what was compared
  });

  it('writes asciicast v2 with times, keeps characters split across reads whole, redacts hidden input', async () => {
    const euro = Buffer.from('price: 5€\r\n');
    const { text } = await record((r, clock) => {
      r.resize(120, 40);
      clock.advance(1500);
      r.output(euro.subarray(0, 10)); // cuts the € in the middle
      r.output(euro.subarray(10));
      r.input(Buffer.from('ls\r'));
      r.redacted(Buffer.byteLength('hunter2\r'));
    });
    const lines = text.trim().split('\n');
    expect(parseLine(lines[0]!, true).kind).toBe('header');
    const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.map((e) => e[1])).toEqual(['r', 'o', 'o', 'i', 'm', 'm']);
    expect(events[0]).toEqual([0, 'r', '120x40']);
    expect(events[1]).toEqual([1.5, 'o', 'price: 5']); // the € waits for its last byte
    expect(events[2]).toEqual([1.5, 'o', '€\r\n']);
    expect(text).not.toContain('\ufffd');
    expect(events[4]![2]).toBe('[redacted input: 8 bytes typed with echo off]');
    expect(text).not.toContain('hunter2');
    expect(events[5]![2]).toBe('session ended: test');
  });

  it('bulk output closes chunks by size as it comes, without waiting for the flush timer', async () => {
    const { done, spool, id } = await record(async (r) => {
      for (let i = 0; i < 2000; i++) {
        r.output(Buffer.from(`line ${i} ${'x'.repeat(2000)}\r\n`)); // 4 MB, no flush
        if (i % 100 === 99) await r.settled(); // as the recording thread's acknowledgements pace it
      }
    }, { chunkBytes: 512 * 1024 });
    expect(done.chunks.length).toBeGreaterThanOrEqual(4);
    // At most one write (here 200 KB of events) past the size: the uploader never holds a huge chunk.
    for (const c of done.chunks) expect(c.length).toBeLessThan(512 * 1024 + 300 * 1024);
    // Chunks are synced and recorded while the next ones are written: still in order, end to end,
    // each hash that of its bytes, and the chunk list on disk the same as the one returned.
    const bytes = readFileSync(spool.activePaths(id).cast);
    expect(expectChunksOf(bytes, done.chunks, spool.activePaths(id).chunks)).toBe(bytes.length);
  });

  it('chains chunks; a signed manifest verifies and names the chunk a changed byte is in', async () => {
    const { done, text } = await record(async (r) => {
      for (let i = 0; i < 200; i++) {
        r.output(Buffer.from(`line ${i} ${'x'.repeat(2000)}\r\n`));
        if (i % 40 === 39) await r.flush(); // what the 1 s timer does
      }
    }, { chunkBytes: 64 * 1024 });
    expect(done.chunks.length).toBeGreaterThan(1);
    const { privateKey, publicKey } = ed25519KeyPair();
    const bytes = Buffer.from(text);
    const m = signManifest(
      { version: 1, session_id: 's-20261123T000000Z-00000001', started_at: '', ended_at: '', incomplete: false, end_reason: 'x', recording: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }, chunks: done.chunks, chain: done.chunks.at(-1)!.chain, metadata: header('x').bastion },
      privateKey,
    );
    expect(verifyRecording(bytes, JSON.stringify(m), [publicKey])).toMatchObject({ ok: true });
    const second = done.chunks[1]!;
    const bad = Buffer.from(bytes);
    bad[second.offset + 5] = bad[second.offset + 5]! ^ 1;
    expect(verifyRecording(bad, JSON.stringify(m), [publicKey])).toMatchObject({ ok: false, where: `chunk 1 (bytes ${second.offset}-${second.offset + second.length - 1})` });
    const other = ed25519KeyPair();
    expect(verifyRecording(bytes, JSON.stringify(m), [other.publicKey])).toMatchObject({ ok: false, where: 'signature' });
  });

  it('lets the page cache go of what it has fsynced (a flood takes recycled pages, not fresh ones), and the file is still whole', async () => {
    // On the repository's disk, not /tmp, which may be tmpfs (its pages cannot be dropped).
    const dir = mkdtempSync(join(process.cwd(), 'node_modules', '.cache-page-cache-'));
    try {
      const resident = (file: string) => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
      const flood = Buffer.alloc(1 << 20); // 6 MB of asciicast per write (a NUL is \u0000)
      // The control: the same amount written and fsynced plainly stays cached on this disk.
      const control = join(dir, 'control');
      const fd = openSync(control, 'w');
      for (let i = 0; i < 4; i++) writeSync(fd, Buffer.alloc(6 << 20, 'a'));
      fsyncSync(fd);
      closeSync(fd);
      expect(resident(control)).toBeGreaterThan(20 << 20);
      const spool = new Spool(dir);
      const id = 's-20261123T000000Z-00000003';
      const p = spool.activePaths(id);
      const clock = new ManualClock(1_795_000_000_000);
      const r = await Recorder.create({ castPath: p.cast, chunksPath: p.chunks, header: header(id), clock, flushMs: 60_000, chunkMs: 60_000, chunkBytes: 8 << 20 });
      for (let i = 0; i < 4; i++) {
        r.output(flood);
        await r.flush(); // what the 1 s timer does: write, fsync, then let the synced bytes go
      }
      expect(statSync(p.cast).size).toBeGreaterThan(24 << 20);
      expect(resident(p.cast)).toBeLessThan(1 << 20); // at most the page cut by the last sync, and the 64 KB before it
      const done = await r.close('session ended: test');
      // Read back from the disk, every byte is there and in its chunks.
      const bytes = readFileSync(p.cast);
      expect(bytes.length).toBe(done.bytes);
      expect(expectChunksOf(bytes, done.chunks, p.chunks)).toBe(bytes.length);
      const events = bytes.toString('utf8').split('\n').slice(1, 5).map((l) => parseLine(l, false));
      expect(events).toEqual(Array.from({ length: 4 }, () => expect.objectContaining({ kind: 'event', code: 'o', data: '\0'.repeat(1 << 20) })));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recovers a recording cut mid-line by a crash as valid, incomplete asciicast', async () => {
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'rec-')));
    const id = 's-20261123T000000Z-00000002';
    const { writeFileSync } = await import('node:fs');
    writeFileSync(spool.activePaths(id).cast, JSON.stringify(header(id)) + '\n[0.5, "o", "hello"]\n[0.9, "o", "wor');
    const m = await spool.recover(id);
    expect(m).toMatchObject({ incomplete: true, recording: { bytes: Buffer.byteLength(JSON.stringify(header(id)) + '\n[0.5, "o", "hello"]\n') } });
    expect(readFileSync(spool.activePaths(id).cast, 'utf8').endsWith('"hello"]\n')).toBe(true);
  });
});

describe('PromptSecretDetector (upstream targets, best effort)', () => {
  it('hides the line typed after a password prompt, up to Enter', () => {
    const d = new PromptSecretDetector();
    d.output('$ ');
    expect(d.input(Buffer.from('sudo -i\r'))).toBe(false);
    d.output('[sudo] password for alice: ');
    expect(d.input(Buffer.from('hun'))).toBe(true);
    expect(d.input(Buffer.from('ter2\r'))).toBe(true);
    d.output('\r\nroot# ');
    expect(d.input(Buffer.from('id\r'))).toBe(false);
  });
});

describe('Spool sealing after a crash', () => {
  it('moves a sealed recording whose manifest never appeared back to active, to be recovered', async () => {
    const { writeFileSync, existsSync } = await import('node:fs');
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'rec-')));
    const id = 's-20261123T000000Z-00000003';
    writeFileSync(spool.sealedPaths(id).cast, JSON.stringify(header(id)) + '\n');
    expect(await spool.sealedIds()).toEqual([]);
    await spool.recoverOrphans();
    expect(existsSync(spool.activePaths(id).cast)).toBe(true);
    expect(await spool.activeIds()).toEqual([id]);
    expect(await spool.recover(id)).toMatchObject({ incomplete: true, session_id: id });
  });

  it('removes the compressed copy an upload left behind, and nothing else of the recording', async () => {
    const { writeFileSync, existsSync, readdirSync } = await import('node:fs');
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'rec-')));
    const id = 's-20261123T000000Z-00000004';
    const p = spool.sealedPaths(id);
    writeFileSync(p.cast, JSON.stringify(header(id)) + '\n');
    writeFileSync(p.manifest, '{}');
    writeFileSync(p.gzip, 'half a gzip');
    await spool.recoverOrphans();
    expect(existsSync(p.gzip)).toBe(false);
    expect(readdirSync(spool.sealed).sort()).toEqual([`${id}.cast`, `${id}.manifest.json`]);
    expect(await spool.sealedIds()).toEqual([id]);
  });
});
