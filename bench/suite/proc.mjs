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
