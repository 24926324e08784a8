import { createHmac } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import { describeError } from '../errors.js';
import type { Secret } from '../secret.js';
import type { SessionRegistry } from '../session/registry.js';

export type AlertKind = 'break_glass' | 'lockout' | 'session_terminated' | 'upload_failing' | 'review_overdue';

/** The generic webhook body (documented in docs/alerts.md). */
export interface Alert {
  readonly kind: AlertKind;
  readonly id: string;
  readonly at: string;
  readonly summary: string;
  readonly session_id?: string;
  readonly user?: string;
  readonly target?: string;
  readonly ticket?: string;
  readonly reason?: string;
  readonly source_ip?: string;
  readonly drill?: boolean;
  /** How to see it: the live view, the replay command. */
  readonly links?: { readonly watch?: string; readonly replay?: string };
}

export interface Webhook {
  readonly name: string;
  readonly url: string;
  readonly format: 'generic' | 'slack';
  /** Signs the body: `X-Bastion-Signature: sha256=HMAC(secret, body)`. */
  readonly secret?: Secret;
}

const TIMEOUT_MS = 5_000;
const FIRST_RETRY_MS = 1_000;

/**
 * Delivers alerts to every configured webhook, in the background: the caller never waits (a
 * break-glass login is not slowed by a slow receiver). A failed delivery is retried with
 * exponential backoff and jitter until `giveUpMs`; every outcome is audited.
 */
export class AlertDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private seq = 0;

  constructor(private readonly deps: { hooks: readonly Webhook[]; audit: AuditSink; log: Logger; clock: Clock; maxRetryMs: number; giveUpMs: number; fetch?: typeof fetch }) {}

  send(alert: Omit<Alert, 'id' | 'at'>): void {
    const full: Alert = { ...alert, id: `a-${this.deps.clock.now().toString(36)}-${(this.seq++).toString(36)}`, at: new Date(this.deps.clock.now()).toISOString() };
    this.deps.log.warn({ alert: full.kind, id: full.id, user: full.user, target: full.target, session_id: full.session_id }, `alert: ${full.summary}`);
    for (const hook of this.deps.hooks) void this.deliver(hook, full, 1, this.deps.clock.now());
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  private async deliver(hook: Webhook, alert: Alert, attempt: number, firstAt: number): Promise<void> {
    if (this.stopped) return;
    const body = JSON.stringify(hook.format === 'slack' ? slackBody(alert) : alert);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'bastion-alerts' };
    if (hook.secret) headers['X-Bastion-Signature'] = `sha256=${createHmac('sha256', hook.secret.reveal()).update(body).digest('hex')}`;
    const started = this.deps.clock.now();
    let failure: string | undefined;
    try {
      const res = await (this.deps.fetch ?? fetch)(hook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) failure = `HTTP ${res.status}`;
    } catch (err) {
      failure = describeError(err);
    }
    const base = { alert_id: alert.id, kind: alert.kind, webhook: hook.name, attempt, session_id: alert.session_id };
    if (failure === undefined) {
      await recordOrLog(this.deps.audit, this.deps.log, { type: 'alert.delivered', ...base, ms: this.deps.clock.now() - started });
      return;
    }
    const now = this.deps.clock.now();
    if (now - firstAt >= this.deps.giveUpMs) {
      await recordOrLog(this.deps.audit, this.deps.log, { type: 'alert.gave_up', ...base, error: failure });
      return;
    }
    const delay = Math.min(this.deps.maxRetryMs, FIRST_RETRY_MS * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
    await recordOrLog(this.deps.audit, this.deps.log, { type: 'alert.failed', ...base, error: failure, retry_in_ms: Math.round(delay) });
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(hook, alert, attempt + 1, firstAt);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}

/** A Slack-compatible body (incoming webhooks): text plus fields. Drills say so in their summary. */
export function slackBody(a: Alert): object {
  const fields = [
    ['User', a.user],
    ['Target', a.target],
    ['Ticket', a.ticket],
    ['Reason', a.reason],
    ['From', a.source_ip],
    ['Session', a.session_id],
    ['Watch', a.links?.watch],
    ['Replay', a.links?.replay],
  ].filter((f): f is [string, string] => typeof f[1] === 'string' && f[1] !== '');
  return {
    text: `${a.drill ? ':fire_drill: ' : ':rotating_light: '}${a.summary}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${a.summary}*` } },
      { type: 'section', fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}` })) },
    ],
  };
}

/** Break-glass sessions alert the moment they start. */
export function alertOnBreakGlass(registry: SessionRegistry, alerts: AlertDispatcher, links: { watchUrl?: () => string; configPath?: string }): void {
  registry.started.on((s) => {
    if (!s.principal.breakGlass) return;
    const p = s.principal;
    alerts.send({
      kind: 'break_glass',
      summary: `${p.drill ? '[DRILL] ' : ''}BREAK-GLASS: ${p.user} on ${p.target} (${p.ticket})`,
      ...(p.drill ? { drill: true } : {}),
      session_id: s.id,
      user: p.user,
      target: p.target,
      ticket: p.ticket,
      reason: p.reason,
      source_ip: s.sourceIp,
      links: {
        ...(links.watchUrl ? { watch: links.watchUrl() } : {}),
        replay: `bastion-player ${s.id}${links.configPath ? ` --config ${links.configPath}` : ''}`,
      },
    });
  });
}

/**
 * An audit sink that also raises alerts for the facts security must hear about at once: a user
 * locked out after failed codes, a session ended by a moderator. Everything is recorded first.
 */
export function alertingAudit(audit: AuditSink, alerts: AlertDispatcher): AuditSink {
  return {
    async record(e) {
      await audit.record(e);
      const str = (k: string) => (typeof e[k] === 'string' ? (e[k] as string) : undefined);
      if (e.type === 'login.locked' && e.note === undefined) {
        alerts.send({ kind: 'lockout', summary: `MFA lockout: ${str('user') ?? '?'} locked until ${str('until') ?? '?'}`, ...opt('user', str('user')), ...opt('source_ip', str('ip')) });
      } else if (e.type === 'session.terminated') {
        alerts.send({
          kind: 'session_terminated',
          ...(e.drill === true ? { drill: true } : {}),
          summary: `${e.drill === true ? '[DRILL] ' : ''}session of ${str('user') ?? '?'} on ${str('target') ?? '?'} ended by ${str('by') ?? '?'}: ${str('reason') ?? ''}`,
          ...opt('session_id', str('session_id')),
          ...opt('user', str('user')),
          ...opt('target', str('target')),
          ...opt('reason', str('reason')),
        });
      }
    },
  };
}

const opt = <K extends string>(k: K, v: string | undefined): Partial<Record<K, string>> => (v === undefined ? {} : ({ [k]: v } as Record<K, string>));
