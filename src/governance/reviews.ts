import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import type { KvStore } from '../state/kv-store.js';
import { describeError } from '../errors.js';
import type { SessionRegistry } from '../session/registry.js';

export type ReviewStatus = 'pending' | 'approved' | 'flagged';

export interface ReviewAction {
  readonly at: number;
  readonly by: string;
  readonly action: 'approved' | 'flagged';
  readonly note: string;
  /** Set by the server once it has written the action to the audit log (the CLI records actions). */
  readonly audited?: boolean;
}

export type ReviewDecision = { ok: true; item: ReviewItem } | { ok: false; reason: string };

/** The post-event review of one break-glass session: opened when it starts, closed by a reviewer. */
export interface ReviewItem {
  readonly session_id: string;
  readonly user: string;
  readonly target: string;
  readonly ticket: string;
  readonly reason: string;
  readonly source_ip: string;
  /** A fire drill's session: reviewed like any other (the drill rehearses the review too). */
  readonly drill?: boolean;
  readonly opened_at: number;
  readonly due_at: number;
  readonly status: ReviewStatus;
  readonly history: readonly ReviewAction[];
  /** When security was alerted that it is overdue (once). */
  readonly overdue_alerted_at?: number;
}

/** Where reviews live: beside the other shared state in the data dir. */
export function reviewsPath(dataDir: string): string {
  return join(dataDir, 'state', 'reviews.json');
}

/** Review items by session id, behind the shared KvStore port (a file on one node, Redis for a fleet). */
export class ReviewStore {
  constructor(private readonly kv: KvStore<ReviewItem>) {}

  /** Opens the review of a session; a second call for the same session keeps the first (created: false). */
  async open(item: Omit<ReviewItem, 'status' | 'history'>): Promise<{ item: ReviewItem; created: boolean }> {
    let created = false;
    const stored = await this.kv.update(item.session_id, (cur) => {
      created = cur === undefined;
      return cur ?? { ...item, status: 'pending', history: [] };
    });
    return { item: stored!, created };
  }

  async markOverdueAlerted(sessionId: string, at: number): Promise<void> {
    await this.kv.update(sessionId, (r) => (r ? { ...r, overdue_alerted_at: at } : r));
  }

  /**
   * A reviewer's verdict. Nobody reviews their own session; an approved review is closed. The
   * checks run inside the store's atomic update, so two reviewers cannot both win a race.
   */
  async decide(sessionId: string, action: ReviewAction['action'], by: string, note: string, at: number): Promise<ReviewDecision> {
    let refusal: string | undefined;
    const stored = await this.kv.update(sessionId, (r) => {
      if (!r) {
        refusal = `no review for session ${sessionId} (only break-glass sessions have one)`;
        return r;
      }
      if (by.toLowerCase() === r.user.toLowerCase()) refusal = `${by} cannot review their own session`;
      else if (r.status === 'approved') refusal = `the review of ${sessionId} is already approved (by ${r.history.at(-1)?.by ?? '?'})`;
      if (refusal) return r;
      return { ...r, status: action, history: [...r.history, { at, by, action, note }] };
    });
    return refusal || !stored ? { ok: false, reason: refusal ?? 'not found' } : { ok: true, item: stored };
  }

  async markAudited(sessionId: string, index: number): Promise<void> {
    await this.kv.update(sessionId, (r) => (r ? { ...r, history: r.history.map((h, i) => (i === index ? { ...h, audited: true } : h)) } : r));
  }

  get(sessionId: string): Promise<ReviewItem | undefined> {
    return this.kv.get(sessionId);
  }

  async list(): Promise<ReviewItem[]> {
    return (await this.kv.entries()).map(([, r]) => r).sort((a, b) => a.opened_at - b.opened_at);
  }
}

/** Pure: a pending review past its due time. */
export function isOverdue(r: ReviewItem, now: number): boolean {
  return r.status === 'pending' && r.due_at <= now;
}

/**
 * Every break-glass session opens a review item the moment it starts (audited as review.opened).
 * Never blocks or fails the session: a store error is logged and audited where possible.
 */
export function openReviewsForBreakGlass(o: { registry: SessionRegistry; reviews: ReviewStore; audit: AuditSink; log: Logger; clock: Clock; dueAfterMs: number }): void {
  o.registry.started.on((s) => {
    if (!s.principal.breakGlass) return;
    const now = o.clock.now();
    const p = s.principal;
    void o.reviews
      .open({ session_id: s.id, user: p.user, target: p.target, ticket: p.ticket, reason: p.reason, source_ip: s.sourceIp, ...(p.drill ? { drill: true } : {}), opened_at: now, due_at: now + o.dueAfterMs })
      .then((r) =>
        r.created
          ? recordOrLog(o.audit, o.log, { type: 'review.opened', session_id: s.id, user: p.user, target: p.target, ...(p.drill ? { drill: true } : {}), due_at: new Date(r.item.due_at).toISOString() })
          : undefined,
      )
      .catch((err: unknown) => {
        o.log.error({ err: describeError(err), session_id: s.id }, 'opening the review failed');
        return recordOrLog(o.audit, o.log, { type: 'review.open_failed', session_id: s.id, user: p.user, error: describeError(err) });
      });
  });
}
