import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecorderThread, RemoteRecorder } from '../../src/recording/recorder-client.js';
import { systemClock } from '../../src/clock.js';
import type { Header } from '../../src/recording/asciicast.js';

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

  it('refuses a recording it cannot create, with the reason', async () => {
    await expect(RemoteRecorder.create(thread, systemClock, { castPath: '/nonexistent/dir/x.cast', chunksPath: '/nonexistent/dir/x.chunks', header: header('s-20261123T000000Z-0000000c'), flushMs: 1000, chunkMs: 10_000, chunkBytes: 1 << 20 })).rejects.toThrow(/ENOENT/);
  });
});
