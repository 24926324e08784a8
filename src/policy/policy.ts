import type { Config, UserConfig } from '../config/load.js';

/** The outcome of asking whether a user may reach a target now. */
export type Decision =
  | { allow: true; target: string; via: 'standing' }
  | { allow: false; reason: 'unknown-target' | 'not-allowed' | 'no-target'; requested?: string; allowed: readonly string[] };

type PolicyView = Pick<Config, 'targets' | 'roles'>;

/** Pure: every target the user may reach through standing role access, sorted. */
export function allowedTargets(user: UserConfig, config: PolicyView): string[] {
  const set = new Set<string>();
  for (const r of user.roles) for (const t of config.roles[r]?.standing ?? []) set.add(t);
  return [...set].sort();
}

/**
 * Pure: decides whether `user` may open `requested` (or, when none was named, the user's default
 * target, or their only target). Unknown and forbidden targets are distinct reasons for the audit
 * log; the user is shown the same kind of message for both.
 */
export function authorize(user: UserConfig, requested: string | undefined, config: PolicyView): Decision {
  const allowed = allowedTargets(user, config);
  const name = requested ?? user.default_target ?? (allowed.length === 1 ? allowed[0] : undefined);
  if (name === undefined) return { allow: false, reason: 'no-target', allowed };
  if (!Object.hasOwn(config.targets, name)) return { allow: false, reason: 'unknown-target', requested: name, allowed };
  if (!allowed.includes(name)) return { allow: false, reason: 'not-allowed', requested: name, allowed };
  return { allow: true, target: name, via: 'standing' };
}
