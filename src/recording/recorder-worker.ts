import { parentPort } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { describeError } from '../errors.js';
import { Recorder } from './recorder.js';
import { EV, REUSED_FROM, type FromWorker, type ToWorker } from './worker-protocol.js';

/**
 * The recording thread: encodes every session's events as asciicast and writes them (the chunk
 * hashes and the writes run on the thread pool: chunk-hash.ts), so that the thread pumping the
 * sessions' bytes does none of that work (it is what limits bulk output on a busy bastion).
 */
const port = parentPort!;
const ACK_AT_ONCE_BELOW = 1024 * 1024;
const recorders = new Map<string, Recorder>();
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'create':
      Recorder.create({
        castPath: m.castPath,
        chunksPath: m.chunksPath,
        header: m.header,
        clock: systemClock,
        flushMs: m.flushMs,
        chunkMs: m.chunkMs,
        chunkBytes: m.chunkBytes,
        onChunk: (chunk, dueAt) => send({ op: 'chunk', id: m.id, chunk, dueAt }),
        onFailure: (err) => send({ op: 'failed', id: m.id, error: describeError(err) }),
      }).then(
        (r) => {
          recorders.set(m.id, r);
          send({ op: 'created', id: m.id });
        },
        (err: unknown) => send({ op: 'createFailed', id: m.id, error: describeError(err) }),
      );
      return;
    case 'events': {
      const r = recorders.get(m.id);
      if (!r) return;
      const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      let offset = 0;
      for (let i = 0; i < m.meta.length; i += 3) {
        const at = m.meta[i]!;
        const kind = m.meta[i + 1]!;
        const len = m.meta[i + 2]!;
        if (kind === EV.h) {
          r.redacted(len, at); // the typed bytes never left the session thread
          continue;
        }
        const bytes = data.subarray(offset, offset + len);
        offset += len;
        if (kind === EV.o) r.output(bytes, at);
        else if (kind === EV.i) r.input(bytes, at);
        else if (kind === EV.r) {
          const [cols, rows] = bytes.toString('utf8').split('x').map(Number);
          r.resize(cols ?? 80, rows ?? 24, at);
        } else r.marker(bytes.toString('utf8'), at);
      }
      // Backpressure: while the file keeps up the batch is acknowledged at once; when it falls
      // behind, only once written, which slows the session's source down instead of failing it.
      // The batch is copied into the recording by now: a big buffer goes back, to be used again.
      const spare = m.data.buffer.byteLength >= REUSED_FROM ? (m.data.buffer as ArrayBuffer) : undefined;
      const ack = () => send({ op: 'ack', id: m.id, bytes: m.data.byteLength, ...(spare ? { spare } : {}) }, spare ? [spare] : []);
      if (r.backlogBytes() < ACK_AT_ONCE_BELOW) ack();
      else void r.settled().then(ack);
      return;
    }
    case 'close': {
      const r = recorders.get(m.id);
      if (!r) return send({ op: 'closed', id: m.id, chunks: [], bytes: 0, failed: 'no such recording' });
      void r.close(m.marker).then((done) => {
        recorders.delete(m.id);
        send({ op: 'closed', id: m.id, chunks: done.chunks, bytes: done.bytes, ...(done.failed ? { failed: describeError(done.failed) } : {}) });
      });
      return;
    }
  }
});
