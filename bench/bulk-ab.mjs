// Quick bulk-output check while working on throughput: item 1 of the suite only, fewer peers.
//   node bench/bulk-ab.mjs [pty|zero|text ...] [--runs N] [--diagnose] [--prof DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPeers } from './suite/peers.mjs';
import { makeTextFile, ptyCat, execZero, execCat } from './suite/bulk.mjs';
import { quiet, keystrokes } from './suite/measure.mjs';
import { median } from './lib.mjs';
import { readFileSync } from 'node:fs';
const sysBusy = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); return (f[0] + f[1] + f[2] + f[5] + f[6]) ; };
import { readdirSync } from 'node:fs';
const threads = () => { const m = new Map(); for (const pid of readdirSync('/proc')) { if (!/^\d+$/.test(pid)) continue; let tids; try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; } for (const tid of tids) { try { const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); m.set(`${pid}/${tid}`, { comm, pid, u: Number(f[11]), s: Number(f[12]) }); } catch {} } } return m; };
const diff = (a, b, wall) => { const by = new Map(); for (const [k, v] of b) { const o = a.get(k) ?? { u: 0, s: 0 }; const d = v.u - o.u + v.s - o.s; const ds = v.s - o.s; if (d <= 0) continue; const key = `${v.comm}:${v.pid === String(process.pid) ? "bench" : v.pid}${process.env.TIDS && v.comm === "node" ? "/" + k.split("/")[1] : ""}`; const e = by.get(key) ?? { t: 0, s: 0 }; e.t += d; e.s += ds; by.set(key, e); } return [...by].sort((x, y) => y[1].t - x[1].t).slice(0, Number(process.env.TOPN ?? 9)).map(([k, e]) => `${k} ${(e.t / wall).toFixed(0)}%(sys ${(e.s / wall).toFixed(0)})`).join(', '); };
const procTicks = (pid) => { try { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return Number(f[11]) + Number(f[12]); } catch { return 0; } };

const argv = process.argv.slice(2);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const runs = Number(opt('--runs', 3));
const kinds = argv.filter((a) => ['pty', 'zero', 'text', 'keys'].includes(a));
const MB = 1024 * 1024;
const file = join(tmpdir(), 'bastion-bench-50mb.txt');
await makeTextFile(file, 50 * MB);
const dir = mkdtempSync(join(tmpdir(), 'bastion-ab-'));
const only = (opt('--peers', 'bastion-local,bastion-other,bastion-unrec,ssh2-bare,bastion-ssh,sshd')).split(',');
const env = await startPeers(dir, { users: 6 * runs * 3 + 10, tlog: false, prof: opt('--prof'), unrecorded: argv.includes('--diagnose') });
const peers = env.peers.filter((p) => only.includes(p.name));
const fns = { pty: (p) => ptyCat(p, file, 50 * MB), zero: (p) => execZero(p, Number(opt('--zero-mb', 500)) * MB), text: (p) => execCat(p, file, 50 * MB) };
try {
  for (const kind of kinds.length ? kinds : ['pty']) {
    if (kind === 'keys') { await keystrokes(peers, { samples: Number(opt('--samples', 1000)), slices: 5, settle: async (p) => p.kind === 'bastion' && quiet(p.pid), log: console.log }); continue; }
    const got = new Map(peers.map((p) => [p.name, []]));
    const cpu = new Map(peers.map((p) => [p.name, []]));
    for (let k = 0; k < runs; k++) {
      for (let i = 0; i < peers.length; i++) {
        const p = peers[(i + k) % peers.length];
        try { const th0 = argv.includes('--threads') ? threads() : null; const seen = new Map(); const tick = th0 && setInterval(() => { for (const [k, v] of threads()) seen.set(k, v); }, 50); const b0 = sysBusy(), p0 = p.pid ? procTicks(p.pid) : 0, t0 = Date.now(); const r = await fns[kind](p); const wall = (Date.now() - t0) / 1000; got.get(p.name).push(r.mbs); if (p.pid) cpu.get(p.name).push(((procTicks(p.pid) - p0) * 10) / (r.bytes / 1e6)); if (argv.includes('--cpu')) console.log(`  ${p.name}: ${r.mbs.toFixed(1)} MB/s, system ${((sysBusy() - b0) / 100 / wall * 100).toFixed(0)}% of 1 core over ${wall.toFixed(2)} s (incl. login), bastion ${p.pid ? ((procTicks(p.pid) - p0) / 100 / wall * 100).toFixed(0) + '%' : '-'}`); if (th0) { clearInterval(tick); for (const [k, v] of threads()) seen.set(k, v); console.log('    ' + diff(th0, seen, wall)); } } catch (e) { console.log(p.name, 'failed', e.message.split('\n')[0]); }
        if (p.kind === 'bastion') await quiet(p.pid);
      }
    }
    const base = median(got.get('sshd') ?? [NaN]);
    for (const [name, xs] of got) console.log(`${kind} ${name.padEnd(14)} ${median(xs).toFixed(1).padStart(7)} MB/s  ${(median(xs) / base).toFixed(2)}x  [${xs.map((x) => x.toFixed(0)).join(' ')}]${cpu.get(name).length ? `  bastion CPU ${median(cpu.get(name)).toFixed(1)} ms/MB [${cpu.get(name).map((x) => x.toFixed(0)).join(' ')}]` : ''}`);
  }
} finally {
  await env.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  rmSync(env.cfg.dir, { recursive: true, force: true });
}
process.exit(0);
