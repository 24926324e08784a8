// Item 4, concurrency: N idle interactive sessions (`ssh -tt` with no command: a login shell in a
// pty) held open at once through the bastion. At each level: the bastion's RSS (VmRSS of the
// bastion process and of its embedded S3 server; the shells are other processes), its CPU use over an idle window,
// and the keystroke latency of item 2 on one more session while they are all open.
// Levels grow in place (50, then 150 more for 200, then 300 more for 500): every session is a
// fresh bastion user, since TOTP codes are single-use.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { keystrokeLatency } from './keystroke.mjs';
import { quiet } from './measure.mjs';
import { TICKS, bastionPids, cpuTicks, cpuTicksOf, descendants } from './proc.mjs';

export function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Proportional set size (shared pages split among their users), for summing over processes. */
function pssKb(pid) {
  try {
    const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU use of the processes PIDS together over MS, in % of one core. */
export async function idleCpu(pids, ms) {
  const a = cpuTicksOf(pids);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((cpuTicksOf(pids) - a) / TICKS / ((Date.now() - t0) / 1000)) * 100;
}

const sum = (pids, f) => pids.reduce((a, p) => a + f(p), 0);

/** Opens one idle interactive session; resolves once its first output (the prompt) has come. */
async function openIdle(peer) {
  const { args, env } = await peer.open(null, { tty: true });
  const child = spawn('ssh', args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-1000)));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${peer.name}: an idle session gave no prompt in 60 s: ${stderr}`)), 60_000);
    child.stdout.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${peer.name}: an idle session ended (${code}): ${stderr}`));
    });
  });
  child.removeAllListeners('exit');
  child.stdout.resume(); // drain whatever comes (nothing, while idle)
  return child;
}

/** Opens COUNT sessions, at most PARALLEL logins at a time. */
async function openMany(peer, count, parallel, into) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      into.push(await openIdle(peer));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

async function closeAll(children) {
  await Promise.all(children.map((c) => new Promise((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', r);
    c.kill('SIGTERM');
  })));
}

/**
 * Runs the levels on PEER (a bastion peer; PID is the bastion process). Returns one row per level:
 * { sessions, rss_mb, rss_baseline_mb, rss_per_session_mb, rss_total_per_session_mb, idle_cpu_pct,
 *   open_s, keystroke }.
 */
export async function concurrency(peer, pid, { levels, samples, idleMs, settleMs = 11_000, parallel = 4, log = () => {} }) {
  const open = [];
  const rows = [];
  try {
    // The baseline: the bastion after warm-up (the earlier items ran sessions through it), settled.
    await new Promise((r) => setTimeout(r, 1000));
    const pids = bastionPids(pid);
    const base = sum(pids, rssKb);
    for (const n of levels) {
      const t0 = Date.now();
      await openMany(peer, n - open.length, parallel, open);
      const openS = (Date.now() - t0) / 1000;
      // The shells' start-up output is done, and its recording chunk (the prompt) has been closed
      // (chunk_interval, 10 s) and uploaded: what is measured next is sessions that are idle.
      await new Promise((r) => setTimeout(r, settleMs));
      await quiet(pid);
      const cpu = await idleCpu(pids, idleMs);
      const rss = sum(pids, rssKb);
      const keystroke = await keystrokeLatency(peer, samples);
      const row = {
        sessions: n,
        open_s: round(openS),
        rss_mb: round(rss / 1024),
        rss_baseline_mb: round(base / 1024),
        rss_per_session_mb: round((rss - base) / 1024 / n, 3),
        rss_total_per_session_mb: round(rss / 1024 / n, 3),
        idle_cpu_pct: round(cpu),
        keystroke,
      };
      rows.push(row);
      log(row);
    }
  } finally {
    await closeAll(open);
  }
  return rows;
}

/**
 * For comparison: what N idle sessions cost an OpenSSH sshd (PSS summed over its per-connection
 * processes, shells excluded), and its idle CPU. PID is the listening sshd.
 */
export async function sshdSessionMemory(peer, pid, n, { idleMs, parallel = 4 }) {
  const open = [];
  try {
    const before = descendants(pid).filter((p) => p.comm === 'sshd').reduce((s, p) => s + pssKb(p.pid), pssKb(pid));
    await openMany(peer, n, parallel, open);
    await new Promise((r) => setTimeout(r, 1000));
    const procs = descendants(pid).filter((p) => p.comm === 'sshd');
    const after = procs.reduce((s, p) => s + pssKb(p.pid), pssKb(pid));
    const t0 = procs.reduce((s, p) => s + safeTicks(p.pid), 0);
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, idleMs));
    const t1 = procs.reduce((s, p) => s + safeTicks(p.pid), 0);
    return {
      sessions: n,
      sshd_processes: procs.length,
      pss_per_session_mb: round((after - before) / 1024 / n, 3),
      idle_cpu_pct: round(((t1 - t0) / TICKS / ((Date.now() - w0) / 1000)) * 100),
    };
  } finally {
    await closeAll(open);
  }
}

function safeTicks(pid) {
  try {
    return cpuTicks(pid);
  } catch {
    return 0;
  }
}

const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
