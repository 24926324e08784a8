// CPU time from /proc, for the suite and bench/bulk-ab.mjs.
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ on Linux). */
export const TICKS = 100;

/** The fields after a /proc stat line's `(comm)`, which may itself hold spaces and parentheses. */
const fields = (stat) => stat.slice(stat.lastIndexOf(')') + 2).split(' ');

/** utime + stime of a process (all its threads), in ticks. */
export function cpuTicks(pid) {
  const f = fields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return Number(f[11]) + Number(f[12]);
}

/** Every process whose parent chain leads to ROOT (not ROOT itself), with its command name. */
export function descendants(root) {
  const parent = new Map();
  const comm = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p; p = parent.get(p)) {
      if (p === root) {
        out.push({ pid, comm: comm.get(pid) });
        break;
      }
    }
  }
  return out;
}

/**
 * The bastion's own processes: PID and the embedded S3 server it runs as a child (in-process until
 * the tenth round; counted with it so the figures stay comparable). The shells are not counted.
 */
export function bastionPids(pid) {
  const s3 = descendants(pid).filter(({ pid: p }) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('embedded-s3-process');
    } catch {
      return false;
    }
  });
  return [pid, ...s3.map((d) => d.pid)];
}
/** utime + stime of all PIDS, in ticks; a process that is gone counts 0. */
export function cpuTicksOf(pids) {
  return pids.reduce((a, p) => {
    try {
      return a + cpuTicks(p);
    } catch {
      return a;
    }
  }, 0);
}

const known = new Map();
/** utime + stime of the bastion's processes (bastionPids), in ticks. */
export function bastionCpuTicks(pid) {
  // The processes are looked up again every few seconds (a /proc scan is not free with 500 shells).
  let k = known.get(pid);
  if (!k || Date.now() - k.at > 5_000) known.set(pid, (k = { at: Date.now(), pids: bastionPids(pid) }));
  return cpuTicksOf(k.pids);
}

/** Minor page faults of a process so far (all its threads): fresh memory touched. */
export function minorFaults(pid) {
  return Number(fields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[7]);
}

/** Busy ticks of the whole machine (user, nice, system, irq, softirq). */
export function machineBusyTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6];
}

/** Every thread on the machine: "pid/tid" -> { pid, comm, user, system } (ticks). */
export function threadTicks() {
  const out = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = fields(stat);
        out.set(`${pid}/${tid}`, { pid, comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), user: Number(f[11]), system: Number(f[12]) });
      } catch {
        // gone
      }
    }
  }
  return out;
}
