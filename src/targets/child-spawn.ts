import { spawn as spawnChild } from 'node:child_process';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { loadAddon } from '../native/load-addon.js';
import { signalName } from './process-group.js';
import type { ExitInfo } from './target.js';

interface SpawnAddon {
  spawn(file: string, args: string[], env: string[], cwd: string, uid: number, gid: number, onexit: (code: number, signal: number) => void): { pid: number; stdin: number; stdout: number; stderr: number };
}

/** src/native/spawn: programs started without fork() and without the bastion's descriptors (see spawn.c). */
const addon = loadAddon<SpawnAddon>('spawn');

/** A program with pipes for 0-2, in a session and process group of its own. */
export interface PipedChild {
  readonly pid: number | undefined;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Once it has exited and its stdout and stderr have ended, so no output is lost; or it could not start. */
  readonly done: Promise<{ exit: ExitInfo } | { error: Error }>;
}

export interface SpawnOptions {
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

/**
 * Starts FILE with pipes, through src/native/spawn where it is built (no fork: see spawn.c), else
 * through Node's child_process. A program that cannot start ends at once with the error.
 */
export function spawnPiped(file: string, args: string[], o: SpawnOptions): PipedChild {
  return addon ? nativeSpawn(addon, file, args, o) : nodeSpawn(file, args, o);
}

function nativeSpawn(a: SpawnAddon, file: string, args: string[], o: SpawnOptions): PipedChild {
  let onExit!: (info: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((resolve) => (onExit = resolve));
  let fds;
  try {
    const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
    fds = a.spawn(file, args, env, o.cwd, o.uid ?? -1, o.gid ?? -1, (code, signal) => {
      const name = signal ? signalName(signal) : undefined;
      onExit(name ? { code: null, signal: name } : { code });
    });
  } catch (err) {
    return failed(err as Error);
  }
  const stdin = new Socket({ fd: fds.stdin, readable: false, writable: true });
  const stdout = new Socket({ fd: fds.stdout, readable: true, writable: false });
  const stderr = new Socket({ fd: fds.stderr, readable: true, writable: false });
  const ended = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));
  const outputEnded = Promise.all([ended(stdout), ended(stderr)]);
  // A read error (the program gone mid-write) ends that stream like its end does.
  stdout.on('error', () => stdout.destroy());
  stderr.on('error', () => stderr.destroy());
  // The program has gone: its input end goes too (a channel closed without EOF would keep it open).
  void exited.then(() => stdin.destroy());
  return { pid: fds.pid, stdin, stdout, stderr, done: Promise.all([exited, outputEnded]).then(([exit]) => ({ exit })) };
}

function nodeSpawn(file: string, args: string[], o: SpawnOptions): PipedChild {
  // detached: its own process group, so a hang-up reaches everything it started.
  const child = spawnChild(file, args, { ...o, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const done = new Promise<{ exit: ExitInfo } | { error: Error }>((resolve) => {
    child.on('error', (error) => resolve({ error: new Error(`cannot start ${file}: ${error.message}`) }));
    // 'close' fires after stdout and stderr have ended, so no output is lost.
    child.on('close', (code, signal) => resolve({ exit: signal ? { code: null, signal: signal.replace(/^SIG/, '') } : { code: code ?? 0 } }));
  });
  return { pid: child.pid, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, done };
}

function failed(error: Error): PipedChild {
  const none = new Socket();
  none.destroy();
  // Told on a later turn, as Node's own spawn does, once the caller has its listeners in place.
  return { pid: undefined, stdin: none, stdout: none, stderr: none, done: new Promise((resolve) => setImmediate(() => resolve({ error }))) };
}
