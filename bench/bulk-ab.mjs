// Item 1 (and with `keys`, item 2) of the suite alone, over the peers named, interleaved, with each
// bastion's CPU time per MB beside its MB/s (CPU per MB drifts far less than MB/s on a shared
// machine). For working on throughput; see docs/benchmarks.md. After `npm run build`:
//   node bench/bulk-ab.mjs [pty] [text] [zero] [keys] [--runs N] [--peers a,b] [--diagnose]
//        [--zero-mb N] [--samples N] [--prof DIR] [--cpu] [--threads]
//   --cpu      per run: the machine's and the bastion's CPU use
//   --threads  per run: the CPU of every thread of every process (TIDS=1: bastion threads apart; TOPN=n)
//   BENCH_OTHER=/other/checkout  adds bastion-other, that checkout's built bastion (A/B)
//   BENCH_NODE_FLAGS, BENCH_OTHER_NODE_FLAGS  node options added to the bastions, and to bastion-other alone
//   BENCH_NO_NODE_FLAGS=1  starts the bastions without the options they run with (src/node-flags.ts)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPeers } from './suite/peers.mjs';
import { makeTextFile, ptyCat, execZero, execCat } from './suite/bulk.mjs';
import { quiet, keystrokes } from './suite/measure.mjs';
import { TICKS, bastionCpuTicks, machineBusyTicks, minorFaults, threadTicks } from './suite/proc.mjs';
import { median } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const runs = Number(opt('--runs', 3));
const kinds = argv.filter((a) => ['pty', 'zero', 'text', 'keys'].includes(a));
const MB = 1024 * 1024;
const pct = (ticks, seconds) => `${((ticks / TICKS / seconds) * 100).toFixed(0)}%`;

/** CPU by thread between two threadTicks() samples, busiest first: "comm:pid 35%(sys 8)". */
function threadUse(before, after, seconds) {
  const by = new Map();
  for (const [key, t] of after) {
    const o = before.get(key) ?? { user: 0, system: 0 };
    const total = t.user - o.user + t.system - o.system;
    if (total <= 0) continue;
    const who = t.pid === String(process.pid) ? 'bench' : t.pid;
    const name = `${t.comm}:${who}${process.env.TIDS && t.comm === 'node' ? `/${key.split('/')[1]}` : ''}`;
    const e = by.get(name) ?? { total: 0, system: 0 };
    e.total += total;
    e.system += t.system - o.system;
    by.set(name, e);
  }
  return [...by]
    .sort((a, b) => b[1].total - a[1].total)
    .slice(0, Number(process.env.TOPN ?? 9))
    .map(([name, e]) => `${name} ${pct(e.total, seconds)}(sys ${pct(e.system, seconds)})`)
    .join(', ');
}

/** One run of FN on PEER: { mbs, cpuMsPerMb } (CPU of the bastion process, if the peer is one), printing what --cpu/--threads ask for. */
async function measured(peer, fn) {
  // Threads that end during the run (the ssh client, cat) are sampled while they live.
  const before = argv.includes('--threads') ? threadTicks() : null;
  const seen = new Map();
  const sampler = before && setInterval(() => threadTicks().forEach((v, k) => seen.set(k, v)), 50);
  const busy0 = machineBusyTicks();
  const cpu0 = peer.pid ? bastionCpuTicks(peer.pid) : 0;
  const faults0 = peer.pid ? minorFaults(peer.pid) : 0;
  const t0 = Date.now();
  const r = await fn(peer);
  const seconds = (Date.now() - t0) / 1000;
  const cpu = peer.pid ? bastionCpuTicks(peer.pid) - cpu0 : undefined;
  const faults = peer.pid ? `, ${((minorFaults(peer.pid) - faults0) / (r.bytes / 1e6)).toFixed(0)} page faults/MB` : '';
  if (argv.includes('--cpu')) console.log(`  ${peer.name}: ${r.mbs.toFixed(1)} MB/s, machine ${pct(machineBusyTicks() - busy0, seconds)} of one core over ${seconds.toFixed(2)} s (login included), bastion ${cpu === undefined ? '-' : pct(cpu, seconds)}${faults}`);
  if (before) {
    clearInterval(sampler);
    threadTicks().forEach((v, k) => seen.set(k, v));
    console.log(`    ${threadUse(before, seen, seconds)}`);
  }
  return { mbs: r.mbs, cpuMsPerMb: cpu === undefined ? undefined : ((cpu / TICKS) * 1000) / (r.bytes / 1e6) };
}

const file = join(tmpdir(), 'bastion-bench-50mb.txt');
await makeTextFile(file, 50 * MB);
const dir = mkdtempSync(join(tmpdir(), 'bastion-ab-'));
const only = opt('--peers', 'bastion-local,bastion-other,bastion-unrec,ssh2-bare,bastion-ssh,sshd').split(',');
const env = await startPeers(dir, { users: 6 * runs * 3 + 10, tlog: false, prof: opt('--prof'), unrecorded: argv.includes('--diagnose') });
const peers = env.peers.filter((p) => only.includes(p.name));
const settle = async (p) => {
  if (p.kind === 'bastion') await quiet(p.pid);
};
const items = {
  pty: (p) => ptyCat(p, file, 50 * MB),
  zero: (p) => execZero(p, Number(opt('--zero-mb', 500)) * MB),
  text: (p) => execCat(p, file, 50 * MB),
};
try {
  for (const kind of kinds.length ? kinds : ['pty']) {
    if (kind === 'keys') {
      await keystrokes(peers, { samples: Number(opt('--samples', 1000)), slices: 5, settle, log: console.log });
      continue;
    }
    const got = new Map(peers.map((p) => [p.name, { mbs: [], cpu: [] }]));
    for (let k = 0; k < runs; k++) {
      for (let i = 0; i < peers.length; i++) {
        const p = peers[(i + k) % peers.length];
        try {
          const r = await measured(p, items[kind]);
          got.get(p.name).mbs.push(r.mbs);
          if (r.cpuMsPerMb !== undefined) got.get(p.name).cpu.push(r.cpuMsPerMb);
        } catch (err) {
          console.log(p.name, 'failed', err.message.split('\n')[0]);
        }
        await settle(p);
      }
    }
    const base = median(got.get('sshd')?.mbs ?? [NaN]);
    for (const [name, { mbs, cpu }] of got) {
      const list = (xs) => xs.map((x) => x.toFixed(0)).join(' ');
      const cpuText = cpu.length ? `  bastion CPU ${median(cpu).toFixed(1)} ms/MB [${list(cpu)}]` : '';
      console.log(`${kind} ${name.padEnd(14)} ${median(mbs).toFixed(1).padStart(7)} MB/s  ${(median(mbs) / base).toFixed(2)}x  [${list(mbs)}]${cpuText}`);
    }
  }
} finally {
  await env.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  rmSync(env.cfg.dir, { recursive: true, force: true });
}
process.exit(0);
