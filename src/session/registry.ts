import type { Principal } from '../auth/types.js';
import { Emitter } from '../targets/emitter.js';

/** A live session as the registry sees it: enough to list it, check its limits and end it. */
export interface LiveSession {
  readonly id: string;
  readonly principal: Principal;
  /** The client's address. */
  readonly sourceIp: string;
  readonly startedAt: number;
  /** Last keystroke from the client (idle timeout). */
  lastInputAt: number;
  /** True once the expiry notice was shown. */
  noticeSent: boolean;
  /** Shows a line to the user without ending anything. */
  notify(message: string): void;
  /** Ends the session, telling the user why. */
  terminate(message: string, reason: string): void;
}

/**
 * The live sessions of this node: lookup, count per user, and ending them all on shutdown.
 * (A fleet will publish these through a shared directory; the registry stays per node.)
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly emptyWaiters = new Set<() => void>();
  /** A session passed its checks and started (audited): governance listens here. Listeners must not throw or block. */
  readonly started = new Emitter<LiveSession>();

  add(s: LiveSession): void {
    this.sessions.set(s.id, s);
  }

  remove(id: string): void {
    this.sessions.delete(id);
    if (this.sessions.size === 0) for (const w of this.emptyWaiters) w();
  }

  get size(): number {
    return this.sessions.size;
  }

  list(): LiveSession[] {
    return [...this.sessions.values()];
  }

  countFor(user: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.principal.user === user) n += 1;
    return n;
  }

  /** Resolves when no session is left, or after `ms`; true when empty. */
  waitEmpty(ms: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (empty: boolean) => {
        clearTimeout(timer);
        this.emptyWaiters.delete(onEmpty);
        resolve(empty);
      };
      const onEmpty = () => done(true);
      const timer = setTimeout(() => done(this.sessions.size === 0), ms);
      this.emptyWaiters.add(onEmpty);
    });
  }

  terminateAll(message: string, reason: string): void {
    for (const s of this.list()) s.terminate(message, reason);
  }
}
