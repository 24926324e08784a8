import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { PeriodicPass } from '../periodic.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import type { KvStore } from '../state/kv-store.js';
import type { LiveHub } from './hub.js';
import { VIEWER_NAME, type ViewerTokens } from './tokens.js';
import { checkReasonText } from '../auth/justification.js';
import { describeError } from '../errors.js';

/** `bastion session kill`: a request the CLI leaves in the shared state, carried out by the node running the session. */
export interface KillRequest {
  readonly id: string;
  readonly session_id: string;
  readonly reason: string;
  readonly by: string;
  readonly requested_at: number;
  readonly done_at?: number;
}

export function killRequestsPath(dataDir: string): string {
  return join(dataDir, 'state', 'kill-requests.json');
}

export function newKillRequest(sessionId: string, reason: string, by: string, now: number): KillRequest {
  return { id: `k-${randomBytes(6).toString('hex')}`, session_id: sessionId, reason, by, requested_at: now };
}

/** Requests older than this are left to expire (the CLI has told its user no one answered). */
const KILL_REQUEST_TTL_MS = 60_000;

/**
 * The server side of what the CLI changes in shared state: it ends sessions that `bastion session
 * kill` asked to end, and audits viewer tokens the CLI issued or revoked (one audit log, one writer).
 */
export class LiveControl extends PeriodicPass {

  constructor(private readonly deps: { hub: LiveHub; kills: KvStore<KillRequest>; tokens: ViewerTokens; audit: AuditSink; log: Logger; clock: Clock; intervalMs: number }) {
    super(deps.intervalMs);
  }

  protected async pass(): Promise<void> {
    try {
      const now = this.deps.clock.now();
      for (const [key, k] of await this.deps.kills.entries()) {
        if (k.done_at !== undefined || now - k.requested_at > KILL_REQUEST_TTL_MS) {
          if (now - k.requested_at > KILL_REQUEST_TTL_MS) await this.deps.kills.update(key, () => undefined);
          continue;
        }
        if (!this.deps.hub.has(k.session_id)) continue; // another node's session, or already over
        await this.deps.kills.update(key, (cur) => (cur ? { ...cur, done_at: now } : cur));
        // Shared state is checked again before its text reaches a user's terminal.
        const reason = checkReasonText(k.reason);
        const by = /^cli:/.test(String(k.by)) && VIEWER_NAME.test(String(k.by).slice(4)) ? k.by : undefined;
        if (!reason.ok || !by) {
          this.deps.log.warn({ request: k.id }, 'a session kill request with an invalid reason or requester was ignored');
          continue;
        }
        await this.deps.hub.terminate(k.session_id, by, reason.text);
      }
      for (const t of await this.deps.tokens.list()) {
        if (t.audited === undefined) {
          await recordOrLog(this.deps.audit, this.deps.log, { type: 'token.issued', token_id: t.id, name: t.name, role: t.role, expires_at: new Date(t.expires_at).toISOString() });
          await this.deps.tokens.markAudited(t.id, 'issued');
        }
        if (t.revoked_at !== undefined && t.audited !== 'revoked') {
          await recordOrLog(this.deps.audit, this.deps.log, { type: 'token.revoked', token_id: t.id, name: t.name, role: t.role });
          await this.deps.tokens.markAudited(t.id, 'revoked');
        }
      }
    } catch (err) {
      this.deps.log.error({ err: describeError(err) }, 'live control check failed');
    }
  }
}
