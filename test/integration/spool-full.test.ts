import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChunkRecord } from '../../src/recording/chain.js';
import { expectChunksOf } from '../helpers/chunks.js';

const dist = (p: string) => pathToFileURL(resolve(import.meta.dirname, '../../dist/src', p)).href;

// The built recorder in a process of its own whose files may not grow past LIMIT bytes
// (RLIMIT_FSIZE, set by util-linux prlimit): the kernel's own disk-full behaviour, a write cut
// short and then EFBIG (Node ignores SIGXFSZ), with nothing faked.
const LIMIT = 1_000_000;
const script = `
import { Recorder } from '${dist('recording/recorder.js')}';
import { systemClock } from '${dist('clock.js')}';
const [castPath, chunksPath] = process.argv.slice(2);
const header = { version: 2, width: 80, height: 24, timestamp: Math.floor(Date.now() / 1000), title: 't', env: { TERM: 'xterm' },
  bastion: { session_id: 's-1', user: 'alice', target: 'shell', source_ip: '127.0.0.1', ticket: 'INC-1', reason: 'r', break_glass: false, via: 'standing', mfa: 'totp', kind: 'shell', bastion_host: 'h', bastion_version: '0' } };
const failures = [];
const r = await Recorder.create({ castPath, chunksPath, header, clock: systemClock, flushMs: 20, chunkMs: 60000, chunkBytes: 128 * 1024,
  onFailure: (err) => failures.push(String(err?.message ?? err)) });
for (let i = 0; i < 2000 && failures.length === 0; i++) {
  r.output(Buffer.from('line ' + i + ' ' + 'x'.repeat(2000) + '\\r\\n'));
  if (i % 50 === 49) await r.settled();
}
const done = await r.close('session ended');
console.log(JSON.stringify({ failures, failed: String(done.failed?.message ?? ''), bytes: done.bytes, chunks: done.chunks }));
`;

describe('a spool whose disk fills up', () => {
  it('fails the recording with the reason; every chunk closed before is recorded, on disk, whole, with its hash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-full-'));
    writeFileSync(join(dir, 'rec.mjs'), script);
    const cast = join(dir, 's-1.cast');
    const run = spawnSync('prlimit', [`--fsize=${LIMIT}`, process.execPath, join(dir, 'rec.mjs'), cast, join(dir, 's-1.chunks')], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { failures: string[]; failed: string; bytes: number; chunks: ChunkRecord[] };
    expect(out.failures).toHaveLength(1);
    expect(out.failures[0]).toMatch(/spool|too large/i);
    expect(out.failed).toBe(out.failures[0]);

    const bytes = readFileSync(cast);
    expect(bytes.length).toBe(LIMIT); // the disk took what it could
    expect(out.bytes).toBeLessThanOrEqual(bytes.length); // never counts bytes the disk refused
    // Chunks closed before the failing write are still recorded (their bytes are on disk and synced).
    const last = out.chunks.at(-1)!;
    expect(last.offset + last.length).toBeGreaterThan(LIMIT - 400_000);
    expectChunksOf(bytes, out.chunks, join(dir, 's-1.chunks'));
  });
});
