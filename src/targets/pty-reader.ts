import { closeSync } from 'node:fs';
import { loadAddon } from '../native/load-addon.js';
import { dupFd } from './termios.js';

export interface PtyReadHandlers {
  /** A batch of output; call `ack` on the handle when it has been passed on (and the sink wants more). */
  data(chunk: Buffer): void;
  /**
   * No more output from here: the pty's read side ended, or it was detached; or, with `failure`,
   * the thread was stopped or could not go on (all it had read delivered first) and the caller
   * reads the pty itself from now on.
   */
  end(failure?: { error: string }): void;
  /** The pty went quiet and the thread let go of it, all it read delivered: the caller reads it from now on. */
  released(): void;
}

export interface PtyRead {
  ack(): void;
  /** Read what is left now, deliver it, then end. */
  detach(): void;
}

/** src/native/ptyread: its header says what each call and event means. */
interface PtyReadAddon {
  attach(fd: number, cb: (kind: number, data: Buffer | null) => void): object;
  signal(handle: object, what: number): void;
}
const enum Kind {
  Data = 0,
  End = 1,
  Released = 2,
  Stopped = 3,
  Failed = 4,
}
const enum Signal {
  Ack = 0,
  Detach = 1,
  Stop = 2,
}

/**
 * The pty reader threads (src/native/ptyread): while a local pty session floods, a thread of its
 * own reads the pty and hands the session thread batches of up to 256 KB, with no copy. Reading a
 * pty costs one system call per 4 KB; on the session thread that work, and the event per read, is
 * what limited bulk output. A pty quiet for 250 ms is handed back (a keystroke's echo then crosses
 * no thread). Without the addon (not built) sessions read their ptys themselves.
 */
export class PtyReaderThread {
  /** The reads going on, each with what waits for its end (stop()). */
  private readonly reads = new Map<object, (() => void)[]>();
  private stopping?: string;

  constructor(private readonly addon: PtyReadAddon | undefined = loadAddon<PtyReadAddon>('ptyread')) {}

  /** Reads the pty master `fd` on a reader thread; undefined when it cannot (the caller reads it itself). */
  attach(fd: number, h: PtyReadHandlers): PtyRead | undefined {
    const addon = this.addon;
    if (!addon) return undefined;
    const copy = dupFd(fd); // the thread's own descriptor: it closes it when it lets go
    if (copy === undefined) return undefined;
    let handle: object;
    const ended = () => {
      const waiting = this.reads.get(handle) ?? [];
      this.reads.delete(handle);
      for (const resolve of waiting) resolve();
    };
    try {
      handle = addon.attach(copy, (kind, data) => {
        if (kind === Kind.Data) return h.data(data!);
        ended();
        if (kind === Kind.Released) h.released();
        else if (kind === Kind.Stopped) h.end({ error: `the pty reader thread stopped: ${this.stopping ?? 'stopped'}` });
        else if (kind === Kind.Failed) h.end({ error: 'the pty reader thread could not go on (out of memory, or poll failed)' });
        else h.end();
      });
    } catch {
      try {
        closeSync(copy);
      } catch {
        // already closed
      }
      return undefined;
    }
    this.reads.set(handle, []);
    // Nothing to signal once it has ended (its state lives on until the handle is collected, so it would be harmless).
    const signal = (what: Signal) => {
      if (this.reads.has(handle)) addon.signal(handle, what);
    };
    return { ack: () => signal(Signal.Ack), detach: () => signal(Signal.Detach) };
  }

  /**
   * Stops every reader thread; each delivers what it read, then its session reads the pty itself.
   * Resolves once they all have.
   */
  async stop(reason = 'the bastion is shutting down'): Promise<void> {
    const handles = [...this.reads.keys()];
    if (handles.length === 0) return;
    this.stopping = reason;
    await Promise.all(
      handles.map(
        (handle) =>
          new Promise<void>((resolve) => {
            this.reads.get(handle)!.push(resolve);
            this.addon!.signal(handle, Signal.Stop);
          }),
      ),
    );
  }
}

export const ptyReader = new PtyReaderThread();
