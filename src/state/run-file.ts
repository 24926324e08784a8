import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where a running bastion can be reached: written at start, removed at stop. */
export interface RunInfo {
  readonly pid: number;
  readonly started_at: string;
  readonly ssh: { readonly host: string; readonly port: number };
  /** The HTTP service (live view, grants API), e.g. http://127.0.0.1:8022. */
  readonly http: string;
  /** The embedded S3 server, when it runs. */
  readonly s3_endpoint?: string;
}

export function runFilePath(dataDir: string): string {
  return join(dataDir, 'run', 'bastion.json');
}

/** A wildcard listen address is reached on loopback from the same host. */
export function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/**
 * Tells the CLI tools on this host (`bastion drill`, the player) the actual ports, which may differ
 * from the config's (port 0). Written atomically, owner-only.
 */
export function writeRunFile(dataDir: string, info: RunInfo): void {
  const path = runFilePath(dataDir);
  mkdirSync(join(dataDir, 'run'), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function removeRunFile(dataDir: string, pid = process.pid): void {
  if (readRunFile(dataDir, { requireAlive: false })?.pid === pid) rmSync(runFilePath(dataDir), { force: true });
}

/** The run file of a bastion that is running (its process is alive); undefined otherwise. */
export function readRunFile(dataDir: string, o: { requireAlive?: boolean } = {}): RunInfo | undefined {
  let info: RunInfo;
  try {
    info = JSON.parse(readFileSync(runFilePath(dataDir), 'utf8')) as RunInfo;
  } catch {
    return undefined;
  }
  if (typeof info?.pid !== 'number' || typeof info.ssh?.port !== 'number' || typeof info.http !== 'string') return undefined;
  if (o.requireAlive !== false && !processAlive(info.pid)) return undefined;
  return info;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
