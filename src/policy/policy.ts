import type { Config, UserConfig } from '../config/load.js';
import { activeGrant, type Grant } from './grants.js';

export type AccessVia = 'standing' | 'grant' | 'break-glass';

/** What a session through this access may do and how long it may last. */
export interface SessionLimits {
  readonly idleMs: number;
  readonly maxMs: number;
  readonly maxPerUser: number;
  readonly allow: { readonly port_forwarding: boolean; readonly file_transfer: boolean };
}

/** The outcome of asking whether a user may reach a target now. */
export type Decision =
  | { allow: true; target: string; via: AccessVia; expiresAt?: number; grantId?: string; limits: SessionLimits }
  | { allow: false; reason: 'unknown-target' | 'not-allowed' | 'no-target'; requested?: string; allowed: readonly AllowedTarget[] };

export interface AllowedTarget {
  readonly target: string;
  readonly via: AccessVia;
  readonly expiresAt?: number;
}

type PolicyView = Pick<Config, 'targets' | 'roles' | 'session' | 'break_glass'>;

/** Pure: every target the user may reach now and how (standing before grant before break-glass), sorted by name. */
export function allowedTargets(user: UserConfig, config: PolicyView, grants: readonly Grant[], now: number): AllowedTarget[] {
  const out = new Map<string, AllowedTarget>();
  for (const r of user.roles) for (const t of config.roles[r]?.standing ?? []) out.set(t, { target: t, via: 'standing' });
  for (const g of grants) {
    if (out.has(g.target) || g.user !== user.name) continue;
    const active = activeGrant(grants, user.name, g.target, now);
    if (active) out.set(g.target, { target: g.target, via: 'grant', expiresAt: active.expires_at });
  }
  for (const r of user.roles) {
    for (const t of config.roles[r]?.break_glass ?? []) if (!out.has(t)) out.set(t, { target: t, via: 'break-glass' });
  }
  return [...out.values()].sort((a, b) => a.target.localeCompare(b.target));
}

/**
 * Pure: may `user` open `requested` now? With no target named: the user's default target, or their
 * only non-emergency target. Break-glass is never chosen implicitly.
 */
export function authorize(user: UserConfig, requested: string | undefined, config: PolicyView, grants: readonly Grant[], now: number): Decision {
  const allowed = allowedTargets(user, config, grants, now);
  const ordinary = allowed.filter((a) => a.via !== 'break-glass');
  const name = requested ?? user.default_target ?? (ordinary.length === 1 ? ordinary[0]?.target : undefined);
  if (name === undefined) return { allow: false, reason: 'no-target', allowed };
  if (!Object.hasOwn(config.targets, name)) return { allow: false, reason: 'unknown-target', requested: name, allowed };
  const access = allowed.find((a) => a.target === name);
  if (!access) return { allow: false, reason: 'not-allowed', requested: name, allowed };
  const limits = limitsFor(user, name, access.via, config);
  switch (access.via) {
    case 'standing':
      return { allow: true, target: name, via: 'standing', limits };
    case 'grant': {
      const g = activeGrant(grants, user.name, name, now)!;
      return { allow: true, target: name, via: 'grant', expiresAt: g.expires_at, grantId: g.id, limits };
    }
    case 'break-glass':
      return { allow: true, target: name, via: 'break-glass', expiresAt: now + config.break_glass.window, limits };
  }
}

/**
 * Pure: the limits of the roles through which the user reaches the target (the most permissive of
 * them when several do); session defaults for access through a grant or where a role sets none.
 */
export function limitsFor(user: UserConfig, target: string, via: AccessVia, config: PolicyView): SessionLimits {
  const d = config.session;
  const tier = via === 'break-glass' ? 'break_glass' : 'standing';
  const roles = via === 'grant' ? [] : user.roles.map((r) => config.roles[r]).filter((r) => r !== undefined && r[tier].includes(target));
  const pick = (values: (number | undefined)[], fallback: number) => {
    const set = values.filter((v): v is number => v !== undefined);
    return set.length > 0 ? Math.max(...set) : fallback;
  };
  return {
    idleMs: pick(roles.map((r) => r!.idle_timeout), d.idle_timeout),
    maxMs: pick(roles.map((r) => r!.max_session), d.max_session),
    maxPerUser: pick(roles.map((r) => r!.max_sessions_per_user), d.max_sessions_per_user),
    allow: {
      port_forwarding: roles.some((r) => r!.allow.port_forwarding),
      file_transfer: roles.some((r) => r!.allow.file_transfer),
    },
  };
}

/** "db1 (standing), prod (break-glass)" for messages. */
export function describeTargets(allowed: readonly AllowedTarget[]): string {
  return allowed.length > 0 ? allowed.map((a) => `${a.target} (${a.via})`).join(', ') : 'none';
}
