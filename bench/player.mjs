// The replay player on a long session: a generated 100 MB asciicast recording (typing, coloured
// log floods, full-screen redraws, resizes, redacted input), plain and gzipped as uploaded.
//   1. open: from starting `bastion-player FILE` in tmux to its first frame with the status bar
//      (a user's wall clock, node start-up included), and in-process (read + seek index);
//   2. seek: 200 jumps to random moments after opening, each to the screen being ready to draw;
//   3. `--screen-at` the last second, as a child process.
// Targets (issue 5): open < 3 s, seek < 150 ms, --screen-at last second < 3 s.
//
//   npm run bench:player            (builds first)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream, createWriteStream } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { generateRecording } from './gen-recording.mjs';
import { openForPlayback } from '../dist/player/load.js';
import { Playback } from '../dist/player/playback.js';
import { median } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE = Number(process.env.BENCH_PLAYER_MB ?? 100) * 1e6;
const ROOT = new URL('..', import.meta.url).pathname;
const PLAYER = join(ROOT, 'dist/player/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'bench-player-'));
const plain = join(dir, 'long.cast');
const gz = join(dir, 'long.cast.gz');

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const round = (x) => Math.round(x * 10) / 10;

console.log(`generating a ${SIZE / 1e6} MB recording…`);
const gen = await generateRecording(plain, { bytes: SIZE });
await pipeline(createReadStream(plain), createGzip(), createWriteStream(gz));

/** Wall time from launching the TUI in tmux to the first frame showing the whole duration. */
async function tuiOpen(file) {
  const socket = `bench-player-${process.pid}`;
  const tmux = (...a) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
  const started = performance.now();
  tmux('new-session', '-d', '-s', 'p', '-x', '160', '-y', '50', `node ${PLAYER} ${file} --speed 1; sleep 60`);
  try {
    for (;;) {
      if (/ \/ 3:\d\d:\d\d\.\d \[/.test(tmux('capture-pane', '-p', '-t', 'p'))) return performance.now() - started;
      if (performance.now() - started > 60_000) throw new Error('the player did not open within 60 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    tmux('kill-server');
  }
}

const result = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model.replace(/\s+\d+-Core.*$/, '').trim(), memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
  date: new Date().toISOString(),
  runs: RUNS,
  recording: { bytes: gen.bytes, gzip_bytes: readFileSync(gz).length, events: gen.events, duration_s: round(gen.duration) },
  targets: { open_ms: '< 3000', seek_ms: '< 150', screen_at_last_second_ms: '< 3000' },
};

for (const [name, file] of [['plain', plain], ['gzip', gz]]) {
  const tui = [];
  const inproc = [];
  for (let i = 0; i < RUNS; i++) tui.push(await tuiOpen(file));
  let opened;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    opened = await openForPlayback(file, { trusted: [], index: true });
    inproc.push(performance.now() - t0);
  }
  const pb = await Playback.open(opened.rec, opened.index);
  const seeks = [];
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await pb.seek(rand() * pb.duration);
    pb.screen.styledLines(); // what the UI draws
    seeks.push(performance.now() - t0);
  }
  const screenAt = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [PLAYER, file, '--screen-at', String(gen.duration)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    screenAt.push(performance.now() - t0);
    if (!r.stdout.includes(gen.lastScreenLine)) throw new Error(`--screen-at did not show the last screen: ${r.stdout.slice(-300)} ${r.stderr}`);
  }
  result[name] = {
    open_tui_ms_median: round(median(tui)),
    open_in_process_ms_median: round(median(inproc)),
    keyframes: opened.index.keyframes.length,
    seek_ms: { p50: round(pct(seeks, 50)), p99: round(pct(seeks, 99)), max: round(Math.max(...seeks)) },
    screen_at_last_second_ms_median: round(median(screenAt)),
  };
  pb.screen.dispose();
  console.log(`${name}: open ${result[name].open_tui_ms_median} ms (TUI, median of ${RUNS}; ${result[name].open_in_process_ms_median} ms in-process), seek p50 ${result[name].seek_ms.p50} / p99 ${result[name].seek_ms.p99} / max ${result[name].seek_ms.max} ms (200 random), --screen-at last second ${result[name].screen_at_last_second_ms_median} ms`);
}

const path = new URL('./results.json', import.meta.url);
const all = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
all.player = result;
writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
rmSync(dir, { recursive: true, force: true });
