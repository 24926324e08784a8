import { createRequire } from 'node:module';

/**
 * node-pty reports a program's exit only after its pty read side has closed (EIO), and on Linux
 * that EIO can arrive before the last output has been read: a fast program's final line is lost
 * (microsoft/node-pty#72; measured here at about 1 run in 500 under load). The fix has two
 * halves: the session holds the pty's slave side open so the EIO cannot come early, and it needs
 * to know the moment the program exits, to drain the output and then let go. node-pty does not
 * expose that moment, so its native `fork` is wrapped once to hear the exit callback first.
 */
type ExitHook = (code: number, signal: number) => void;
type Fork = (...args: unknown[]) => { pid: number };

const hooks = new Map<number, ExitHook>();
let installed = false;

function install(): boolean {
  if (installed) return true;
  try {
    const require = createRequire(createRequire(import.meta.url).resolve('node-pty'));
    let native: { fork: Fork } | undefined;
    for (const dir of ['../build/Release/pty.node', '../build/Debug/pty.node']) {
      try {
        native = require(dir) as { fork: Fork };
        break;
      } catch {
        // the next place
      }
    }
    if (!native || typeof native.fork !== 'function') return false;
    const fork = native.fork;
    native.fork = (...args: unknown[]) => {
      const onexit = args[args.length - 1] as ExitHook;
      let pid = -1;
      args[args.length - 1] = (code: number, signal: number) => {
        const hook = hooks.get(pid);
        hooks.delete(pid);
        try {
          hook?.(code, signal);
        } finally {
          onexit(code, signal);
        }
      };
      const term = fork(...args);
      pid = term.pid;
      return term;
    };
    installed = true;
  } catch {
    installed = false;
  }
  return installed;
}

/** Calls `fn` when the program with this pid (spawned by node-pty after `install`) exits, before node-pty's own handling. */
export function onPtyExit(pid: number, fn: ExitHook): boolean {
  if (!install()) return false;
  hooks.set(pid, fn);
  return true;
}

/** Installs the hook ahead of the first spawn (the wrapper must be in place when node-pty forks). */
export function preparePtyExit(): boolean {
  return install();
}
