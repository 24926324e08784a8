import { closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { dupFd } from './termios.js';
import type { FromReader, ToReader } from './pty-reader-protocol.js';

export interface PtyReadHandlers {
  /** A batch of output; call `ack` on the handle when it has been passed on (and the sink wants more). */
  data(chunk: Buffer): void;
  /** No more output: the pty's read side ended, it was detached, or the reader thread failed (`error`). */
  end(error?: string): void;
}

export interface PtyRead {
  ack(): void;
  /** Read what is left now, deliver it, then end. */
  detach(): void;
}

/**
 * The session thread's side of the pty reader thread (pty-reader-worker.ts), started with the
 * first local pty session and shared by all of them. Reading a pty costs one system call per 4 KB;
 * on the session thread that work, and the event per read, is what limited bulk output.
 */
class PtyReaderThread {
  private worker?: Worker;
  private next = 1;
  private readonly handlers = new Map<number, PtyReadHandlers>();

  /** Reads the pty master `fd` on the reader thread; undefined when it cannot (the caller reads it itself). */
  attach(fd: number, h: PtyReadHandlers): PtyRead | undefined {
    const copy = dupFd(fd);
    if (copy === undefined) return undefined;
    let worker: Worker;
    try {
      worker = this.ensure();
    } catch {
      closeSync(copy);
      return undefined; // no thread (its file missing?): the session reads the pty itself
    }
    const id = this.next++;
    this.handlers.set(id, h);
    const send = (m: ToReader) => {
      if (this.worker === worker && this.handlers.has(id)) worker.postMessage(m);
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
    worker.on('message', (m: FromReader) => {
      const h = this.handlers.get(m.id);
      if (!h) return;
      if (m.op === 'data') h.data(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      else {
        this.handlers.delete(m.id);
        h.end(m.error);
      }
    });
    // A thread that dies ends every read it held, with the reason; the next session starts a new one.
    const die = (err: unknown) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const gone = [...this.handlers.values()];
      this.handlers.clear();
      for (const h of gone) h.end(`the pty reader thread stopped: ${(err as Error)?.message ?? String(err)}`);
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    return worker;
  }
}

export const ptyReader = new PtyReaderThread();
