// Live shadowing cost (issue 6), the bastion in its own process, real ssh, 10 websocket viewers:
//   1. fan-out latency: a program in the session prints CLOCK_MONOTONIC timestamps (shared by all
//      processes on the machine) every 5 ms; for each, the time until all 10 viewers have it.
//      1000 samples: p50 / p99 / max. Target: p99 < 5 ms.
//   2. throughput: `cat` of a 50 MB file in a pty session with no viewer and with 10 viewers,
//      median of RUNS each, interleaved. Target: with viewers >= 90% of without.
//
//   npm run bench:live            (builds first)
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, createWriteStream, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { writeBenchConfig, nextCode, askpass, sshArgs, timedSsh, median, bastionNodeFlags } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const VIEWERS = 10;
const SAMPLES = 1000;
const SIZE = 50 * 1024 * 1024;
const CLI = new URL('../dist/src/cli.js', import.meta.url).pathname;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const r2 = (x) => Math.round(x * 100) / 100;

const cfg = writeBenchConfig(2 * RUNS + 4);
const proc = spawn(process.execPath, [...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : []), ...(await bastionNodeFlags()), new URL('./serve.mjs', import.meta.url).pathname, cfg.configPath], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
const { port, http } = await new Promise((resolve) => proc.stdout.once('data', (d) => resolve(JSON.parse(String(d)))));
const knownHosts = join(cfg.dir, 'known_hosts');
writeFileSync(knownHosts, `[127.0.0.1]:${port} ${cfg.hostPublic}\n`);
const token = execFileSync(process.execPath, [CLI, 'token', 'issue', 'bench', '--role', 'auditor', '--ttl', '1h', '--config', cfg.configPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
let nextUser = 0;

async function ssh(command) {
  const user = cfg.users[`u${nextUser++}`];
  const env = askpass(cfg.dir, await nextCode(user));
  return timedSsh(['-tt', ...sshArgs(cfg, port, user, knownHosts), command], env);
}

async function liveSessionId() {
  for (let i = 0; i < 200; i++) {
    const r = await (await fetch(`http://127.0.0.1:${http}/api/sessions`, { headers: { Authorization: `Bearer ${token}` } })).json();
    if (r.sessions.length > 0) return r.sessions[0].id;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('no live session appeared');
}

/** Opens n viewers on the session; each calls onOutput(buffer, arrivalNs). Resolves once all have their hello. */
async function viewers(id, n, onOutput) {
  const list = [];
  await Promise.all(
    Array.from({ length: n }, (_, k) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${http}/api/sessions/${id}/watch`, ['bastion.v1'], { headers: { Authorization: `Bearer ${token}` } });
      ws.on('message', (data, binary) => {
        if (binary) onOutput(k, data, process.hrtime.bigint());
        else if (JSON.parse(String(data)).type === 'hello') resolve();
      });
      ws.on('error', reject);
      list.push(ws);
    })),
  );
  return list;
}

// 1. latency
const printer = `node -e 'let n=0;const t=setInterval(()=>{process.stdout.write("L"+process.hrtime.bigint()+"\\n");if(++n>=${SAMPLES}){clearInterval(t)}},5)'`;
const latencyRun = ssh(`sleep 2; ${printer}`);
const seen = new Map(); // sample ns -> viewers that have it, and the last arrival
const partial = Array.from({ length: VIEWERS }, () => '');
const socks = await viewers(await liveSessionId(), VIEWERS, (k, data, at) => {
  const text = partial[k] + data.toString('latin1');
  const lines = text.split('\n');
  partial[k] = lines.pop();
  for (const l of lines) {
    const m = /L(\d+)/.exec(l);
    if (!m) continue;
    const s = seen.get(m[1]) ?? { count: 0, last: 0n };
    s.count++;
    if (at > s.last) s.last = at;
    seen.set(m[1], s);
  }
});
await latencyRun;
for (const ws of socks) ws.close();
const lat = [...seen.entries()].filter(([, s]) => s.count === VIEWERS).map(([sent, s]) => Number(s.last - BigInt(sent)) / 1e6);
if (lat.length < SAMPLES * 0.99) throw new Error(`only ${lat.length} of ${SAMPLES} samples reached all viewers`);

// 2. throughput. Viewers follow a flood at up to 1 MB/s of output plus a few screens a second.
const file = join(tmpdir(), 'bastion-bench-50mb.txt');
if (!existsSync(file)) {
  const out = createWriteStream(file);
  const line = 'the quick brown fox jumps over the lazy dog while the on-call engineer reads logs\n';
  for (let w = 0; w < SIZE; w += line.length) if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  await new Promise((r) => out.end(r));
}
// login + the 1 s pause, measured alone, is taken off both sides: the ratio is of the cat itself
const overhead = [];
for (let i = 0; i < 2; i++) overhead.push((await ssh('sleep 1')).ms);
const cat = { none: [], viewers: [] };
const perViewer = []; // raw output bytes each viewer got during a flood (the rest came as screens)
for (let i = 0; i < RUNS; i++) {
  for (const mode of ['none', 'viewers']) {
    const run = ssh(`sleep 1; cat ${file}`);
    let open = [];
    let received = 0;
    if (mode === 'viewers') open = await viewers(await liveSessionId(), VIEWERS, (_k, data) => (received += data.length));
    const r = await run;
    for (const ws of open) ws.close();
    if (mode === 'viewers') perViewer.push(received / VIEWERS);
    cat[mode].push(r.ms);
    await new Promise((res) => setTimeout(res, 500));
  }
}
const fixed = median(overhead);
const base = { none: median(cat.none) - fixed, viewers: median(cat.viewers) - fixed };
const result = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model.replace(/\s+\d+-Core.*$/, '').trim(), memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
  date: new Date().toISOString(),
  viewers: VIEWERS,
  fanout_latency_ms: { samples: lat.length, p50: r2(pct(lat, 50)), p99: r2(pct(lat, 99)), max: r2(Math.max(...lat)) },
  pty_cat_50mb_ms_runs: { no_viewers: cat.none.map((x) => r2(x - fixed)), ten_viewers: cat.viewers.map((x) => r2(x - fixed)) },
  pty_cat_50mb_ms_median: { no_viewers: r2(base.none), ten_viewers: r2(base.viewers), login_and_pause_ms_subtracted: r2(fixed) },
  pty_cat_50mb_mb_s: { no_viewers: r2(SIZE / 1e6 / (base.none / 1000)), ten_viewers: r2(SIZE / 1e6 / (base.viewers / 1000)) },
  with_viewers_vs_without: r2(base.none / base.viewers),
  flood_output_bytes_per_viewer_median: Math.round(median(perViewer)),
  targets: { fanout_latency_p99_ms: '< 5', with_viewers_vs_without: '>= 0.9' },
};
console.log(`fan-out to ${VIEWERS} viewers: p50 ${result.fanout_latency_ms.p50} ms, p99 ${result.fanout_latency_ms.p99} ms, max ${result.fanout_latency_ms.max} ms (${lat.length} samples)`);
console.log(`cat 50 MB in a pty, median of ${RUNS} (login and pause, ${r2(fixed)} ms, taken off): ${r2(base.none)} ms without viewers, ${r2(base.viewers)} ms with ${VIEWERS} -> ${(result.with_viewers_vs_without * 100).toFixed(0)}%`);
const path = new URL('./results.json', import.meta.url);
const all = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
all.live = result;
writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
proc.kill('SIGTERM');
await new Promise((r) => proc.on('exit', r));
rmSync(cfg.dir, { recursive: true, force: true });
