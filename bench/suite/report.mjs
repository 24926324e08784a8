// The suite's output: machine facts, the targets of issue 8 judged against the figures, and a
// plain-text table (figures per peer, ratio against direct sshd, target, PASS/MISS).
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, loadavg, release } from 'node:os';
import { sshVersion } from './sshd.mjs';

export function machine() {
  let tlog = null;
  try {
    tlog = execFileSync('tlog-rec-session', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    // not installed
  }
  return {
    cpu: cpus()[0]?.model.trim(),
    cores: cpus().length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    openssh: sshVersion(),
    tlog,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : typeof x === 'number' ? x.toFixed(d) : String(x));

/** The targets of issue 8, judged. R is the suite's result object. Each: { id, what, value, target, pass }. */
export function judge(R) {
  const p = R.peers;
  const out = [];
  const add = (id, what, value, target, ok) => out.push({ id, what, value: value ?? null, target, pass: value === null || value === undefined || Number.isNaN(value) ? false : ok(value) });
  const ratio = (a, b) => (a != null && b ? a / b : null);
  for (const b of ['bastion-local', 'bastion-ssh']) {
    if (!p[b]) continue;
    add(`pty_vs_sshd:${b}`, `${b} pty cat MB/s vs sshd`, ratio(p[b].pty_cat?.median_mb_s, p.sshd?.pty_cat?.median_mb_s), '>= 0.9x', (v) => v >= 0.9);
    if (p['sshd-tlog']) add(`pty_vs_tlog:${b}`, `${b} pty cat MB/s vs sshd-tlog`, ratio(p[b].pty_cat?.median_mb_s, p['sshd-tlog'].pty_cat?.median_mb_s), '>= 2x', (v) => v >= 2);
    add(`exec_vs_sshd:${b}`, `${b} exec MB/s vs sshd`, ratio(p[b].exec_zero?.median_mb_s, p.sshd?.exec_zero?.median_mb_s), '>= 0.8x', (v) => v >= 0.8);
    const k = p[b].keystroke;
    add(`key_p50:${b}`, `${b} keystroke p50 minus sshd's (ms)`, k && p.sshd?.keystroke ? k.p50 - p.sshd.keystroke.p50 : null, '<= 0.3 ms', (v) => v <= 0.3);
    add(`key_p99:${b}`, `${b} keystroke p99 (ms)`, k?.p99, '< 3 ms', (v) => v < 3);
  }
  if (p['bastion-local']?.login) add('login:bastion-local', 'bastion-local login, server side (ms)', p['bastion-local'].login.median_server_ms, '< 150 ms', (v) => v < 150);
  const top = R.concurrency?.levels?.at(-1);
  if (top) {
    add(`conc_rss:${top.sessions}`, `${top.sessions} sessions: bastion RSS / sessions (MB)`, top.rss_total_per_session_mb, '< 1.5 MB', (v) => v < 1.5);
    add(`conc_key_p99:${top.sessions}`, `${top.sessions} sessions: keystroke p99 (ms)`, top.keystroke?.p99, '< 5 ms', (v) => v < 5);
  }
  return out;
}

/** The table as text lines. */
export function table(R) {
  const names = Object.keys(R.peers);
  const lines = [];
  const row = (cells, widths) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  const widths = [34, ...names.map(() => 14)];
  lines.push(row(['figure (median; ratio vs sshd)', ...names], widths));
  lines.push(row(['-'.repeat(34), ...names.map(() => '-'.repeat(14))], widths));
  const metric = (label, get, d = 1, ratioOf = true) => {
    const base = R.peers.sshd ? get(R.peers.sshd) : null;
    lines.push(row([label, ...names.map((n) => {
      const v = get(R.peers[n]);
      if (v === null || v === undefined) return R.peers[n]?.errors?.[label] ? 'FAILED' : '–';
      return ratioOf && base && n !== 'sshd' ? `${fmt(v, d)} (${fmt(v / base, 2)}x)` : fmt(v, d);
    })], widths));
  };
  metric('pty cat MB/s', (p) => p.pty_cat?.median_mb_s);
  metric('exec /dev/zero MB/s', (p) => p.exec_zero?.median_mb_s);
  metric('exec cat text MB/s', (p) => p.exec_text?.median_mb_s);
  metric('keystroke p50 ms', (p) => p.keystroke?.p50, 3, false);
  metric('keystroke p99 ms', (p) => p.keystroke?.p99, 3, false);
  metric('keystroke max ms', (p) => p.keystroke?.max, 3, false);
  metric('login wall ms', (p) => p.login?.median_wall_ms, 0);
  metric('login server side ms', (p) => p.login?.median_server_ms, 0);
  metric('login client side ms', (p) => p.login?.median_client_ms, 0, false);
  for (const [n, p] of Object.entries(R.peers)) for (const [what, e] of Object.entries(p.errors ?? {})) lines.push(`  ${n} ${what} FAILED: ${e}`);
  if (R.concurrency?.levels?.length) {
    lines.push('', 'concurrency (bastion-local, idle interactive sessions):');
    lines.push('  sessions  open s  RSS MB  RSS/session MB  (marginal)  idle CPU %  keystroke p50/p99/max ms');
    for (const l of R.concurrency.levels) {
      lines.push(`  ${String(l.sessions).padEnd(8)}  ${fmt(l.open_s, 1).padEnd(6)}  ${fmt(l.rss_mb, 0).padEnd(6)}  ${fmt(l.rss_total_per_session_mb, 3).padEnd(14)}  ${fmt(l.rss_per_session_mb, 3).padEnd(10)}  ${fmt(l.idle_cpu_pct, 1).padEnd(10)}  ${fmt(l.keystroke.p50, 2)}/${fmt(l.keystroke.p99, 2)}/${fmt(l.keystroke.max, 2)}`);
    }
    if (R.concurrency.sshd) {
      const s = R.concurrency.sshd;
      lines.push(`  sshd for comparison: ${s.sessions} sessions, ${fmt(s.pss_per_session_mb, 3)} MB PSS per session (its ${s.sshd_processes} per-session processes, shells excluded), idle CPU ${fmt(s.idle_cpu_pct, 1)} %`);
    }
  }
  if (R.fanout) {
    const f = R.fanout;
    lines.push('', `fan-out (bench/live.mjs, ${f.date}): ${f.viewers} viewers, latency p50/p99/max ${f.fanout_latency_ms.p50}/${f.fanout_latency_ms.p99}/${f.fanout_latency_ms.max} ms; pty cat with viewers ${fmt(f.with_viewers_vs_without * 100, 0)}% of without`);
  }
  lines.push('', 'targets (issue 8):');
  for (const t of R.targets) lines.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.what}: ${fmt(t.value, 3)} (target ${t.target})`);
  const c = R.exec_ceiling;
  if (c) {
    lines.push('', `exec ceiling (bench/suite/ceiling.mjs): a NUL is ${c.expansion} bytes of asciicast. Escaping (${fmt(c.escape_mb_s, 0)} MB/s) and SHA-256 (${fmt(c.sha256_mb_s, 0)} MB/s of`);
    lines.push(`  asciicast) on one idle thread allow ${fmt(c.cpu_input_mb_s, 0)} MB/s of NULs; the spool's disk, written and fdatasynced alone, ${c.disk_mb_s === null ? `not measured (${c.disk_skipped})` : `${fmt(c.disk_mb_s, 0)} MB/s of asciicast, ${fmt(c.disk_input_mb_s, 0)} of NULs`};`);
    lines.push(`  so at most ${fmt(c.input_mb_s, 0)} MB/s of NULs: ${fmt(c.vs_sshd, 2)}x of this run's sshd exec rate`);
  }
  const pr = R.pty_readers;
  if (pr) {
    const one = (name, r) => (r.error ? `${name} failed (${r.error})` : `${name} ${fmt(r.median_mb_s, 1)} MB/s (${fmt(r.vs_sshd, 2)}x)`);
    lines.push('', 'pty readers (bench/suite/pty-readers.mjs): the pty `cat` read alone, no SSH, no recording, against sshd\'s pty `cat`:');
    lines.push(`  ${one('script (C)', pr.script)}, ${one('node-pty on the main thread', pr.node_pty)},`);
    lines.push(`  ${one('a bare worker thread', pr.worker)}, ${one("the bastion's pty path (its reader thread)", pr.bastion_path)}`);
  }
  if (R.notes.length) lines.push('', 'notes:', ...R.notes.map((n) => `  - ${n}`));
  return lines;
}
