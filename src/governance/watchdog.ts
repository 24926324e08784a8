import type { Clock } from '../clock.js';
import { PeriodicPass } from '../periodic.js';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import type { UploadHealth } from '../storage/uploader.js';
import { isOverdue, type ReviewStore } from './reviews.js';
import type { AlertDispatcher } from './alerts.js';
import type { DrillStore } from './drills.js';

/**
 * Conditions that build up over time and must not go unnoticed: recordings that have not reached
 * the bucket for too long, and break-glass reviews past their due time. Each is alerted once
 * (per outage, per review). It also writes to the audit log what the CLI recorded (review verdicts,
 * drill outcomes), since the server is the log's one writer.
 */
export class GovernanceWatchdog extends PeriodicPass {
  private uploadAlertFor: number | undefined; // the outage (its start) already alerted

  constructor(
    private readonly deps: {
      alerts: AlertDispatcher;
      audit: AuditSink;
      reviews: ReviewStore;
      drills: DrillStore;
      uploadHealth: () => UploadHealth;
      clock: Clock;
      log: Logger;
      uploadFailingAfterMs: number;
      intervalMs: number;
    },
  ) {
    super(deps.intervalMs);
  }

  protected async pass(): Promise<void> {
    try {
      const now = this.deps.clock.now();
      const h = this.deps.uploadHealth();
      if (h.failingSince === undefined) this.uploadAlertFor = undefined;
      else if (now - h.failingSince >= this.deps.uploadFailingAfterMs && this.uploadAlertFor !== h.failingSince) {
        this.uploadAlertFor = h.failingSince;
        const minutes = Math.round((now - h.failingSince) / 60_000);
        this.deps.alerts.send({ kind: 'upload_failing', summary: `recording uploads have been failing for ${minutes} min; ${h.pending} waiting on this host` });
      }
      // Drill outcomes recorded by the CLI, likewise.
      for (const d of await this.deps.drills.unaudited()) {
        const o = d.outcome!;
        await recordOrLog(this.deps.audit, this.deps.log, { type: 'drill.completed', drill_id: d.id, session_id: o.session_id, ok: o.ok, failed: o.failed, by: d.by, ms: o.ms, started_at: d.started_at, drill: true });
        await this.deps.drills.markAudited(d.id);
      }
      for (const r of await this.deps.reviews.list()) {
        // Verdicts recorded by the CLI reach the audit log through the server (one writer).
        for (const [i, h] of r.history.entries()) {
          if (h.audited) continue;
          await recordOrLog(this.deps.audit, this.deps.log, { type: h.action === 'approved' ? 'review.approved' : 'review.flagged', session_id: r.session_id, user: r.user, ...(r.drill ? { drill: true } : {}), reviewer: h.by, note: h.note, at: new Date(h.at).toISOString() });
          await this.deps.reviews.markAudited(r.session_id, i);
        }
        if (!isOverdue(r, now) || r.overdue_alerted_at !== undefined) continue;
        await this.deps.reviews.markOverdueAlerted(r.session_id, now);
        this.deps.alerts.send({
          kind: 'review_overdue',
          ...(r.drill ? { drill: true } : {}),
          summary: `${r.drill ? '[DRILL] ' : ''}review overdue: break-glass session of ${r.user} on ${r.target} (${r.ticket}) is still unreviewed`,
          session_id: r.session_id,
          user: r.user,
          target: r.target,
          ticket: r.ticket,
          reason: r.reason,
        });
      }
    } catch (err) {
      this.deps.log.error({ err: describeError(err) }, 'governance check failed');
    }
  }
}
