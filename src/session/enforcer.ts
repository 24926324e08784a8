import type { SessionRegistry } from './registry.js';
import type { GrantStore } from '../policy/grants.js';
import { PeriodicPass } from '../periodic.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../audit/audit-log.js';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { Principal } from '../auth/types.js';
import { isActive, type Grant } from '../policy/grants.js';
import { formatDuration } from '../config/duration.js';

/** What the enforcer needs to know about one live session. */
export interface EnforcedSession {
  readonly principal: Principal;
  readonly startedAt: number;
  readonly lastInputAt: number;
  readonly noticeSent: boolean;
}

export type EnforcementAction =
  | { kind: 'none' }
  | { kind: 'notice'; message: string }
  | { kind: 'end'; reason: 'revoked' | 'expired' | 'max-length' | 'idle'; message: string };

/**
 * Pure: what must happen to a live session at `now`. Expiry is enforced on running sessions, not
 * only at login: a notice `noticeMs` before the access ends, then the end; a revoked or vanished
 * grant ends the session at once; so do the maximum length and the idle timeout.
 */
export function enforce(s: EnforcedSession, now: number, grants: readonly Grant[], noticeMs: number): EnforcementAction {
  const p = s.principal;
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16) + ' UTC';
  let accessEnd = p.expiresAt;
  if (p.grantId !== undefined) {
    const g = grants.find((x) => x.id === p.grantId);
    if (!g || g.revoked_at !== undefined) {
      return { kind: 'end', reason: 'revoked', message: `Your grant for ${p.target} was revoked${g?.revoked_by ? ` by ${g.revoked_by}` : ''}; this session is closed.` };
    }
    if (!isActive(g, now) || accessEnd === undefined || g.expires_at < accessEnd) accessEnd = g.expires_at;
  }
  const maxEnd = s.startedAt + p.limits.maxMs;
  if (accessEnd !== undefined && now >= accessEnd) {
    const what = p.via === 'break-glass' ? 'The break-glass window' : 'Your grant';
    return { kind: 'end', reason: 'expired', message: `${what} for ${p.target} has ended; this session is closed.` };
  }
  if (now >= maxEnd) {
    return { kind: 'end', reason: 'max-length', message: `This session reached the maximum length of ${formatDuration(p.limits.maxMs)} and is closed.` };
  }
  if (now - s.lastInputAt >= p.limits.idleMs) {
    return { kind: 'end', reason: 'idle', message: `No input for ${formatDuration(p.limits.idleMs)}; this session is closed.` };
  }
  const end = Math.min(accessEnd ?? Infinity, maxEnd);
  if (!s.noticeSent && now >= end - noticeMs) {
    const why = end === accessEnd ? (p.via === 'break-glass' ? 'the break-glass window' : 'your grant') : 'the maximum session length';
    return { kind: 'notice', message: `This session will be closed at ${hhmm(end)} (in ${formatDuration(Math.max(0, Math.ceil((end - now) / 60_000)) * 60_000)}) when ${why} ends.` };
  }
  return { kind: 'none' };
}


/**
 * Runs `enforce` over the live sessions every `intervalMs` (and on demand, e.g. right after a
 * revocation), and audits grant changes it finds in the shared store, whoever made them.
 */
export class LimitEnforcer extends PeriodicPass {

  constructor(
    private readonly deps: { registry: SessionRegistry; grants: GrantStore; clock: Clock; audit: AuditSink; log: Logger; noticeMs: number; intervalMs: number },
  ) {
    super(deps.intervalMs);
  }

  protected async pass(): Promise<void> {
    const { registry, grants, clock, audit, log, noticeMs } = this.deps;
    try {
      const all = await grants.list();
      await this.auditGrantChanges(all);
      const now = clock.now();
      for (const s of registry.list()) {
        const action = enforce(s, now, all, noticeMs);
        if (action.kind === 'notice') {
          s.noticeSent = true;
          s.notify(action.message);
          await audit.record({ type: 'session.notice', session_id: s.id, user: s.principal.user, target: s.principal.target, message: action.message });
        } else if (action.kind === 'end') {
          s.terminate(action.message, action.reason);
        }
      }
    } catch (err) {
      log.error({ err: describeError(err) }, 'limit enforcement pass failed');
    }
  }

  private async auditGrantChanges(all: readonly Grant[]): Promise<void> {
    for (const g of all) {
      if (g.audited === undefined) {
        await this.deps.audit.record({ type: 'grant.created', grant_id: g.id, user: g.user, target: g.target, ticket: g.ticket, reason: g.reason, by: g.created_by, expires_at: new Date(g.expires_at).toISOString() });
        await this.deps.grants.markAudited(g.id, 'created');
      }
      if (g.revoked_at !== undefined && g.audited !== 'revoked') {
        await this.deps.audit.record({ type: 'grant.revoked', grant_id: g.id, user: g.user, target: g.target, by: g.revoked_by });
        await this.deps.grants.markAudited(g.id, 'revoked');
      }
    }
  }
}
