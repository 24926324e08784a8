import { randomBytes } from 'node:crypto';
import type { KvStore } from '../state/kv-store.js';
import type { Config } from '../config/load.js';
import { validateJustification } from '../auth/justification.js';
import { parseDuration, formatDuration } from '../config/duration.js';
import { NAME_PATTERN } from '../config/schema.js';

/** A just-in-time grant: USER may reach TARGET until `expires_at`, for a ticket and a reason. */
export interface Grant {
  readonly id: string;
  readonly user: string;
  readonly target: string;
  readonly ticket: string;
  readonly reason: string;
  readonly created_at: number;
  readonly expires_at: number;
  readonly created_by: string;
  readonly revoked_at?: number;
  readonly revoked_by?: string;
  /** Set by the bastion once it has audited the creation / the revocation (the CLI writes the store directly). */
  readonly audited?: 'created' | 'revoked';
}

/** Where grants live; shared by every bastion node (a file on one node, Redis for a fleet). */
export interface GrantStore {
  add(grant: Grant): Promise<void>;
  list(): Promise<Grant[]>;
  /** Marks a grant revoked; undefined when there is no such grant. */
  revoke(id: string, by: string, now: number): Promise<Grant | undefined>;
  markAudited(id: string, what: 'created' | 'revoked'): Promise<void>;
}

export class KvGrantStore implements GrantStore {
  constructor(private readonly kv: KvStore<Grant>) {}
  async add(grant: Grant): Promise<void> {
    await this.kv.update(grant.id, () => grant);
  }
  async list(): Promise<Grant[]> {
    return (await this.kv.entries()).map(([, g]) => g).sort((a, b) => a.created_at - b.created_at);
  }
  async revoke(id: string, by: string, now: number): Promise<Grant | undefined> {
    return this.kv.update(id, (g) => (g === undefined ? undefined : g.revoked_at !== undefined ? g : { ...g, revoked_at: now, revoked_by: by }));
  }
  async markAudited(id: string, what: 'created' | 'revoked'): Promise<void> {
    await this.kv.update(id, (g) => (g === undefined ? undefined : { ...g, audited: what }));
  }
}

/** Pure: is the grant in force at `now`? */
export function isActive(g: Grant, now: number): boolean {
  return g.revoked_at === undefined && g.expires_at > now;
}

/** Pure: the active grant for user and target that lasts longest, if any. */
export function activeGrant(grants: readonly Grant[], user: string, target: string, now: number): Grant | undefined {
  return grants.filter((g) => g.user === user && g.target === target && isActive(g, now)).sort((a, b) => b.expires_at - a.expires_at)[0];
}

export interface GrantRequest {
  user?: unknown;
  target?: unknown;
  ttl?: unknown;
  ticket?: unknown;
  reason?: unknown;
}

export type GrantValidation = { ok: true; grant: Grant } | { ok: false; field: string; message: string };

/** Pure apart from the id: checks a grant request against the config; the message says what to fix. */
export function buildGrant(req: GrantRequest, config: Pick<Config, 'users' | 'targets' | 'grants' | 'auth'>, createdBy: string, now: number): GrantValidation {
  const bad = (field: string, message: string): GrantValidation => ({ ok: false, field, message });
  if (typeof req.user !== 'string' || !NAME_PATTERN.test(req.user) || !Object.hasOwn(config.users, req.user)) {
    return bad('user', `unknown user ${JSON.stringify(String(req.user ?? '')).slice(0, 80)}`);
  }
  if (typeof req.target !== 'string' || !NAME_PATTERN.test(req.target) || !Object.hasOwn(config.targets, req.target)) {
    return bad('target', `unknown target ${JSON.stringify(String(req.target ?? '')).slice(0, 80)} (known: ${Object.keys(config.targets).join(', ')})`);
  }
  const ttl = typeof req.ttl === 'string' || typeof req.ttl === 'number' ? parseDuration(req.ttl) : undefined;
  const max = config.grants.max_ttl;
  if (ttl === undefined || ttl < 60_000 || ttl > max) {
    return bad('ttl', `expected a duration between 1m and ${formatDuration(max)} such as "2h", got ${JSON.stringify(req.ttl ?? null)?.slice(0, 40)}`);
  }
  const j = validateJustification(typeof req.ticket === 'string' ? req.ticket : '', typeof req.reason === 'string' ? req.reason : '', config.auth.justification);
  if (!j.ok) return bad(j.field, j.message);
  return {
    ok: true,
    grant: {
      id: `g-${randomBytes(6).toString('hex')}`,
      user: req.user,
      target: req.target,
      ticket: j.value.ticket,
      reason: j.value.reason,
      created_at: now,
      expires_at: now + ttl,
      created_by: createdBy,
    },
  };
}
