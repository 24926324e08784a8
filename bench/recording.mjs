// What recording costs: `cat` of a 50 MB text file in a pty session (`ssh -tt`) through the
// bastion with recording on and with it off, median of 5 each, interleaved; and the size of the
// recording against the bytes the client received. Writes the figures to bench/results.json.
//
//   npm run bench:recording            (after npm install; builds first)
//   BENCH_COMPARE_WITH=/other/checkout node bench/recording.mjs
//                                      A/B of a change: the "unrecorded" side is instead the other
//                                      checkout's built bastion, recording on (results.json untouched)
import { writeFileSync, readFileSync, existsSync, createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, tmpdir, totalmem } from 'node:os';
import { spawn } from 'node:child_process';
import { writeBenchConfig, nextCode, askpass, sshArgs, timedSsh, median, bastionNodeFlags } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZE = 50 * 1024 * 1024;

async function makeTextFile(path) {
  if (existsSync(path)) return;
  const out = createWriteStream(path);
  const words = 'the quick brown fox jumps over the lazy dog while the on-call engineer reads logs'.split(' ');
  let written = 0;
  let i = 0;
  while (written < SIZE) {
    let line = `${String(i).padStart(8, '0')} `;
    while (line.length < 78) line += words[(i * 7 + line.length) % words.length] + ' ';
    line = line.slice(0, 79) + '\n';
    written += line.length;
    i += 1;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

/** Each bastion in its own process, as in production: they must not share an event loop. */
const other = process.env.BENCH_COMPARE_WITH;
async function start(unrecorded) {
  const cfg = writeBenchConfig(RUNS + 3);
  const serve = unrecorded && other ? join(other, 'bench/serve.mjs') : new URL('./serve.mjs', import.meta.url).pathname;
  const proc = spawn(process.execPath, [...(process.env.BENCH_PROF && !unrecorded ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : []), ...(await bastionNodeFlags(unrecorded && other ? other : undefined)), serve, cfg.configPath, ...(unrecorded && !other ? ['--unrecorded'] : [])], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  const port = await new Promise((resolve) => proc.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  const knownHosts = join(cfg.dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${cfg.hostPublic}\n`);
  return { cfg, proc, bastion: { ssh: { port } }, knownHosts, next: 0 };
}

function uploadedCount(side) {
  const path = join(side.cfg.dir, 'data/audit/audit.jsonl');
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.includes('"recording.uploaded"')).length;
}

/** Lets the recorded side finish sealing and uploading before the next measurement starts. */
async function settle(side, expected) {
  for (let i = 0; i < 600 && uploadedCount(side) < expected; i++) await new Promise((r) => setTimeout(r, 100));
}

async function run(side, command) {
  const user = side.cfg.users[`u${side.next++}`];
  const env = askpass(side.cfg.dir, await nextCode(user));
  return timedSsh(['-tt', ...sshArgs(side.cfg, side.bastion.ssh.port, user, side.knownHosts), command], env);
}

const file = join(tmpdir(), 'bastion-bench-50mb.txt');
await makeTextFile(file);
const on = await start(false);
const off = await start(true);

const login = { on: [], off: [] };
let sessions = 0;
for (const [name, side] of [['on', on], ['off', off]]) {
  for (let i = 0; i < 2; i++) login[name].push((await run(side, 'true')).ms);
}
sessions += 2;
await settle(on, sessions);
const cat = { on: [], off: [] };
let clientBytes = 0;
for (let i = 0; i < RUNS; i++) {
  for (const [name, side] of [['on', on], ['off', off]]) {
    const r = await run(side, `cat ${file}`);
    if (r.code !== 0) {
      for (const s of [on, off]) s.proc.kill('SIGTERM');
      throw new Error(`ssh exited ${r.code}`);
    }
    cat[name].push(r.ms);
    if (name === 'on') {
      clientBytes = r.bytes;
      await settle(on, ++sessions);
    } else if (other) await settle(off, sessions);
  }
}
const audit = readFileSync(join(on.cfg.dir, 'data/audit/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const recBytes = Math.max(...audit.filter((l) => l.type === 'recording.uploaded').map((l) => l.bytes));
const gzBytes = Math.max(...audit.filter((l) => l.type === 'recording.uploaded').map((l) => l.gzip_bytes));

const loginMs = { on: median(login.on), off: median(login.off) };
const mbps = (ms, loginCost) => SIZE / 1e6 / ((ms - loginCost) / 1000);
const result = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
  date: new Date().toISOString(),
  runs: RUNS,
  pty_cat_50mb: {
    recorded_ms_median: median(cat.on),
    unrecorded_ms_median: median(cat.off),
    recorded_mb_s: mbps(median(cat.on), loginMs.on),
    unrecorded_mb_s: mbps(median(cat.off), loginMs.off),
    login_ms_median: loginMs,
  },
  recorded_vs_unrecorded: mbps(median(cat.on), loginMs.on) / mbps(median(cat.off), loginMs.off),
  recording_bytes: recBytes,
  client_bytes: clientBytes,
  recording_size_ratio: recBytes / clientBytes,
  recording_gzip_bytes: gzBytes,
  targets: { recorded_vs_unrecorded: '>= 0.9', recording_size_ratio: '<= 1.1' },
};
const path = new URL('./results.json', import.meta.url);
if (other) console.log(`A/B: this checkout ${result.pty_cat_50mb.recorded_mb_s.toFixed(1)} MB/s, ${other} ${result.pty_cat_50mb.unrecorded_mb_s.toFixed(1)} MB/s (both recorded)`);
else {
  const all = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  all.recording = result;
  writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
}
console.log(`pty cat 50 MB, median of ${RUNS}: recorded ${result.pty_cat_50mb.recorded_mb_s.toFixed(1)} MB/s, unrecorded ${result.pty_cat_50mb.unrecorded_mb_s.toFixed(1)} MB/s -> ${(result.recorded_vs_unrecorded * 100).toFixed(1)}% (target >= 90%)`);
console.log(`recording ${recBytes} bytes for ${clientBytes} bytes received -> ${result.recording_size_ratio.toFixed(3)}x (target <= 1.1x); gzip ${gzBytes} bytes`);

for (const side of [on, off]) {
  side.proc.kill('SIGTERM');
  await new Promise((r) => side.proc.on('exit', r));
}
rmSync(on.cfg.dir, { recursive: true, force: true });
rmSync(off.cfg.dir, { recursive: true, force: true });
process.exit(0);
