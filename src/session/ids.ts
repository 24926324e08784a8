import { randomBytes } from 'node:crypto';

/** A session id that sorts by start time and is safe in file names and object keys: s-20261123T095100Z-3f9a2c1b. */
export function newSessionId(nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `s-${stamp}-${randomBytes(4).toString('hex')}`;
}
