// Item 1's pty `cat` with no SSH and no recording: what reading the pty alone allows here. Four
// readers of the same file, output thrown away, interleaved, RUNS of each:
// - `script` (util-linux, C: a read loop on the pty master, as sshd's);
// - node-pty's own reading on Node's main thread (bench/pty-read.mjs node-pty);
// - a bare worker thread reading the pty master (bench/pty-read.mjs worker);
// - the built bastion's pty path, its reader thread (bench/pty-read.mjs bastion).
// Set beside sshd's pty `cat` of the same run (which also encrypts, and its client decrypts), they
// tell how much of the bastion's gap to sshd is the reading of the pty itself.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { bastionNodeFlags, median } from '../lib.mjs';

const READ = new URL('../pty-read.mjs', import.meta.url).pathname;

/** { script, node_pty, worker, bastion_path }: each { median_mb_s, runs_mb_s } or { error }. */
export async function ptyReaders({ file, runs }) {
  const size = statSync(file).size;
  const flags = await bastionNodeFlags();
  const readers = {
    // The whole command's time (starting script and cat included): a little under its read rate.
    script: () => {
      const t0 = performance.now();
      execFileSync('script', ['-q', '-c', `cat ${file}`, '/dev/null'], { stdio: 'ignore', timeout: 120_000 });
      return size / 1e6 / ((performance.now() - t0) / 1000);
    },
    node_pty: () => viaNode([READ, 'node-pty', file, '1']),
    worker: () => viaNode([READ, 'worker', file, '1']),
    bastion_path: () => viaNode([...flags, READ, 'bastion', file, '1']),
  };
  const got = Object.fromEntries(Object.keys(readers).map((k) => [k, []]));
  const errors = {};
  const names = Object.keys(readers);
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      if (errors[name]) continue;
      try {
        got[name].push(Math.round(readers[name]() * 100) / 100);
      } catch (err) {
        errors[name] = String(err.stderr || err.message).trim().split('\n')[0];
      }
    }
  }
  return Object.fromEntries(names.map((k) => [k, errors[k] ? { error: errors[k] } : { median_mb_s: median(got[k]), runs_mb_s: got[k] }]));
}

function viaNode(args) {
  const out = execFileSync(process.execPath, args, { timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.toString().trim().split('\n').at(-1)).mb_s;
}
