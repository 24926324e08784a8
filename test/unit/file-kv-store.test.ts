import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKvStore } from '../../src/state/file-kv-store.js';

describe('FileKvStore', () => {
  it('loses no update when two stores share the file (the server and the CLI), their writes now running on the thread pool', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-'));
    const path = join(dir, 'counts.json');
    const a = new FileKvStore<number>(path);
    const b = new FileKvStore<number>(path);
    const bump = (s: FileKvStore<number>, key: string) => s.update(key, (n) => (n ?? 0) + 1);
    // Interleaved: each store's update is a read-modify-write under the file lock, while the
    // other's write may still be on its way to the disk.
    await Promise.all(Array.from({ length: 25 }, (_, i) => [bump(a, 'x'), bump(b, 'x'), bump(i % 2 ? a : b, `k${i % 3}`)]).flat());
    expect(await a.get('x')).toBe(50);
    expect(await b.entries()).toEqual(expect.arrayContaining([['x', 50], ['k0', 9], ['k1', 8], ['k2', 8]]));
    // Deleting goes through the same path.
    await b.update('k2', () => undefined);
    expect(await a.get('k2')).toBeUndefined();
    // What is left on disk: the file alone (no lock, no temp file), 0600, valid JSON.
    expect(readdirSync(dir)).toEqual(['counts.json']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ x: 50, k0: 9, k1: 8 });
  });
});
