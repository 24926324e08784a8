/**
 * A small key-value port for state that a fleet of bastion nodes will share (lockouts, used TOTP
 * steps, later grants and reviews). One node uses `FileKvStore`; a Redis adapter can implement the
 * same contract. `update` must be atomic per key: the function sees the current value and its
 * result is stored before any other update of that key starts.
 */
export interface KvStore<T> {
  get(key: string): Promise<T | undefined>;
  /** Applies `fn` to the current value; returning undefined deletes the key. Resolves to the stored value. */
  update(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  /** Every key and value (small stores only: grants, reviews). */
  entries(): Promise<[string, T][]>;
}

/** An in-memory KvStore (tests, and state that need not survive a restart). */
export class MemoryKvStore<T> implements KvStore<T> {
  private readonly map = new Map<string, T>();
  async get(key: string): Promise<T | undefined> {
    return this.map.get(key);
  }
  async update(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const next = fn(this.map.get(key));
    if (next === undefined) this.map.delete(key);
    else this.map.set(key, next);
    return next;
  }
  async entries(): Promise<[string, T][]> {
    return [...this.map.entries()];
  }
}
