import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { MemoryKvStore } from '../../src/state/kv-store.js';
import { ReviewStore, type ReviewItem } from '../../src/governance/reviews.js';
import { GovernanceWatchdog } from '../../src/governance/watchdog.js';
import { AlertDispatcher, alertingAudit, type Alert } from '../../src/governance/alerts.js';
import type { AuditEvent } from '../../src/audit/audit-log.js';
import type { UploadHealth } from '../../src/storage/uploader.js';
import { buildReport, reportCsv, reportMarkdown } from '../../src/governance/report.js';
import { DRILL_LOGIN_WINDOW_MS, DrillStore, type DrillRecord } from '../../src/governance/drills.js';
import { completeReport, formatChecklist, type ControlId, type ControlResult } from '../../src/drill/checklist.js';

function capture(): { alerts: AlertDispatcher; sent: Omit<Alert, 'id' | 'at'>[] } {
  const sent: Omit<Alert, 'id' | 'at'>[] = [];
  return { alerts: { send: (a: Omit<Alert, 'id' | 'at'>) => void sent.push(a) } as unknown as AlertDispatcher, sent };
}

describe('alerts raised from audited facts and from conditions over time', () => {
  it('a lockout and a moderator termination alert; a login attempted while locked does not alert again', async () => {
    const { alerts, sent } = capture();
    const recorded: AuditEvent[] = [];
    const audit = alertingAudit({ record: async (e) => void recorded.push(e) }, alerts);
    await audit.record({ type: 'login.locked', user: 'alice', ip: '10.0.0.9', until: '2026-11-23T10:15:00.000Z', duration_ms: 900000 });
    await audit.record({ type: 'login.locked', user: 'alice', ip: '10.0.0.9', until: '2026-11-23T10:15:00.000Z', note: 'login attempted while locked' });
    await audit.record({ type: 'session.terminated', session_id: 's-1', by: 'mallory', reason: 'no change ticket', user: 'bob', target: 'db1' });
    await audit.record({ type: 'login.success', user: 'carol' });
    expect(recorded).toHaveLength(4);
    expect(sent).toEqual([
      { kind: 'lockout', summary: 'MFA lockout: alice locked until 2026-11-23T10:15:00.000Z', user: 'alice', source_ip: '10.0.0.9' },
      { kind: 'session_terminated', summary: 'session of bob on db1 ended by mallory: no change ticket', session_id: 's-1', user: 'bob', target: 'db1', reason: 'no change ticket' },
    ]);
  });

  it('failing uploads alert once per outage after the configured time; overdue reviews alert once each', async () => {
    const { alerts, sent } = capture();
    const clock = new ManualClock(Date.parse('2026-11-23T10:00:00Z'));
    const reviews = new ReviewStore(new MemoryKvStore<ReviewItem>());
    await reviews.open({ session_id: 's-9', user: 'alice', target: 'prod', ticket: 'INC-9', reason: 'database down', source_ip: '10.0.0.7', opened_at: clock.now(), due_at: clock.now() + 1_000_000 });
    let health: UploadHealth = { pending: 2, uploaded: 0, failures: 3, failingSince: clock.now() };
    const drills = new DrillStore(new MemoryKvStore<DrillRecord>());
    const w = new GovernanceWatchdog({ alerts, audit: { record: async () => undefined }, reviews, drills, uploadHealth: () => health, clock, log: silentLogger(), uploadFailingAfterMs: 600_000, intervalMs: 1000 });
    await w.checkNow();
    expect(sent).toEqual([]);
    clock.advance(600_000);
    await w.checkNow();
    await w.checkNow();
    expect(sent.map((a) => a.kind)).toEqual(['upload_failing']);
    expect(sent[0]!.summary).toBe('recording uploads have been failing for 10 min; 2 waiting on this host');
    health = { pending: 0, uploaded: 2, failures: 3 };
    await w.checkNow();
    health = { pending: 1, uploaded: 2, failures: 4, failingSince: clock.now() };
    clock.advance(600_000);
    await w.checkNow();
    expect(sent.map((a) => a.kind)).toEqual(['upload_failing', 'upload_failing', 'review_overdue']); // a new outage, and the review is now overdue
    expect(sent[2]).toMatchObject({ session_id: 's-9', user: 'alice', ticket: 'INC-9' });
    await w.checkNow();
    expect(sent).toHaveLength(3);
  });

  it('the compliance report counts only its period, lockouts once, and says when the audit chain is broken', () => {
    const at = (m: number) => new Date(Date.parse('2026-11-23T10:00:00Z') + m * 60_000).toISOString();
    const lines = [
      { ts: at(-60 * 24 * 40), type: 'session.start', break_glass: true, session_id: 's-old', user: 'zed', target: 'prod', ticket: 'INC-1' },
      { ts: at(1), type: 'login.failure', user: 'alice', reason: 'invalid' },
      { ts: at(2), type: 'login.failure', user: 'alice', reason: 'replayed' },
      { ts: at(3), type: 'login.locked', user: 'alice', until: at(18), duration_ms: 900000 },
      { ts: at(4), type: 'login.locked', user: 'alice', until: at(18), note: 'login attempted while locked' },
      { ts: at(5), type: 'login.success', user: 'bob' },
      { ts: at(6), type: 'session.start', break_glass: true, session_id: 's-1', user: 'bob', target: 'prod', ticket: 'INC-7' },
      { ts: at(7), type: 'recording.upload_failed', session_id: 's-1' },
      { ts: at(9), type: 'recording.uploaded', session_id: 's-1' },
      { ts: at(10), type: 'alert.failed' },
      { ts: at(11), type: 'alert.delivered' },
      // A fire drill: its login, session and failures are rehearsal, counted under drills only.
      { ts: at(12), type: 'login.failure', user: 'drill', method: 'justification', reason: 'bad ticket', drill: true },
      { ts: at(12), type: 'login.success', user: 'drill', drill: true },
      { ts: at(13), type: 'session.start', break_glass: true, drill: true, session_id: 's-d', user: 'drill', target: 'prod', ticket: 'INC-1' },
      { ts: at(14), type: 'drill.completed', drill_id: 'd-1', session_id: 's-d', ok: true, failed: [], drill: true },
      { ts: at(20), type: 'drill.completed', drill_id: 'd-2', session_id: 's-e', ok: false, failed: ['alert', 'recording'], drill: true },
    ];
    const review: ReviewItem = { session_id: 's-1', user: 'bob', target: 'prod', ticket: 'INC-7', reason: 'x', source_ip: '1.2.3.4', opened_at: Date.parse(at(6)), due_at: Date.parse(at(6)) + 86_400_000, status: 'pending', history: [] };
    const r = buildReport(lines, [review], Date.parse(at(-60 * 24 * 30)), Date.parse(at(60 * 25)), { ok: false, lines: 7, detail: 'line 7: hash chain broken' });
    expect(r.break_glass).toMatchObject({ sessions: 1, by_user: { bob: 1 }, list: [{ session_id: 's-1', review: 'pending' }] });
    expect(r.logins).toEqual({ succeeded: 1, failed: 2, failures_by_reason: { invalid: 1, replayed: 1 }, lockouts: 1, locked_users: { alice: 1 } });
    expect(r.reviews).toMatchObject({ pending: 1, overdue: 1, hours_to_review: { median: null, max: null } });
    expect(r.uploads).toEqual({ uploaded: 1, failures: 1, recordings_failed: 0, last_failure: at(7) });
    expect(r.alerts).toEqual({ delivered: 1, failed_attempts: 1, gave_up: 0 });
    expect(reportMarkdown(r)).toContain('Audit log: **HASH CHAIN BROKEN** (line 7: hash chain broken).');
    expect(r.drills).toEqual({
      runs: 2,
      passed: 1,
      failed: 1,
      last_passed: at(14),
      list: [
        { drill_id: 'd-1', at: at(14), ok: true, failed: '', session_id: 's-d' },
        { drill_id: 'd-2', at: at(20), ok: false, failed: 'alert recording', session_id: 's-e' },
      ],
    });
    expect(reportMarkdown(r)).toContain(`- ${at(20)} \`d-2\`: **FAILED** (alert recording)`);
    expect(reportCsv(r)).toContain(`"drill","d-2","${at(20)}|failed|alert recording|s-e"`);
  });

  it('the report checks the bucket: every ended session has a signed recording there', () => {
    const t0 = Date.parse('2026-11-23T10:00:00Z');
    const at = (m: number) => new Date(t0 + m * 60_000).toISOString();
    const lines = [
      ...['s-in', 's-lost', 's-refused', 's-uploading'].map((id) => ({ ts: at(-1), type: 'session.start', session_id: id })),
      { ts: at(0), type: 'session.end', session_id: 's-before' }, // started before the period: its recording is in earlier days
      { ts: at(0), type: 'session.end', session_id: 's-in' },
      { ts: at(1), type: 'session.end', session_id: 's-lost' },
      { ts: at(2), type: 'session.end', session_id: 's-refused', reason: 'recording unavailable' },
      { ts: at(55), type: 'session.end', session_id: 's-uploading' }, // ended 5 minutes ago: still within the upload grace
      { ts: at(3), type: 'session.end', session_id: 's-drill', drill: true },
    ];
    const manifests = { ok: true as const, manifests: [{ session_id: 's-in', incomplete: false, signature: 'valid' }, { session_id: 's-x', incomplete: true, signature: 'signature does not verify' }] };
    const r = buildReport(lines, [], t0 - 3_600_000, t0 + 60 * 60_000, { ok: true, lines: 5, detail: '' }, manifests);
    expect(r.recordings).toEqual({ checked: true, in_bucket: 2, incomplete: 1, bad_signature: 1, missing: ['s-lost'] });
    expect(reportMarkdown(r)).toContain('**sessions without a recording 1**: `s-lost`');
    const down = buildReport(lines, [], t0 - 3_600_000, t0 + 60 * 60_000, { ok: true, lines: 5, detail: '' }, { ok: false, error: 'cannot reach the object store' });
    expect(down.recordings).toMatchObject({ checked: false, error: 'cannot reach the object store' });
    expect(reportMarkdown(down)).toContain('The bucket was not checked: cannot reach the object store.');
  });

  it('the watchdog writes drill outcomes recorded by the CLI to the audit log, once', async () => {
    const events: AuditEvent[] = [];
    const drills = new DrillStore(new MemoryKvStore<DrillRecord>());
    await drills.register('d-1', 'root', Date.parse('2026-11-23T10:00:00.000Z'));
    expect(await drills.unaudited()).toEqual([]); // registered but not finished: nothing to audit yet
    await drills.finish('d-1', { session_id: 's-1', ms: 900, ok: false, failed: ['alert'] });
    const w = new GovernanceWatchdog({
      alerts: capture().alerts,
      audit: { record: async (e) => void events.push(e) },
      reviews: new ReviewStore(new MemoryKvStore<ReviewItem>()),
      drills,
      uploadHealth: () => ({ pending: 0, uploaded: 0, failures: 0 }),
      clock: new ManualClock(0),
      log: silentLogger(),
      uploadFailingAfterMs: 600_000,
      intervalMs: 1000,
    });
    await w.checkNow();
    await w.checkNow();
    expect(events).toEqual([{ type: 'drill.completed', drill_id: 'd-1', session_id: 's-1', ok: false, failed: ['alert'], by: 'root', ms: 900, started_at: '2026-11-23T10:00:00.000Z', drill: true }]);
  });

  it('a drill is open until its login claims it by the id in its reason, once, within the login window', async () => {
    const drills = new DrillStore(new MemoryKvStore<DrillRecord>());
    const t0 = Date.parse('2026-11-23T10:00:00Z');
    expect(await drills.anyOpen(t0)).toBe(false);
    await drills.register('d-mwteew5t-095e58', 'root', t0);
    expect(await drills.anyOpen(t0 + 1000)).toBe(true);
    expect(await drills.claim('an ordinary reason for break-glass access', t0 + 1000)).toBeUndefined();
    expect(await drills.claim('Fire drill d-mwteew5t-000000: not this one', t0 + 1000)).toBeUndefined();
    expect(await drills.claim('Fire drill d-mwteew5t-095e58: rehearsing', t0 + 1000)).toBe('d-mwteew5t-095e58');
    expect(await drills.claim('Fire drill d-mwteew5t-095e58: rehearsing', t0 + 2000)).toBeUndefined(); // once
    expect(await drills.anyOpen(t0 + 2000)).toBe(false);
    await drills.register('d-mwteew6a-aaaaaa', 'root', t0);
    expect(await drills.anyOpen(t0 + DRILL_LOGIN_WINDOW_MS)).toBe(false); // expired unclaimed
    expect(await drills.claim('Fire drill d-mwteew6a-aaaaaa', t0 + DRILL_LOGIN_WINDOW_MS)).toBeUndefined();
  });

  it('the drill checklist lists every control in order; one never reached fails, saying why', () => {
    const results = new Map<ControlId, ControlResult>([
      ['login', { id: 'login', ok: true, ms: 120, detail: 'ok' }],
      ['session', { id: 'session', ok: false, ms: 10_400, detail: 'no session.start' }],
    ]);
    const r = completeReport({ drill_id: 'd-1', user: 'drill', target: 'prod', bastion: '127.0.0.1:2222', started_at: 'x', ms: 10_600 }, results, 'the session did not start');
    expect(r.ok).toBe(false);
    expect(r.controls.map((c) => c.id)).toEqual(['login', 'session', 'alert', 'live', 'recording', 'review', 'audit']);
    expect(r.controls[2]).toEqual({ id: 'alert', ok: false, ms: 0, detail: 'not checked: the session did not start' });
    const text = formatChecklist(r);
    expect(text).toContain('  PASS  login demands MFA and justification');
    expect(text).toMatch(/FAIL {2}break-glass session opens, marked as a drill +10 s {2}no session.start/);
    expect(text.trimEnd().split('\n').at(-1)).toBe('Drill FAILED: session (break-glass session opens, marked as a drill), alert (alert reaches every webhook), live (live view shows the session), recording (recording reaches S3 and verifies), review (review item exists), audit (audit chain intact, drill marked).');
  });
});
