import { closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { dupFd } from './termios.js';
import type { FromReader, ToReader } from './pty-reader-protocol.js';

export interface PtyReadHandlers {
  /** A batch of output; call `ack` on the handle when it has been passed on (and the sink wants more). */
  data(chunk: Buffer): void;
  /**
   * No more output from here: the pty's read side ended, or it was detached; or, with `failure`,
   * this thread cannot read it (the caller reads it itself from now on). `lost`: the thread had
   * taken the pty, so output it had read and not delivered may be gone; otherwise it never read a byte.
   */
  end(failure?: { error: string; lost: boolean }): void;
  /** The pty went quiet and the thread let go of it, all it read delivered: the caller reads it from now on. */
  released(): void;
}

export interface PtyRead {
  ack(): void;
  /** Read what is left now, deliver it, then end. */
  detach(): void;
}

/**
 * The session thread's side of the pty reader thread (pty-reader-worker.ts), started with the
 * first local pty session that floods and shared by all of them. Reading a pty costs one system call per 4 KB;
 * on the session thread that work, and the event per read, is what limited bulk output.
 */
export class PtyReaderThread {
  private worker?: Worker;
  /** It failed before it ever ran (its file missing?): sessions read their ptys themselves. */
  private broken = false;
  private next = 1;
  /** Each read, with its descriptor until the thread has taken it (then the thread closes it). */
  private readonly reads = new Map<number, { h: PtyReadHandlers; fd?: number }>();

  /** Reads the pty master `fd` on the reader thread; undefined when it cannot (the caller reads it itself). */
  attach(fd: number, h: PtyReadHandlers): PtyRead | undefined {
    if (this.broken) return undefined;
    const copy = dupFd(fd);
    if (copy === undefined) return undefined;
    const worker = this.ensure();
    const id = this.next++;
    this.reads.set(id, { h, fd: copy });
    const send = (m: ToReader) => {
      if (this.worker === worker && this.reads.has(id)) worker.postMessage(m);
    };
    send({ op: 'attach', id, fd: copy });
    return { ack: () => send({ op: 'ack', id }), detach: () => send({ op: 'detach', id }) };
  }

  /** Stops the thread; sessions still reading through it go on reading in their own thread. */
  async stop(): Promise<void> {
    await this.worker?.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const url = import.meta.url.endsWith('.ts') ? new URL('../../dist/src/targets/pty-reader-worker.js', import.meta.url) : new URL('./pty-reader-worker.js', import.meta.url);
    const worker = new Worker(url);
    worker.unref();
    this.worker = worker;
    let ran = false;
    let failure: unknown;
    worker.once('online', () => (ran = true));
    worker.on('message', (m: FromReader) => {
      const read = this.reads.get(m.id);
      if (!read) return;
      if (m.op === 'attached') delete read.fd;
      else if (m.op === 'data') read.h.data(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      else if (m.op === 'released') {
        this.reads.delete(m.id);
        read.h.released();
      } else {
        this.reads.delete(m.id);
        read.h.end(m.error === undefined ? undefined : { error: m.error, lost: read.fd === undefined });
      }
    });
    worker.on('error', (err) => (failure = err));
    // 'exit' comes after every message the thread sent. Reads it held end with the reason (their
    // descriptors closed with the thread); descriptors it never took are closed here. The next
    // session starts a new thread, unless this one never ran.
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (!ran) this.broken = true;
      const gone = [...this.reads.values()];
      this.reads.clear();
      const reason = `the pty reader thread stopped: ${(failure as Error)?.message ?? `exit code ${code}`}`;
      for (const read of gone) {
        if (read.fd !== undefined) {
          try {
            closeSync(read.fd);
          } catch {
            // already closed
          }
        }
        read.h.end({ error: reason, lost: read.fd === undefined });
      }
    });
    return worker;
  }
}

export const ptyReader = new PtyReaderThread();
