// The benchmark suite of issue 8: the built bastion side by side with OpenSSH on loopback, in the
// same run, as ratios. See docs/benchmarks.md.
//
//   npm run bench                 full suite (~28 min): prints a table, writes bench/results.json "compare"
//   npm run bench -- --quick      CI smoke variant (< 1 min): tiny sizes, no tlog, never fails on a figure;
//                                 writes its JSON to $TMPDIR/bastion-bench-quick.json, not results.json
// Options: --no-tlog (skip the sshd+tlog peer), --no-concurrency, --live (run bench/live.mjs
// first for fresh fan-out figures), --prof DIR (CPU-profile the bastion: node --cpu-prof),
// --diagnose (add bastion-unrec, the bastion without a recorder, and ssh2-bare, a bare ssh2 relay,
// to items 1-3; and their ssh-target shapes, bastion-unrec-ssh and ssh2-bare-ssh, to item 2).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { startPeers } from './suite/peers.mjs';
import { makeTextFile } from './suite/bulk.mjs';
import { bulk, keystrokes, logins, quiet } from './suite/measure.mjs';
import { concurrency, sshdSessionMemory } from './suite/concurrency.mjs';
import { machine, judge, table } from './suite/report.mjs';
import { recordingCeiling } from './suite/ceiling.mjs';
import { ptyReaders } from './suite/pty-readers.mjs';

const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const QUICK = flag('--quick');
const profDir = argv.includes('--prof') ? argv[argv.indexOf('--prof') + 1] : undefined;
const MB = 1024 * 1024;
const S = QUICK
  ? { fileSize: 5 * MB, execSize: 50 * MB, runs: 1, samples: 100, slices: 2, logins: 3, levels: [20], sshdSessions: 10, idleMs: 2000, settleMs: 2000 }
  : { fileSize: 50 * MB, execSize: 500 * MB, runs: 5, samples: 1000, slices: 5, logins: 20, levels: [50, 200, 500], sshdSessions: 50, idleMs: 5000, settleMs: 11_000 };
const tlog = !QUICK && !flag('--no-tlog');
const doConcurrency = !flag('--no-concurrency');
/** Item 4 alone, for working on it (its figures are printed, bench/results.json is left alone). */
const concurrencyOnly = flag('--concurrency-only');
const started = Date.now();
const log = (m) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`);

// Every login through the bastion is a fresh user (single-use TOTP codes): bulk and logins per
// bastion peer, the keystroke sessions, the concurrency levels and their echo sessions, and slack.
const users = 2 * (3 * S.runs + S.logins + 1) + S.levels.at(-1) + S.levels.length + 20;
const resultsPath = new URL('./results.json', import.meta.url);

if (flag('--live') && !QUICK) {
  log('running bench/live.mjs for fresh fan-out figures');
  const r = spawnSync(process.execPath, [new URL('./live.mjs', import.meta.url).pathname], { stdio: 'inherit' });
  if (r.status !== 0) console.log('bench/live.mjs failed; the fan-out figures below are the stored ones');
}

const mach = machine();
const dir = mkdtempSync(join(tmpdir(), 'bastion-suite-'));
const file = join(tmpdir(), QUICK ? 'bastion-bench-5mb.txt' : 'bastion-bench-50mb.txt');
await makeTextFile(file, S.fileSize);
log(`${QUICK ? 'quick' : 'full'} run on ${mach.cpu}, ${mach.cores} cores, load ${mach.loadavg_at_start.join(' ')}; ${users} bastion users`);

const env = await startPeers(dir, { users, tlog, prof: profDir, unrecorded: flag('--diagnose') });
const cleanup = async () => {
  await env.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  rmSync(env.cfg.dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
const { peers } = env;
const bastionPid = env.bastion.pid;
// After a bastion session, let it seal and upload its recording before the next measurement
// (of any peer: a bastion still compressing a recording would take CPU from it).
const settle = async (peer) => {
  if (peer.kind === 'bastion') await quiet(peer.pid);
};
log(`peers: ${peers.map((p) => p.name).join(', ')}`);

const R = { mode: QUICK ? 'quick' : 'full', date: new Date().toISOString(), machine: mach, sizes: S, notes: [...env.notes], peers: {} };
let broken = null;
try {
  if (!concurrencyOnly) {
    // The ssh-target diagnosis peers (--diagnose) are there for the keystroke figures only.
    const full = peers.filter((p) => !p.keystrokeOnly);
    // Measured while every peer is idle: the most a recorded exec of NULs can reach here.
    R.exec_ceiling = recordingCeiling({ mb: QUICK ? 32 : 256, diskMb: QUICK ? 128 : 1024, dir: tmpdir() });
    const c = R.exec_ceiling;
    log(`exec ceiling: escape ${c.escape_mb_s} MB/s, SHA-256 ${c.sha256_mb_s} MB/s of asciicast, durable writes ${c.disk_mb_s ?? c.disk_skipped} MB/s: ${c.input_mb_s} MB/s of NULs at most`);
    const b = await bulk(full, { file, fileSize: S.fileSize, execSize: S.execSize, runs: S.runs, settle, log });
    // Reading the pty alone, right after item 1, while every peer is idle.
    R.pty_readers = await ptyReaders({ file, runs: S.runs });
    log(`pty readers, no SSH: ${Object.entries(R.pty_readers).map(([k, v]) => `${k} ${v.median_mb_s ?? v.error}`).join(', ')} MB/s`);
    const k = await keystrokes(peers, { samples: S.samples, slices: S.slices, settle, log });
    const l = await logins(full, { runs: S.logins, settle, log });
    for (const p of peers) {
      R.peers[p.name] = { errors: {}, ...b[p.name], keystroke: k[p.name], ...(l[p.name] ? { login: l[p.name] } : {}) };
      if (k[p.name].error) R.peers[p.name].errors['keystroke p50 ms'] = k[p.name].error;
      if (l[p.name]?.error) R.peers[p.name].errors['login wall ms'] = l[p.name].error;
    }
  }
  if (doConcurrency) {
    const local = peers.find((p) => p.name === 'bastion-local');
    const direct = peers.find((p) => p.name === 'sshd');
    R.concurrency = { peer: 'bastion-local', levels: [] };
    R.concurrency.sshd = await sshdSessionMemory(direct, env.sshd.pid, S.sshdSessions, { idleMs: S.idleMs });
    log(`sshd: ${JSON.stringify(R.concurrency.sshd)}`);
    R.concurrency.levels = await concurrency(local, bastionPid, {
      levels: S.levels,
      samples: S.samples,
      idleMs: S.idleMs,
      settleMs: S.settleMs,
      log: (row) => log(`concurrency ${row.sessions}: RSS ${row.rss_mb} MB (${row.rss_total_per_session_mb} MB/session), idle CPU ${row.idle_cpu_pct}%, keystroke p99 ${row.keystroke.p99} ms`),
    });
  } else R.notes.push('concurrency skipped (--no-concurrency)');
} catch (err) {
  broken = err;
} finally {
  await cleanup();
}

if (concurrencyOnly) {
  console.log(JSON.stringify(R.concurrency ?? null, null, 2));
  if (broken) console.error(broken);
  process.exit(broken ? 1 : 0);
}
const stored = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
if (stored.live) R.fanout = stored.live;
else R.notes.push('fan-out: no live-viewer figures in bench/results.json (npm run bench:live)');
if (R.exec_ceiling && R.peers.sshd?.exec_zero?.median_mb_s) R.exec_ceiling.vs_sshd = Math.round((R.exec_ceiling.input_mb_s / R.peers.sshd.exec_zero.median_mb_s) * 1000) / 1000;
const sshdPty = R.peers.sshd?.pty_cat?.median_mb_s;
for (const r of Object.values(R.pty_readers ?? {})) if (r.median_mb_s && sshdPty) r.vs_sshd = Math.round((r.median_mb_s / sshdPty) * 1000) / 1000;
R.targets = judge(R);
R.machine.loadavg_at_end = loadavg().map((x) => Math.round(x * 100) / 100);
R.duration_s = Math.round((Date.now() - started) / 1000);
if (R.mode === 'quick') R.notes.push('quick mode: tiny sizes, figures are indicative only (targets are for the full run)');

console.log('');
for (const line of table(R)) console.log(line);
console.log(`\n${R.duration_s} s; load average at start ${mach.loadavg_at_start.join(' ')}, at end ${R.machine.loadavg_at_end.join(' ')}`);

if (QUICK) {
  const out = join(tmpdir(), 'bastion-bench-quick.json');
  writeFileSync(out, JSON.stringify(R, null, 2) + '\n');
  console.log(`JSON: ${out}`);
} else if (!broken) {
  const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  all.compare = R;
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');
  console.log('JSON: bench/results.json ("compare")');
}
if (broken) {
  // A real breakage (a peer would not start, a session type does not work at all), not a figure.
  console.error(broken);
  process.exit(1);
}
process.exit(0);
