import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { KvStore } from '../state/kv-store.js';

export type ViewerRole = 'auditor' | 'moderator';
export const VIEWER_ROLES: readonly ViewerRole[] = ['auditor', 'moderator'];
/** Viewer names are shown in the watched user's terminal: plain names only. */
export const VIEWER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** A live-view token as stored: never the token itself, only its SHA-256. */
export interface ViewerToken {
  readonly id: string;
  readonly name: string;
  readonly role: ViewerRole;
  readonly created_at: number;
  readonly expires_at: number;
  readonly revoked_at?: number;
  /** What the server has audited of it (tokens are issued by the CLI; the server writes the audit log). */
  readonly audited?: 'issued' | 'revoked';
}

export type TokenCheck =
  | { ok: true; token: ViewerToken }
  | { ok: false; status: 401 | 403; reason: 'no token' | 'unknown token' | 'expired' | 'revoked' | 'role' };

const PREFIX = 'bvt_';
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export function viewerTokensPath(dataDir: string): string {
  return join(dataDir, 'state', 'viewer-tokens.json');
}

/**
 * Bearer tokens for watching (auditor) and ending (moderator) live sessions. Stored by hash, so the
 * file cannot be replayed as tokens; looked up by the hash of what is presented (an exact-match
 * lookup on a SHA-256 reveals nothing about a token by its timing).
 */
export class ViewerTokens {
  constructor(private readonly kv: KvStore<ViewerToken>) {}

  /** Issues a token; the returned secret is shown once and never stored. */
  async issue(name: string, role: ViewerRole, ttlMs: number, now: number): Promise<{ token: string; record: ViewerToken }> {
    const token = PREFIX + randomBytes(32).toString('base64url');
    const record: ViewerToken = { id: `t-${randomBytes(6).toString('hex')}`, name, role, created_at: now, expires_at: now + ttlMs };
    await this.kv.update(hash(token), () => record);
    return { token, record };
  }

  async list(): Promise<ViewerToken[]> {
    return (await this.kv.entries()).map(([, t]) => t).sort((a, b) => a.created_at - b.created_at);
  }

  async markAudited(id: string, what: 'issued' | 'revoked'): Promise<void> {
    const entry = (await this.kv.entries()).find(([, t]) => t.id === id);
    if (entry) await this.kv.update(entry[0], (t) => (t ? { ...t, audited: what } : t));
  }

  async revoke(id: string, now: number): Promise<ViewerToken | undefined> {
    const entry = (await this.kv.entries()).find(([, t]) => t.id === id);
    if (!entry) return undefined;
    return this.kv.update(entry[0], (t) => (t && t.revoked_at === undefined ? { ...t, revoked_at: now } : t));
  }

  /** Is this presented token valid now, with at least `role`? (moderator includes auditor.) */
  async check(presented: string | undefined, need: ViewerRole, now: number): Promise<TokenCheck> {
    if (!presented) return { ok: false, status: 401, reason: 'no token' };
    if (!presented.startsWith(PREFIX) || presented.length > 200) return { ok: false, status: 401, reason: 'unknown token' };
    const t = await this.kv.get(hash(presented));
    if (!t || !VIEWER_NAME.test(t.name) || !VIEWER_ROLES.includes(t.role)) return { ok: false, status: 401, reason: 'unknown token' };
    if (t.revoked_at !== undefined) return { ok: false, status: 401, reason: 'revoked' };
    if (t.expires_at <= now) return { ok: false, status: 401, reason: 'expired' };
    if (need === 'moderator' && t.role !== 'moderator') return { ok: false, status: 403, reason: 'role' };
    return { ok: true, token: t };
  }
}
