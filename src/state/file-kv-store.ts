import { mkdirSync, readFileSync, openSync, closeSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BastionError, describeError } from '../errors.js';
import type { KvStore } from './kv-store.js';

/**
 * KvStore kept in one JSON file (mode 0600). Every update re-reads the file, applies the change
 * and replaces the file atomically (write temp, fsync, rename), so a crash leaves the old or the
 * new state, never a torn one. Updates in this process are serialized; the data is small
 * (one record per user), which is what makes whole-file rewrites acceptable. The write and its
 * fsync run on the thread pool: during another session's flood of output an fsync here took up to
 * 27 ms, and on the thread that runs every session each login would have held them all up.
 */
export class FileKvStore<T> implements KvStore<T> {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }

  async get(key: string): Promise<T | undefined> {
    await this.queue;
    return this.readAll()[key];
  }

  async entries(): Promise<[string, T][]> {
    await this.queue;
    return Object.entries(this.readAll());
  }

  update(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const run = this.queue.then(() =>
      this.withFileLock(async () => {
        const all = this.readAll();
        const next = fn(all[key]);
        if (next === undefined) delete all[key];
        else all[key] = next;
        await this.writeAll(all);
        return next;
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Read-modify-write under an exclusive lock file, so the CLI (grants) and the server never lose
   * each other's updates. A lock older than 10 s is from a crashed process and is taken over.
   */
  private async withFileLock<R>(fn: () => Promise<R>): Promise<R> {
    const lock = `${this.path}.lock`;
    for (let attempt = 0; ; attempt++) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new BastionError('STATE_IO', `cannot lock ${this.path}: ${describeError(err)}`, { cause: err });
        if (isStale(lock) || attempt > 400) rmSync(lock, { force: true });
        else await new Promise((r) => setTimeout(r, 5));
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private readAll(): Record<string, T> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new BastionError('STATE_IO', `cannot read state file ${this.path}: ${describeError(err)}`, { cause: err });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, T>;
    } catch {
      // fall through
    }
    throw new BastionError('STATE_IO', `state file ${this.path} is not valid JSON; restore it from backup or remove it`);
  }

  private async writeAll(all: Record<string, T>): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      await rm(tmp, { force: true });
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(all));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      throw new BastionError('STATE_IO', `cannot write state file ${this.path}: ${describeError(err)}`, { cause: err });
    }
  }
}

function isStale(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > 10_000;
  } catch {
    return false;
  }
}
