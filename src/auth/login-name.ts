import { NAME_PATTERN } from '../config/schema.js';

export type LoginName = { ok: true; user: string; target?: string } | { ok: false };

/**
 * Parses the SSH user name: `user` or `user:target` (OpenSSH passes the colon through).
 * The target part is returned as given; policy decides whether such a target exists, and
 * `printable` makes it safe to echo back.
 */
export function parseLoginName(username: string): LoginName {
  if (username.length > 16_384) return { ok: false };
  const i = username.indexOf(':');
  const user = i < 0 ? username : username.slice(0, i);
  if (!NAME_PATTERN.test(user)) return { ok: false };
  return i < 0 ? { ok: true, user } : { ok: true, user, target: username.slice(i + 1) };
}

/** A user-supplied string made safe for a terminal or a log line: printable ASCII only, bounded. */
export function printable(text: string, max = 64): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
