// Item 1, bulk output: MB/s of `cat` of a text file in a pty session (`ssh -tt`), and of
// `head -c SIZE /dev/zero` in an exec session without a pty (and, to tell bytes from paths, `cat`
// of the text file without a pty). The rate is taken from the first
// byte of the output to the end of the session, so the login is not in it (item 3 has that).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, statSync } from 'node:fs';

/** A text file of SIZE bytes of 80-column lines (the same content as bench/recording.mjs). */
export async function makeTextFile(path, size) {
  if (existsSync(path) && statSync(path).size >= size) return;
  const out = createWriteStream(path);
  const words = 'the quick brown fox jumps over the lazy dog while the on-call engineer reads logs'.split(' ');
  let written = 0;
  for (let i = 0; written < size; i++) {
    let line = `${String(i).padStart(8, '0')} `;
    while (line.length < 78) line += words[(i * 7 + line.length) % words.length] + ' ';
    line = line.slice(0, 79) + '\n';
    written += line.length;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

/**
 * Runs ssh with ARGS, counting stdout bytes. Resolves { ms, firstMs, bytes, code, stderr }:
 * ms from spawn to exit, firstMs from spawn to the first chunk that contains MARKER (or to the
 * first byte when no marker is given); startedAt and firstAt are the same as hrtime bigints.
 */
export function runSsh({ args, env }, { marker, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('ssh', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let first = null;
    let stderr = '';
    let tail = '';
    child.stdout.on('data', (d) => {
      bytes += d.length;
      if (first === null) {
        if (!marker) first = process.hrtime.bigint();
        else {
          const s = tail + d.toString('latin1', 0, Math.min(d.length, 4096));
          if (s.includes(marker)) first = process.hrtime.bigint();
          else tail = s.slice(-marker.length);
        }
      }
    });
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const end = process.hrtime.bigint();
      resolve({ ms: Number(end - t0) / 1e6, firstMs: first === null ? null : Number(first - t0) / 1e6, startedAt: t0, firstAt: first, bytes, code, stderr });
    });
  });
}

/** One pty `cat FILE` through PEER: { mbs, ms, bytes }. */
export async function ptyCat(peer, file, size) {
  const r = await runSsh(await peer.open(`cat ${file}`, { tty: true }), { marker: '00000000 ' });
  check(peer, r, size);
  return { mbs: size / 1e6 / ((r.ms - r.firstMs) / 1000), ms: r.ms - r.firstMs, bytes: r.bytes };
}

/** One exec (no pty) `head -c SIZE /dev/zero` through PEER: { mbs, ms, bytes }. */
export async function execZero(peer, size) {
  const r = await runSsh(await peer.open(`head -c ${size} /dev/zero`, { tty: false }));
  check(peer, r, size);
  if (r.bytes !== size) throw new Error(`${peer.name}: exec got ${r.bytes} bytes, expected ${size}`);
  return { mbs: size / 1e6 / ((r.ms - r.firstMs) / 1000), ms: r.ms - r.firstMs, bytes: r.bytes };
}

/** One exec (no pty) `cat FILE` of the text file: tells whether exec trouble is about the bytes (NULs). */
export async function execCat(peer, file, size) {
  const r = await runSsh(await peer.open(`cat ${file}`, { tty: false }));
  check(peer, r, size);
  return { mbs: size / 1e6 / ((r.ms - r.firstMs) / 1000), ms: r.ms - r.firstMs, bytes: r.bytes };
}

function check(peer, r, size) {
  if (r.code !== 0 || r.firstMs === null || r.bytes < size) {
    throw new Error(`${peer.name}: ssh exited ${r.code} after ${r.bytes} bytes (expected ${size}): ${r.stderr.trim()}`);
  }
}
