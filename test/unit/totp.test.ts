import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, generateSecret } from 'otplib';
import { normalizeCode, readTotpSecret, TotpVerifier } from '../../src/auth/totp.js';
import { MemoryKvStore } from '../../src/state/kv-store.js';
import { Secret } from '../../src/secret.js';
import { oathtool } from '../helpers/tools.js';

const T0 = Date.parse('2026-11-23T10:00:10Z');

describe('TotpVerifier', () => {
  const secret = generateSecret({ length: 20 });
  const codeAt = (ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

  it('agrees with oathtool, computed independently', async () => {
    const v = new TotpVerifier(new MemoryKvStore());
    const code = oathtool(secret, new Date(T0));
    expect(await v.check('alice', new Secret(secret), code, T0)).toMatchObject({ ok: true });
  });

  it('accepts the previous and next step, not two steps away', async () => {
    const v = new TotpVerifier(new MemoryKvStore());
    expect((await v.check('a', new Secret(secret), await codeAt(T0 - 30_000), T0)).ok).toBe(true);
    expect((await v.check('b', new Secret(secret), await codeAt(T0 + 30_000), T0)).ok).toBe(true);
    expect(await v.check('c', new Secret(secret), await codeAt(T0 - 60_000), T0)).toEqual({ ok: false, reason: 'invalid' });
    expect(await v.check('d', new Secret(secret), await codeAt(T0 + 60_000), T0)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a code used before, and any older code, for the same user only', async () => {
    const v = new TotpVerifier(new MemoryKvStore());
    const now = await codeAt(T0);
    expect((await v.check('alice', new Secret(secret), now, T0)).ok).toBe(true);
    expect(await v.check('alice', new Secret(secret), now, T0 + 5_000)).toEqual({ ok: false, reason: 'replayed' });
    expect(await v.check('alice', new Secret(secret), await codeAt(T0 - 30_000), T0)).toEqual({ ok: false, reason: 'replayed' });
    expect((await v.check('bob', new Secret(secret), now, T0)).ok).toBe(true);
    expect((await v.check('alice', new Secret(secret), await codeAt(T0 + 30_000), T0 + 30_000)).ok).toBe(true);
  });

  it('lets only one of two simultaneous logins with the same code through', async () => {
    const v = new TotpVerifier(new MemoryKvStore());
    const code = await codeAt(T0);
    const results = await Promise.all([v.check('alice', new Secret(secret), code, T0), v.check('alice', new Secret(secret), code, T0)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it.each(['', 'abcdef', '1234567', '12345', '12 34 5a', '９９９９９９', '1'.repeat(1024 * 1024)])('refuses the malformed answer %#, never throwing', async (answer) => {
    const v = new TotpVerifier(new MemoryKvStore());
    expect(await v.check('alice', new Secret(secret), answer, T0)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('accepts a code typed with a space in the middle', async () => {
    const code = await codeAt(T0);
    expect(normalizeCode(`${code.slice(0, 3)} ${code.slice(3)}`)).toBe(code);
  });

  it('refuses instead of throwing when the secret itself is unusable', async () => {
    const v = new TotpVerifier(new MemoryKvStore());
    expect(await v.check('alice', new Secret('SHORT'), '123456', T0)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('reads secret files, treating missing or junk files as not enrolled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'totp-'));
    writeFileSync(join(dir, 'ok'), secret + '\n');
    writeFileSync(join(dir, 'junk'), 'not base32 at all!\n');
    expect((await readTotpSecret(join(dir, 'ok')))?.reveal()).toBe(secret);
    expect(await readTotpSecret(join(dir, 'junk'))).toBeUndefined();
    expect(await readTotpSecret(join(dir, 'missing'))).toBeUndefined();
    expect(String(await readTotpSecret(join(dir, 'ok')))).toBe('[redacted]');
  });
});
