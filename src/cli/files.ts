import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BastionError } from '../errors.js';

/** Writes a file holding a secret: mode 0600, parent 0700, atomically; refuses to overwrite unless `force`. */
export function writeSecretFile(path: string, content: string, force = false): void {
  if (!force && existsSync(path)) {
    throw new BastionError('FILE_EXISTS', `${path} already exists; pass --force to replace it`);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  // 'wx' never follows a planted symlink nor keeps an old file's mode.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
