import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkHash, sha256OfPieces } from '../../src/recording/chunk-hash.js';
import { loadAddon } from '../../src/native/load-addon.js';

describe('chunkHash (SHA-256 of spool chunks, in the thread pool)', () => {
  it('is the addon’s pool hash here, and gives exactly node:crypto’s SHA-256 over pieces added in order, chunk after chunk', async () => {
    const addon = loadAddon<{ hashNew?: unknown }>('asciicast');
    expect(typeof addon?.hashNew).toBe('function'); // built by npm install: the test is about it
    const h = chunkHash();
    for (const sizes of [[0], [1], [3, 65536, 7], [1 << 20, 1 << 20, 5]]) {
      const pieces = sizes.map((n) => randomBytes(n));
      // Several updates per chunk, each awaited, as the recorder does.
      await h.update(pieces.slice(0, 1));
      await h.update(pieces.slice(1));
      const want = createHash('sha256');
      for (const p of pieces) want.update(p);
      expect(h.digest()).toBe(want.digest('hex'));
    }
    // A digest starts again: nothing added since is the hash of nothing.
    expect(h.digest()).toBe(createHash('sha256').digest('hex'));
  });

  it('sha256OfPieces gives node:crypto’s hex SHA-256 of the pieces in order, each call on its own', async () => {
    const pieces = [randomBytes(32 << 20), randomBytes(3)];
    const [a, b] = await Promise.all([sha256OfPieces(pieces), sha256OfPieces([pieces[1]!])]);
    expect(a).toBe(createHash('sha256').update(pieces[0]!).update(pieces[1]!).digest('hex'));
    expect(b).toBe(createHash('sha256').update(pieces[1]!).digest('hex'));
    expect(await sha256OfPieces([])).toBe(createHash('sha256').digest('hex'));
  });

  it('holds its pieces until done (the caller may drop them at once) and refuses misuse with a TypeError', async () => {
    const a = loadAddon<{ hashNew(): object; hashUpdate(h: object, b: unknown, cb: unknown): void; hashDigest(h: object): string }>('asciicast')!;
    const h = a.hashNew();
    const data = randomBytes(8 << 20);
    const want = createHash('sha256').update(data).digest('hex');
    const done = new Promise<Error | null>((resolve) => a.hashUpdate(h, [Buffer.from(data)], resolve));
    expect(() => a.hashUpdate(h, [data], () => undefined)).toThrow(/still running/);
    expect(() => a.hashDigest(h)).toThrow(/still running/);
    expect(await done).toBeNull();
    expect(a.hashDigest(h)).toBe(want);
    expect(() => a.hashUpdate(h, ['not bytes'], () => undefined)).toThrow(TypeError);
    expect(() => a.hashUpdate({}, [data], () => undefined)).toThrow(TypeError);
    expect(() => (a.hashUpdate as (...args: unknown[]) => void)(h, [data])).toThrow(TypeError);
    expect(() => a.hashDigest(42 as unknown as object)).toThrow(TypeError);
    // A refused update leaves the hash as it was.
    expect(a.hashDigest(h)).toBe(createHash('sha256').digest('hex'));
  });
});
