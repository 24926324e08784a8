import type { ReviewItem } from './reviews.js';
import { isOverdue } from './reviews.js';

/** One audit line as the report reads it. */
export interface AuditRecord {
  readonly ts: string;
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface ComplianceReport {
  readonly period: { readonly from: string; readonly to: string };
  readonly audit_chain: { readonly ok: boolean; readonly lines: number; readonly detail: string };
  readonly break_glass: {
    readonly sessions: number;
    readonly by_user: Record<string, number>;
    readonly by_target: Record<string, number>;
    readonly list: readonly { session_id: string; user: string; target: string; ticket: string; started: string; review: string }[];
  };
  readonly reviews: {
    readonly approved: number;
    readonly flagged: number;
    readonly pending: number;
    readonly overdue: number;
    /** Hours from the session's start to the first verdict. */
    readonly hours_to_review: { readonly median: number | null; readonly max: number | null };
    readonly overdue_list: readonly { session_id: string; user: string; target: string; due: string }[];
  };
  readonly logins: { readonly succeeded: number; readonly failed: number; readonly failures_by_reason: Record<string, number>; readonly lockouts: number; readonly locked_users: Record<string, number> };
  readonly sessions: { readonly started: number; readonly terminated_by_security: number };
  readonly uploads: { readonly uploaded: number; readonly failures: number; readonly recordings_failed: number; readonly last_failure: string | null };
  /** What the bucket's signed manifests say about the period's sessions. */
  readonly recordings: {
    readonly checked: boolean;
    readonly error?: string;
    readonly in_bucket: number;
    readonly incomplete: number;
    readonly bad_signature: number;
    /** Sessions that ended over 10 minutes before the report with no recording in the bucket. */
    readonly missing: readonly string[];
  };
  readonly alerts: { readonly delivered: number; readonly failed_attempts: number; readonly gave_up: number };
  /** Fire drills (`bastion drill`); their sessions and logins are counted here, not above. */
  readonly drills: {
    readonly runs: number;
    readonly passed: number;
    readonly failed: number;
    readonly last_passed: string | null;
    readonly list: readonly { drill_id: string; at: string; ok: boolean; failed: string; session_id: string }[];
  };
}

const bump = (m: Record<string, number>, k: unknown) => {
  const key = typeof k === 'string' && k !== '' ? k : '(unknown)';
  m[key] = (m[key] ?? 0) + 1;
};

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return Math.round((s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2) * 10) / 10;
}

/** The manifests found in the bucket for the period (or why they could not be read). */
export type ManifestSummary = { ok: true; manifests: readonly { session_id: string; incomplete: boolean; signature: string }[] } | { ok: false; error: string };

/** A recording is due in the bucket this long after its session ended (uploads retry meanwhile). */
const UPLOAD_GRACE_MS = 10 * 60_000;

/**
 * Pure: the compliance report for [from, to] from audit lines (already read), review items and the
 * bucket's manifests. Every number is counted from these records, so it does not depend on a
 * process's uptime.
 */
export function buildReport(lines: Iterable<AuditRecord>, reviews: readonly ReviewItem[], from: number, to: number, chain: ComplianceReport['audit_chain'], manifests?: ManifestSummary): ComplianceReport {
  const bg = { sessions: 0, by_user: {} as Record<string, number>, by_target: {} as Record<string, number>, list: [] as ComplianceReport['break_glass']['list'][number][] };
  const logins = { succeeded: 0, failed: 0, failures_by_reason: {} as Record<string, number>, lockouts: 0, locked_users: {} as Record<string, number> };
  const sessions = { started: 0, terminated_by_security: 0 };
  const uploads = { uploaded: 0, failures: 0, recordings_failed: 0, last_failure: null as string | null };
  const alerts = { delivered: 0, failed_attempts: 0, gave_up: 0 };
  const drills = { runs: 0, passed: 0, failed: 0, last_passed: null as string | null, list: [] as ComplianceReport['drills']['list'][number][] };
  const bgIds = new Set<string>();
  const started = new Set<string>(); // sessions that started in the period: their recordings are in its days
  const ended = new Map<string, number>(); // session id -> end time, for sessions that ran (recorded)
  for (const l of lines) {
    const t = Date.parse(l.ts);
    if (!(t >= from && t <= to)) continue;
    if (l.type === 'drill.completed') {
      drills.runs++;
      if (l.ok === true) {
        drills.passed++;
        drills.last_passed = l.ts;
      } else drills.failed++;
      drills.list.push({ drill_id: String(l.drill_id), at: l.ts, ok: l.ok === true, failed: Array.isArray(l.failed) ? l.failed.join(' ') : '', session_id: String(l.session_id ?? '') });
      continue;
    }
    if (l.drill === true) continue; // a drill's logins, sessions and review are rehearsal, not use
    switch (l.type) {
      case 'login.success':
        logins.succeeded++;
        break;
      case 'login.failure':
        logins.failed++;
        bump(logins.failures_by_reason, l.reason);
        break;
      case 'login.locked':
        if (l.note === undefined) {
          logins.lockouts++;
          bump(logins.locked_users, l.user);
        }
        break;
      case 'session.start':
        sessions.started++;
        if (typeof l.session_id === 'string') started.add(l.session_id);
        if (l.break_glass === true) {
          bg.sessions++;
          bump(bg.by_user, l.user);
          bump(bg.by_target, l.target);
          bgIds.add(String(l.session_id));
          bg.list.push({ session_id: String(l.session_id), user: String(l.user), target: String(l.target), ticket: String(l.ticket ?? ''), started: l.ts, review: '' });
        }
        break;
      case 'session.end':
        if (l.reason !== 'recording unavailable' && typeof l.session_id === 'string') ended.set(l.session_id, t);
        break;
      case 'session.terminated':
        sessions.terminated_by_security++;
        break;
      case 'recording.uploaded':
        uploads.uploaded++;
        break;
      case 'recording.upload_failed':
        uploads.failures++;
        uploads.last_failure = l.ts;
        break;
      case 'recording.failed':
        uploads.recordings_failed++;
        break;
      case 'alert.delivered':
        alerts.delivered++;
        break;
      case 'alert.failed':
        alerts.failed_attempts++;
        break;
      case 'alert.gave_up':
        alerts.gave_up++;
        break;
    }
  }
  const byId = new Map(reviews.map((r) => [r.session_id, r]));
  const list = bg.list.map((s) => ({ ...s, review: byId.get(s.session_id)?.status ?? 'none' }));
  const inPeriod = reviews.filter((r) => bgIds.has(r.session_id));
  const hours = inPeriod.filter((r) => r.history.length > 0).map((r) => (r.history[0]!.at - r.opened_at) / 3_600_000);
  const overdue = inPeriod.filter((r) => isOverdue(r, to));
  return {
    period: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
    audit_chain: chain,
    break_glass: { ...bg, list },
    reviews: {
      approved: inPeriod.filter((r) => r.status === 'approved').length,
      flagged: inPeriod.filter((r) => r.status === 'flagged').length,
      pending: inPeriod.filter((r) => r.status === 'pending').length,
      overdue: overdue.length,
      hours_to_review: { median: median(hours), max: hours.length ? Math.round(Math.max(...hours) * 10) / 10 : null },
      overdue_list: overdue.map((r) => ({ session_id: r.session_id, user: r.user, target: r.target, due: new Date(r.due_at).toISOString() })),
    },
    logins,
    sessions,
    uploads,
    recordings: recordingsOf(manifests, new Map([...ended].filter(([id]) => started.has(id))), to),
    alerts,
    drills,
  };
}

function recordingsOf(m: ManifestSummary | undefined, ended: ReadonlyMap<string, number>, to: number): ComplianceReport['recordings'] {
  if (!m || !m.ok) return { checked: false, ...(m ? { error: m.error } : {}), in_bucket: 0, incomplete: 0, bad_signature: 0, missing: [] };
  const inBucket = new Set(m.manifests.map((x) => x.session_id));
  return {
    checked: true,
    in_bucket: m.manifests.length,
    incomplete: m.manifests.filter((x) => x.incomplete).length,
    bad_signature: m.manifests.filter((x) => x.signature !== 'valid').length,
    missing: [...ended].filter(([id, at]) => at <= to - UPLOAD_GRACE_MS && !inBucket.has(id)).map(([id]) => id),
  };
}

/** Markdown for people; CSV (section, key, value) for spreadsheets. */
export function reportMarkdown(r: ComplianceReport): string {
  const kv = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} (${v})`).join(', ') || 'none';
  const rows = r.break_glass.list.map((s) => `| ${s.started} | ${s.user} | ${s.target} | ${s.ticket} | ${s.review} | \`${s.session_id}\` |`);
  return [
    `# Compliance report, ${r.period.from} to ${r.period.to}`,
    '',
    `Audit log: ${r.audit_chain.ok ? 'hash chain intact' : '**HASH CHAIN BROKEN**'} (${r.audit_chain.detail}).`,
    '',
    '## Break-glass access',
    '',
    `${r.break_glass.sessions} session(s). By user: ${kv(r.break_glass.by_user)}. By target: ${kv(r.break_glass.by_target)}.`,
    '',
    ...(rows.length ? ['| started | user | target | ticket | review | session |', '| --- | --- | --- | --- | --- | --- |', ...rows, ''] : []),
    '## Post-event review',
    '',
    `Approved ${r.reviews.approved}, flagged ${r.reviews.flagged}, pending ${r.reviews.pending}, **overdue ${r.reviews.overdue}**. Time to review: median ${r.reviews.hours_to_review.median ?? '-'} h, longest ${r.reviews.hours_to_review.max ?? '-'} h.`,
    ...r.reviews.overdue_list.map((o) => `- overdue: \`${o.session_id}\` (${o.user} on ${o.target}), due ${o.due}`),
    '',
    '## Logins',
    '',
    `Succeeded ${r.logins.succeeded}, failed ${r.logins.failed} (${kv(r.logins.failures_by_reason)}), lockouts ${r.logins.lockouts} (${kv(r.logins.locked_users)}).`,
    '',
    '## Sessions and recordings',
    '',
    `Sessions started ${r.sessions.started}; ended by security ${r.sessions.terminated_by_security}. Recordings uploaded ${r.uploads.uploaded}; upload failures ${r.uploads.failures}${r.uploads.last_failure ? ` (last ${r.uploads.last_failure})` : ''}; recordings that could not be written ${r.uploads.recordings_failed}.`,
    '',
    r.recordings.checked
      ? `In the bucket (signed manifests): ${r.recordings.in_bucket} recording(s); incomplete ${r.recordings.incomplete}; **bad signature ${r.recordings.bad_signature}**; **sessions without a recording ${r.recordings.missing.length}**${r.recordings.missing.length ? `: ${r.recordings.missing.map((id) => `\`${id}\``).join(', ')}` : ''}.`
      : `The bucket was not checked${r.recordings.error ? `: ${r.recordings.error}` : ''}.`,
    '',
    '## Alerts',
    '',
    `Delivered ${r.alerts.delivered}; failed attempts ${r.alerts.failed_attempts}; given up ${r.alerts.gave_up}.`,
    '',
    '## Fire drills',
    '',
    `${r.drills.runs} drill(s): ${r.drills.passed} passed, ${r.drills.failed} failed; last passed ${r.drills.last_passed ?? 'never in this period'}.`,
    ...r.drills.list.map((d) => `- ${d.at} \`${d.drill_id}\`: ${d.ok ? 'passed' : `**FAILED** (${d.failed})`}`),
    '',
  ].join('\n');
}

export function reportCsv(r: ComplianceReport): string {
  const q = (v: unknown) => `"${String(v).replace(/"/g, '""')}"`;
  const out = [['section', 'key', 'value']];
  const flat = (section: string, o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (Array.isArray(v)) continue;
      if (v && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) out.push([section, `${k}.${k2}`, String(v2)]);
      else out.push([section, k, String(v)]);
    }
  };
  out.push(['period', 'from', r.period.from], ['period', 'to', r.period.to]);
  flat('audit_chain', r.audit_chain);
  flat('break_glass', r.break_glass);
  flat('reviews', r.reviews);
  flat('logins', r.logins);
  flat('sessions', r.sessions);
  flat('uploads', r.uploads);
  flat('recordings', r.recordings);
  for (const id of r.recordings.missing) out.push(['recording_missing', id, '']);
  flat('alerts', r.alerts);
  flat('drills', r.drills);
  for (const s of r.break_glass.list) out.push(['break_glass_session', s.session_id, `${s.user}|${s.target}|${s.ticket}|${s.started}|${s.review}`]);
  for (const d of r.drills.list) out.push(['drill', d.drill_id, `${d.at}|${d.ok ? 'passed' : 'failed'}|${d.failed}|${d.session_id}`]);
  return out.map((row) => row.map(q).join(',')).join('\n') + '\n';
}
