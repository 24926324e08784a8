import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { createHash, timingSafeEqual } from 'node:crypto';

const { utils } = ssh2;

/** One authorized public key of a user. */
export interface AuthorizedKey {
  readonly type: string;
  readonly blob: Buffer; // SSH wire format of the public key
  readonly comment: string;
  readonly fingerprint: string; // SHA256:... as OpenSSH prints it
  verify(data: Buffer, signature: Buffer, hashAlgo?: string): boolean;
}

export type KeyParseResult = { ok: true; keys: AuthorizedKey[] } | { ok: false; line: number; message: string };

const KEY_LINE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)\s+[A-Za-z0-9+/=]+/;

/** True when a config entry is an inline key line rather than a path. */
export function looksLikeKeyLine(entry: string): boolean {
  return KEY_LINE.test(entry.trim());
}

/** Parses authorized_keys text (blank lines and # comments allowed; options prefixes are not supported). */
export function parseAuthorizedKeys(text: string): KeyParseResult {
  const keys: AuthorizedKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!looksLikeKeyLine(line)) {
      return { ok: false, line: i + 1, message: 'not an OpenSSH public key line (options before the key type are not supported)' };
    }
    const parsed = utils.parseKey(line);
    if (parsed instanceof Error) return { ok: false, line: i + 1, message: parsed.message };
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
    if (key.isPrivateKey()) return { ok: false, line: i + 1, message: 'this is a private key; give the public key' };
    keys.push(toAuthorizedKey(key));
  }
  return { ok: true, keys };
}

function toAuthorizedKey(key: ParsedKey): AuthorizedKey {
  const blob = key.getPublicSSH();
  return {
    type: key.type,
    blob,
    comment: key.comment,
    fingerprint: fingerprintOf(blob),
    verify: (data, signature, hashAlgo) => key.verify(data, signature, hashAlgo) === true,
  };
}

/** OpenSSH-style SHA256 fingerprint of a public key blob. */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Finds the key whose wire blob (which embeds the key type) equals `blob`, in time independent of where it matches. */
export function findKey(keys: readonly AuthorizedKey[], blob: Buffer): AuthorizedKey | undefined {
  let found: AuthorizedKey | undefined;
  for (const k of keys) {
    if (k.blob.length === blob.length && timingSafeEqual(k.blob, blob)) found ??= k;
  }
  return found;
}

/** Parses a host (private) key; returns an error message instead of throwing. */
export function checkPrivateKey(pem: Buffer): { ok: true; publicBlob: Buffer; type: string } | { ok: false; message: string } {
  const parsed = utils.parseKey(pem);
  if (parsed instanceof Error) return { ok: false, message: parsed.message };
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (!key.isPrivateKey()) return { ok: false, message: 'expected a private key' };
  return { ok: true, publicBlob: key.getPublicSSH(), type: key.type };
}
