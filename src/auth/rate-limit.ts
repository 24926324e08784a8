/**
 * Per-source connection limits, kept in memory on each node: a sliding one-minute count of new
 * connections and a cap on connections still logging in. Pure apart from its own maps.
 */
export class ConnectionLimiter {
  private readonly recent = new Map<string, number[]>();
  private readonly pending = new Map<string, number>();

  constructor(private readonly limits: { connections_per_minute: number; max_pending_per_ip: number }) {}

  /** Admits a new connection from `ip` at `now`, or says why not. */
  admit(ip: string, now: number): { ok: true } | { ok: false; reason: 'rate' | 'pending' } {
    const times = (this.recent.get(ip) ?? []).filter((t) => t > now - 60_000);
    if (times.length >= this.limits.connections_per_minute) {
      this.recent.set(ip, times);
      return { ok: false, reason: 'rate' };
    }
    if ((this.pending.get(ip) ?? 0) >= this.limits.max_pending_per_ip) return { ok: false, reason: 'pending' };
    times.push(now);
    this.recent.set(ip, times);
    this.pending.set(ip, (this.pending.get(ip) ?? 0) + 1);
    return { ok: true };
  }

  /** The admitted connection finished logging in (or went away). */
  settle(ip: string): void {
    const n = (this.pending.get(ip) ?? 0) - 1;
    if (n <= 0) this.pending.delete(ip);
    else this.pending.set(ip, n);
  }

  /** Drops bookkeeping older than a minute (called periodically so idle sources do not accumulate). */
  prune(now: number): void {
    for (const [ip, times] of this.recent) {
      const keep = times.filter((t) => t > now - 60_000);
      if (keep.length === 0) this.recent.delete(ip);
      else this.recent.set(ip, keep);
    }
  }
}
