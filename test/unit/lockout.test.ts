import { describe, expect, it } from 'vitest';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lockouts, type LockoutRecord } from '../../src/auth/lockout.js';
import { ConnectionLimiter } from '../../src/auth/rate-limit.js';
import { MemoryKvStore } from '../../src/state/kv-store.js';
import { FileKvStore } from '../../src/state/file-kv-store.js';
import { ManualClock } from '../../src/clock.js';

const policy = { max_failures: 5, window: 15 * 60_000, duration: 15 * 60_000 };

describe('Lockouts', () => {
  it('locks after 5 failures within 15 minutes, for 15 minutes', async () => {
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
    const l = new Lockouts(new MemoryKvStore<LockoutRecord>(), policy);
    for (let i = 1; i <= 4; i++) {
      expect(await l.fail('alice', clock.now())).toMatchObject({ locked: false, remaining: 5 - i });
      clock.advance(60_000);
    }
    const fifth = await l.fail('alice', clock.now());
    expect(fifth).toMatchObject({ locked: true, until: clock.now() + 15 * 60_000 });
    clock.advance(15 * 60_000 - 1);
    expect((await l.status('alice', clock.now())).locked).toBe(true);
    clock.advance(1);
    expect((await l.status('alice', clock.now())).locked).toBe(false);
    expect((await l.status('bob', clock.now())).locked).toBe(false);
  });

  it('forgets failures older than the window', async () => {
    const clock = new ManualClock(0);
    const l = new Lockouts(new MemoryKvStore<LockoutRecord>(), policy);
    for (let i = 0; i < 4; i++) await l.fail('alice', clock.now());
    clock.advance(16 * 60_000);
    expect(await l.fail('alice', clock.now())).toMatchObject({ locked: false, remaining: 4 });
  });

  it('a success clears the count', async () => {
    const l = new Lockouts(new MemoryKvStore<LockoutRecord>(), policy);
    for (let i = 0; i < 4; i++) await l.fail('alice', 1000);
    await l.succeed('alice', 1500);
    expect(await l.fail('alice', 2000)).toMatchObject({ locked: false, remaining: 4 });
  });

  it('a success on one connection does not lift a lock set by others meanwhile', async () => {
    const l = new Lockouts(new MemoryKvStore<LockoutRecord>(), policy);
    for (let i = 0; i < 5; i++) await l.fail('alice', 1000);
    await l.succeed('alice', 2000);
    expect(await l.status('alice', 2000)).toEqual({ locked: true, until: 1000 + 15 * 60_000 });
  });

  it('survives a restart when kept in a file (0600)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'lock-')), 'state', 'lockouts.json');
    const first = new Lockouts(new FileKvStore<LockoutRecord>(path), policy);
    for (let i = 0; i < 5; i++) await first.fail('alice', 1000);
    const second = new Lockouts(new FileKvStore<LockoutRecord>(path), policy);
    expect(await second.status('alice', 2000)).toEqual({ locked: true, until: 1000 + 15 * 60_000 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('ConnectionLimiter', () => {
  it('limits new connections per minute and pending logins per source', () => {
    const lim = new ConnectionLimiter({ connections_per_minute: 3, max_pending_per_ip: 2 });
    expect(lim.admit('10.0.0.1', 0)).toEqual({ ok: true });
    expect(lim.admit('10.0.0.1', 1)).toEqual({ ok: true });
    expect(lim.admit('10.0.0.1', 2)).toEqual({ ok: false, reason: 'pending' });
    lim.settle('10.0.0.1');
    expect(lim.admit('10.0.0.1', 3)).toEqual({ ok: true });
    lim.settle('10.0.0.1');
    expect(lim.admit('10.0.0.1', 4)).toEqual({ ok: false, reason: 'rate' });
    expect(lim.admit('10.0.0.2', 4)).toEqual({ ok: true });
    // A minute later the rate window has moved on; one login is still pending, so one more fits.
    expect(lim.admit('10.0.0.1', 60_004)).toEqual({ ok: true });
    expect(lim.admit('10.0.0.1', 60_005)).toEqual({ ok: false, reason: 'pending' });
  });
});
