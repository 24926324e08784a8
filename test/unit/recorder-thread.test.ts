import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecorderThread, RemoteRecorder } from '../../src/recording/recorder-client.js';
import { systemClock } from '../../src/clock.js';
import type { Header } from '../../src/recording/asciicast.js';
import { REUSED_FROM } from '../../src/recording/worker-protocol.js';

const header = (id: string): Header => ({
  version: 2,
  width: 80,
  height: 24,
  timestamp: Math.floor(Date.now() / 1000),
  title: 't',
  env: {},
  bastion: { session_id: id, user: 'a', target: 't', source_ip: '127.0.0.1', ticket: 'INC-1', reason: 'r', break_glass: false, via: 'standing', mfa: 'totp', kind: 'shell', bastion_host: 'h', bastion_version: '0' },
});

describe('the recording thread', () => {
  const thread = new RecorderThread();
  afterAll(() => thread.stop());
  const dir = mkdtempSync(join(tmpdir(), 'rt-'));
  const open = (id: string, onFailure: (e: unknown) => void = () => undefined) =>
    RemoteRecorder.create(thread, systemClock, { castPath: join(dir, `${id}.cast`), chunksPath: join(dir, `${id}.chunks`), header: header(id), flushMs: 1000, chunkMs: 10_000, chunkBytes: 1 << 20, onFailure });

  it('when it dies, running recordings fail (their sessions get closed) and a new thread takes new ones', async () => {
    const failures: unknown[] = [];
    const r = await open('s-20261123T000000Z-0000000a', (e) => failures.push(e));
    r.output(Buffer.from('hello'));
    await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const closed = await r.close('end');
    expect(String(closed.failed)).toContain('the recording thread stopped');
    expect(failures).toHaveLength(1);
    const next = await open('s-20261123T000000Z-0000000b');
    next.output(Buffer.from('still recorded'));
    expect(await next.close('end')).toMatchObject({ bytes: expect.any(Number) });
  });

  it('hands big batch buffers back and uses them again, for any session; a recording gets only its own bytes', async () => {
    const outputOf = (id: string) =>
      readFileSync(join(dir, `${id}.cast`), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l) as [number, string, string])
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join('');
    const a = await open('s-20261123T000000Z-0000000e');
    a.output(Buffer.alloc(300_000, 'a')); // a batch of its own, in a fresh 512 KB buffer
    await a.close('end'); // its acknowledgement, with the buffer, came first
    const b = await open('s-20261123T000000Z-0000000f');
    b.output(Buffer.alloc(100_000, 'b')); // in a's buffer, whose bytes past 100,000 are a's
    await b.close('end');
    expect(outputOf('s-20261123T000000Z-0000000e')).toBe('a'.repeat(300_000));
    expect(outputOf('s-20261123T000000Z-0000000f')).toBe('b'.repeat(100_000));
    // The buffer came back again: b's bytes, then what is left of a's.
    const again = new Uint8Array(thread.batchBuffer(REUSED_FROM).buffer);
    expect([again.length, again[0], again[99_999], again[150_000], again[299_999], again[300_000]]).toEqual([512 * 1024, 0x62, 0x62, 0x61, 0x61, 0]);
  });

  it('refuses a recording it cannot create, with the reason', async () => {
    await expect(RemoteRecorder.create(thread, systemClock, { castPath: '/nonexistent/dir/x.cast', chunksPath: '/nonexistent/dir/x.chunks', header: header('s-20261123T000000Z-0000000c'), flushMs: 1000, chunkMs: 10_000, chunkBytes: 1 << 20 })).rejects.toThrow(/ENOENT/);
  });
});

describe('backpressure from the recording thread', () => {
  /** A thread that takes the recording but never acknowledges a batch: a spool disk that hangs. */
  function hungThread() {
    const handlers = new Map<string, { created(err?: string): void }>();
    return {
      register: (id: string, h: { created(err?: string): void }) => handlers.set(id, h),
      send: (m: { op: string; id: string }) => (m.op === 'create' ? handlers.get(m.id)?.created() : undefined),
      has: () => true,
      batchBuffer: (size: number) => new Uint8Array(size),
    } as unknown as RecorderThread;
  }

  it('pauses the session while the thread is behind, and fails the recording when it makes no progress', async () => {
    const failures: unknown[] = [];
    const r = await RemoteRecorder.create(hungThread(), systemClock, {
      castPath: '/unused',
      chunksPath: '/unused',
      header: header('s-20261123T000000Z-0000000d'),
      flushMs: 1000,
      chunkMs: 10_000,
      chunkBytes: 1 << 20,
      onFailure: (e) => failures.push(e),
      stallMs: 200,
    });
    expect(r.backlog()).toBeUndefined();
    for (let i = 0; i < 20; i++) r.output(Buffer.alloc(256 * 1024, 0x61)); // 5 MB, never acknowledged
    const wait = r.backlog();
    expect(wait).toBeInstanceOf(Promise);
    expect(r.backlog()).toBe(wait); // one wait for everyone
    const t0 = Date.now();
    await wait; // released by the stall deadline, not left hanging
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(failures.map(String)).toEqual(['Error: the recording made no progress for 0.2 s (is the spool\'s disk hanging?)']);
    expect(r.backlog()).toBeUndefined(); // a failed recording holds nothing back (the session decides)
  });
});
