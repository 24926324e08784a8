// One reader of item 1's pty `cat`, without SSH and without a recording: `cat FILE` in a pty, its
// output read and thrown away, RUNS times in this process (a warm-up run first). Prints one JSON
// line per run: { mb_s } of FILE's bytes per second from the first byte read to the last.
//   node bench/pty-read.mjs node-pty|worker|bastion FILE RUNS
// node-pty: node-pty's own reading, on this process's main thread (the plain Node way).
// worker:   the pty master read by a bare worker thread (a tty.ReadStream, each read counted and
//           dropped): the way the bastion read floods until its C reader thread (fourteenth round).
// bastion:  the built bastion's pty path (src/targets/pty-stream.ts): a flood moves to a reader
//           thread in C (src/native/ptyread), which batches it (the way every local pty session's output is read).
// Used by bench/suite/pty-readers.mjs.
import { readFileSync } from 'node:fs';
import pty from 'node-pty';
import { Worker } from 'node:worker_threads';
import { PtyStream } from '../dist/src/targets/pty-stream.js';
import { dupFd } from '../dist/src/targets/termios.js';

const [mode, file, runsArg] = process.argv.slice(2);
if (!['node-pty', 'worker', 'bastion'].includes(mode) || !file) {
  console.error('usage: node bench/pty-read.mjs node-pty|worker|bastion FILE RUNS');
  process.exit(2);
}
const content = readFileSync(file);
const size = content.length;
// The pty turns every \n into \r\n: all of them must arrive.
const expected = size + content.reduce((n, b) => n + (b === 10 ? 1 : 0), 0);
const env = { PATH: '/usr/bin:/bin' };
const spawnCat = () => pty.spawn('/bin/cat', [file], { name: 'xterm', cols: 80, rows: 24, cwd: '/', env, encoding: null });

/**
 * node-pty reports the exit without waiting for the pty to drain, and loses the last few KB of
 * output at times (the bastion holds the pty's slave side for that, src/targets/pty-exit.ts); so
 * the rate here is of the bytes that did arrive, over the time they took.
 */
function viaNodePty() {
  return new Promise((resolve) => {
    const t = spawnCat();
    let bytes = 0;
    let first = 0;
    let last = 0;
    t.onData((d) => {
      last = performance.now();
      first ||= last;
      bytes += d.length;
    });
    t.onExit(() =>
      setTimeout(() => resolve(bytes >= expected * 0.99 ? ((last - first) * expected) / bytes : new Error(`node-pty: ${bytes} of ${expected} bytes`)), 200),
    );
  });
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const tty = require('node:tty');
let bytes = 0, first = 0, last = 0;
const buffer = Buffer.alloc(64 * 1024);
const callback = (n) => { last = performance.now(); first ||= last; bytes += n; return true; };
const done = () => parentPort.postMessage({ bytes, ms: last - first });
const s = new tty.ReadStream(workerData.fd, { onread: { buffer, callback } });
s.on('error', done); // EIO: the program and everything holding the pty have gone
s.on('end', done);
s.resume();
`;

/** `cat FILE` in a pty with node-pty's own reading stopped, as the bastion stops it: another reader takes its master. */
function spawnCatUnread() {
  const t = spawnCat();
  const socket = t._socket;
  socket._read = () => undefined;
  socket._handle.readStop();
  socket._handle.reading = false;
  return t;
}

/** As viaNodePty, read in a bare worker thread. */
function viaWorker() {
  return new Promise((resolve) => {
    const t = spawnCatUnread();
    const w = new Worker(WORKER, { eval: true, workerData: { fd: dupFd(t._fd) } });
    w.once('message', ({ bytes, ms }) => {
      void w.terminate();
      resolve(bytes >= expected * 0.99 ? (ms * expected) / bytes : new Error(`worker: ${bytes} of ${expected} bytes`));
    });
  });
}

function viaBastion() {
  return new Promise((resolve) => {
    const s = new PtyStream('/bin/cat', [file], { term: 'xterm', cols: 80, rows: 24, cwd: '/', env });
    let bytes = 0;
    let first = 0;
    s.onData((b) => {
      first ||= performance.now();
      bytes += b.length;
    });
    // The exit is reported after the last output.
    s.onExit(() => resolve(bytes === expected ? performance.now() - first : new Error(`bastion pty path: ${bytes} of ${expected} bytes`)));
  });
}

const once = { 'node-pty': viaNodePty, worker: viaWorker, bastion: viaBastion }[mode];
for (let i = 0; i <= Number(runsArg ?? 1); i++) {
  const ms = await once();
  if (ms instanceof Error) {
    console.error(ms.message);
    process.exit(1);
  }
  if (i > 0) console.log(JSON.stringify({ mb_s: Math.round((size / 1e6 / (ms / 1000)) * 100) / 100 }));
}
process.exit(0);
