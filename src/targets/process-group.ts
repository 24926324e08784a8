import { constants } from 'node:os';

/** After a hang-up, how long a target's processes get before the whole group is killed. */
const KILL_AFTER_MS = 2000;

/**
 * Hangs up a process group (the target and everything it started), then kills what is left.
 * A session that ends must not leave a `sleep` or a `tail -f` behind holding its output open.
 */
export function hangUpGroup(pid: number | undefined, isDone: () => boolean): void {
  signalGroup(pid, 'SIGHUP');
  setTimeout(() => {
    if (!isDone()) signalGroup(pid, 'SIGKILL');
  }, KILL_AFTER_MS).unref();
}

export function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is gone
  }
}

/** A signal's name without SIG (TERM for 15), as SSH reports it. */
export function signalName(num: number): string | undefined {
  const entry = Object.entries(constants.signals).find(([, n]) => n === num);
  return entry ? entry[0].replace(/^SIG/, '') : undefined;
}
