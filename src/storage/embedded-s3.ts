import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { EmbeddedS3Message, EmbeddedS3Options } from './embedded-s3-process.js';

/** How long the server may take to listen, and how long it has to stop. */
const START_MS = 15_000;
const STOP_MS = 5_000;
/** A server that stopped by itself is started again after this, doubling up to the maximum. */
const RESTART_MS = 500;
const RESTART_MAX_MS = 30_000;

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  /** The server's process id (for tests and the benchmark's memory figures). */
  pid(): number | undefined;
  close(): Promise<void>;
}

// Built output runs the compiled entry; tests that import the sources use the built one too.
const entry = fileURLToPath(import.meta.url.endsWith('.ts') ? new URL('../../dist/src/storage/embedded-s3-process.js', import.meta.url) : new URL('./embedded-s3-process.js', import.meta.url));

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** Starts the server's process; resolves once it listens (with its port), rejects with why it did not. */
function spawnServer(o: EmbeddedS3Options): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    // No inherited node options (a test runner's loader, --cpu-prof), and none of the bastion's
    // environment (which may hold credentials): this is a plain program that needs neither.
    const child = fork(entry, [JSON.stringify(o)], { execArgv: [], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2_000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the embedded S3 server did not listen within ${START_MS / 1000} s`));
    }, START_MS);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (m: EmbeddedS3Message) => {
      done();
      if (m.ok) return resolve({ child, port: m.port, stderr: () => stderr });
      child.kill('SIGKILL');
      reject(new Error(`the embedded S3 server could not listen on ${o.host}:${o.port}: ${m.error}`));
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      const why = lastLine(stderr);
      reject(new Error(`the embedded S3 server stopped before it listened (${signal ?? `exit code ${code}`})${why ? `: ${why}` : ''}`));
    };
    const onError = (err: Error) => {
      done();
      reject(new Error(`the embedded S3 server could not be started: ${err.message}`));
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

/**
 * The S3-compatible server of the default set-up (s3rver), so the whole path is real S3 protocol.
 * It runs in a process of its own: its HTTP parsing and hashing stay off the sessions' thread, and
 * a crash of it is an S3 outage (uploads wait in the spool and are retried), not the bastion's. A
 * server that stops by itself is logged and started again on the same port.
 */
export async function startEmbeddedS3(o: EmbeddedS3Options, log?: Logger): Promise<EmbeddedS3> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const first = await spawnServer(o);
  const port = first.port;
  let current: ChildProcess | undefined;
  let closed = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let delay = RESTART_MS;

  const watch = (s: { child: ChildProcess; stderr: () => string }) => {
    current = s.child;
    // The server's process never keeps the bastion from exiting (it ends with the IPC channel):
    // neither it, nor its channel, nor the pipe of its stderr.
    s.child.unref();
    (s.child as ChildProcess & { channel?: { unref(): void } }).channel?.unref();
    (s.child.stderr as (NodeJS.ReadableStream & { unref?(): void }) | null)?.unref?.();
    s.child.once('exit', (code, signal) => {
      current = undefined;
      if (closed) return;
      log?.warn({ exitCode: code, signal, error: lastLine(s.stderr()) || undefined, retryMs: delay }, 'embedded s3 stopped; uploads wait in the spool until it is back');
      schedule();
    });
  };
  const schedule = () => {
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      spawnServer({ ...o, port })
        .then((s) => {
          if (closed) {
            s.child.kill('SIGTERM');
            return;
          }
          delay = RESTART_MS;
          log?.info({ port }, 'embedded s3 listening again');
          watch(s);
        })
        .catch((err: Error) => {
          if (closed) return;
          delay = Math.min(delay * 2, RESTART_MAX_MS);
          log?.warn({ error: err.message, retryMs: delay }, 'embedded s3 could not be started again');
          schedule();
        });
    }, delay);
    restartTimer.unref();
  };
  watch(first);

  return {
    endpoint: `http://${o.host}:${port}`,
    port,
    pid: () => current?.pid,
    async close() {
      closed = true;
      clearTimeout(restartTimer);
      const child = current;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
}
