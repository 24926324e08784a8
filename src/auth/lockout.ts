import type { KvStore } from '../state/kv-store.js';

export interface LockoutPolicy {
  readonly max_failures: number;
  readonly window: number; // ms
  readonly duration: number; // ms
}

/** What is kept per user: recent failure times and, when locked, until when. */
export interface LockoutRecord {
  failures: number[];
  lockedUntil?: number;
}

export type LockStatus = { locked: false } | { locked: true; until: number };

/** Pure: the lock status of a record at `now`. */
export function lockStatus(rec: LockoutRecord | undefined, now: number): LockStatus {
  if (rec?.lockedUntil !== undefined && rec.lockedUntil > now) return { locked: true, until: rec.lockedUntil };
  return { locked: false };
}

/** Pure: the record after one more failure at `now`. Failures outside the window are forgotten. */
export function addFailure(rec: LockoutRecord | undefined, now: number, policy: LockoutPolicy): LockoutRecord {
  const failures = [...(rec?.failures ?? []).filter((t) => t > now - policy.window), now];
  if (failures.length >= policy.max_failures) return { failures: [], lockedUntil: now + policy.duration };
  const still = rec?.lockedUntil !== undefined && rec.lockedUntil > now ? rec.lockedUntil : undefined;
  return still === undefined ? { failures } : { failures, lockedUntil: still };
}

/** Failure counting and lockouts per user, over a shared store. */
export class Lockouts {
  constructor(
    private readonly store: KvStore<LockoutRecord>,
    private readonly policy: LockoutPolicy,
  ) {}

  async status(user: string, now: number): Promise<LockStatus> {
    return lockStatus(await this.store.get(user), now);
  }

  /** Records a failure; resolves to the resulting status (locked when this failure crossed the threshold). */
  async fail(user: string, now: number): Promise<LockStatus & { remaining: number }> {
    const rec = await this.store.update(user, (cur) => addFailure(cur, now, this.policy));
    const status = lockStatus(rec, now);
    const remaining = status.locked ? 0 : this.policy.max_failures - (rec?.failures.length ?? 0);
    return { ...status, remaining };
  }

  /** A successful MFA clears the failure history, but never an active lock (another connection may have set it). */
  async succeed(user: string, now: number): Promise<void> {
    await this.store.update(user, (cur) => (cur?.lockedUntil !== undefined && cur.lockedUntil > now ? cur : undefined));
  }
}
