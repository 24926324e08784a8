/** A live session as the registry sees it: enough to list it and to end it. */
export interface LiveSession {
  readonly id: string;
  readonly user: string;
  readonly target: string;
  readonly startedAt: number;
  /** Ends the session, telling the user why. Resolves when it has ended. */
  terminate(message: string): Promise<void>;
}

/** The live sessions of this node: lookup, count, and ending them all on shutdown. */
export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly emptyWaiters = new Set<() => void>();

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

  async terminateAll(message: string): Promise<void> {
    await Promise.all(this.list().map((s) => s.terminate(message)));
  }
}
