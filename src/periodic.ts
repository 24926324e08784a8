/**
 * A background check run every `intervalMs` (and on demand), never two at once: an overlapping
 * call shares the pass in progress. The timer does not keep the process alive. Subclasses say
 * what one pass does.
 */
export abstract class PeriodicPass {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly intervalMs: number) {}

  start(): void {
    this.timer = setInterval(() => void this.checkNow(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass now; overlapping calls share the pass in progress. */
  checkNow(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  protected abstract pass(): Promise<void>;
}
