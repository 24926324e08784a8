import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadAddon } from '../native/load-addon.js';

/**
 * node-pty reports a program's exit only after its pty read side has closed (EIO), and on Linux
 * that EIO can arrive before the last output has been read: a fast program's final line is lost
 * (microsoft/node-pty#72; measured here at about 1 run in 500 under load). The fix has two
 * halves: the session holds the pty's slave side open so the EIO cannot come early, and it needs
 * to know the moment the program exits, to drain the output and then let go. node-pty does not
 * expose that moment, so its native `fork` is wrapped once to hear the exit callback first.
 *
 * The `fork` wrapped is src/native/spawn's (the same arguments, result and callback as
 * node-pty's): it starts the program without copying the bastion's address space and lets none
 * of its descriptors through (see spawn.c). node-pty's own is never used: it would hand every new
 * program the other sessions' pty masters.
 */
type ExitHook = (code: number, signal: number) => void;
type Fork = (...args: unknown[]) => { pid: number; slave?: number };

/**
 * The fork for ptys: src/native/spawn's, or, where it is not built, one that refuses with a clear
 * error (the session is told; nothing starts with the other sessions' terminals in reach).
 */
export function ptyFork(addon: { fork: Fork } | undefined): Fork {
  if (addon && typeof addon.fork === 'function') return addon.fork;
  return () => {
    throw new Error(PTY_SPAWN_MISSING);
  };
}

/** Why a terminal cannot be opened without src/native/spawn's fork in place. */
export const PTY_SPAWN_MISSING = "local terminals need src/native/spawn, which is not built (run npm install): node-pty alone would hand this program the other sessions' terminals";

const hooks = new Map<number, ExitHook>();
/** The slave descriptors src/native/spawn opened before each program started, until a PtyStream takes its own. */
const slaves = new Map<number, number>();
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
    const fork = ptyFork(loadAddon<{ fork: Fork }>('spawn'));
    native.fork = (...args: unknown[]) => {
      const onexit = args[args.length - 1] as ExitHook;
      let pid = -1;
      args[args.length - 1] = (code: number, signal: number) => {
        const hook = hooks.get(pid);
        hooks.delete(pid);
        closeSlave(takeSlave(pid)); // nobody took it
        try {
          hook?.(code, signal);
        } finally {
          onexit(code, signal);
        }
      };
      const term = fork(...args);
      pid = term.pid;
      if (typeof term.slave === 'number') slaves.set(pid, term.slave);
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

/**
 * The pty's slave side, opened by src/native/spawn before the program started (so even a program
 * that has already exited cannot take the output with it), now the caller's to close.
 */
export function takeSlave(pid: number): number | undefined {
  const fd = slaves.get(pid);
  slaves.delete(pid);
  return fd;
}

function closeSlave(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Installs the hook ahead of the first spawn (the wrapper must be in place when node-pty forks). */
export function preparePtyExit(): boolean {
  return install();
}
