import { join } from 'node:path';
import { generate } from 'otplib';
import type { Config } from '../config/load.js';
import { describeError } from '../errors.js';
import { TOTP_PERIOD_S } from '../auth/totp.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { verifyAuditLog } from '../audit/verify.js';
import { ViewerTokens, viewerTokensPath, type ViewerToken } from '../live/tokens.js';
import { ReviewStore, reviewsPath, type ReviewItem } from '../governance/reviews.js';
import { openRecordingSource, verifySource } from '../storage/recording-source.js';
import type { AuditLine, AuditTail } from './audit-tail.js';
import type { ControlResult } from './checklist.js';
import type { DrillSession, PromptRound } from './ssh-login.js';
import { listLiveSessions, watchSession, type LiveEndpoint } from './live-check.js';

/** A control's verdict before its time is measured. */
export type Verdict = Omit<ControlResult, 'ms'>;

const TOKEN_NAME = 'bastion-drill';
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * A code the bastion has not seen yet: codes are single-use per time step, so a drill right after
 * another login of the drill user uses the next step (the bastion accepts one step of clock skew),
 * or waits for it.
 */
export async function freshCode(config: Config, user: string, secret: string, progress: (l: string) => void): Promise<string> {
  const used = await new FileKvStore<number>(join(config.data_dir, 'state', 'totp-steps.json')).get(user);
  for (;;) {
    const now = Date.now();
    const current = Math.floor(now / 1000 / TOTP_PERIOD_S);
    const step = Math.max(current, (used ?? -1) + 1);
    if (step <= current + 1) return generate({ secret, epoch: step * TOTP_PERIOD_S });
    const wait = (current + 1) * TOTP_PERIOD_S * 1000 - now + 50;
    progress(`waiting ${Math.ceil(wait / 1000)} s for a fresh code (the drill user's last codes were used)`);
    await sleep(wait);
  }
}

export interface LoginSeen {
  code: number;
  codeEchoed: boolean;
  justification: number;
  badTicketRefused: boolean;
}

/**
 * Answers the bastion's prompts as an engineer would, first giving a malformed ticket to see it
 * refused. The code is given once: asked again (it was refused), the drill gives up rather than
 * spend the drill user's lockout budget.
 */
export function answerRound(round: PromptRound, a: { code: string; ticket: string; reason: string }, seen: LoginSeen): string[] | undefined {
  const [first, second] = round.prompts;
  if (round.prompts.length === 1 && first && /code/i.test(first.prompt)) {
    seen.code += 1;
    seen.codeEchoed ||= first.echo === true;
    return seen.code === 1 ? [a.code] : undefined;
  }
  if (round.prompts.length === 2 && /ticket/i.test(first!.prompt) && /reason/i.test(second!.prompt)) {
    seen.justification += 1;
    if (seen.justification === 1) return ['not a ticket', a.reason];
    if (/refused/i.test(round.instructions)) seen.badTicketRefused = true;
    return [a.ticket, a.reason];
  }
  return round.prompts.map(() => '');
}

export async function checkAlert(config: Config, tail: AuditTail, sessionId: string, start: AuditLine, timeoutMs: number): Promise<ControlResult> {
  const t0 = Date.now();
  const hooks = config.alert_webhooks.map((h) => h.name);
  if (hooks.length === 0) return { id: 'alert', ok: false, ms: 0, detail: 'no alert destination is configured (alerts.webhooks): nobody would be told' };
  const delivered = (ls: readonly AuditLine[]) => ls.filter((l) => l.type === 'alert.delivered' && l.session_id === sessionId && l.kind === 'break_glass');
  await tail.waitFor((ls) => (hooks.every((h) => delivered(ls).some((l) => l.webhook === h)) ? true : undefined), timeoutMs);
  const lines = tail.lines();
  const missing = hooks.filter((h) => !delivered(lines).some((l) => l.webhook === h));
  if (missing.length > 0) {
    const why = missing.map((h) => {
      const last = lines.filter((l) => l.type === 'alert.failed' && l.session_id === sessionId && l.webhook === h).at(-1);
      return `${h}${last ? ` (${String(last.error)})` : ''}`;
    });
    return { id: 'alert', ok: false, ms: Date.now() - t0, detail: `not delivered within ${seconds(timeoutMs)} to ${why.join(', ')}` };
  }
  const after = Math.max(...hooks.map((h) => Date.parse(delivered(lines).find((l) => l.webhook === h)!.ts) - Date.parse(start.ts)));
  return { id: 'alert', ok: true, ms: after, detail: `delivered to ${hooks.join(', ')} (time from session start to the last delivery)` };
}

/** The live view lists the session with its marks, and a watcher sees a command as it runs. */
export async function checkLive(config: Config, live: LiveEndpoint, sessionId: string, session: DrillSession, nonce: string, timeoutMs: number): Promise<Verdict> {
  const tokens = new ViewerTokens(new FileKvStore<ViewerToken>(viewerTokensPath(config.data_dir)));
  const { token, record } = await tokens.issue(TOKEN_NAME, 'auditor', 10 * 60_000, Date.now());
  try {
    const listed = await listLiveSessions(live, token, timeoutMs);
    if (!listed.ok) return { id: 'live', ok: false, detail: listed.error };
    const entry = listed.sessions.find((s) => s.id === sessionId);
    if (!entry) return { id: 'live', ok: false, detail: `GET /api/sessions does not list ${sessionId}` };
    if (entry.drill !== true || entry.break_glass !== true) return { id: 'live', ok: false, detail: `the live view lists ${sessionId} without its break-glass and drill marks` };
    const watching = await watchSession(live, sessionId, token, timeoutMs);
    if (!watching.ok) return { id: 'live', ok: false, detail: watching.error };
    try {
      session.shell.write(`echo BASTION-LIVE-$((40+2))-${nonce}\n`);
      const saw = await watching.watcher.saw(`BASTION-LIVE-42-${nonce}`, timeoutMs);
      return saw
        ? { id: 'live', ok: true, detail: `listed with its drill mark; a watcher saw a command as it ran (viewer token ${record.id}, revoked after)` }
        : { id: 'live', ok: false, detail: `the watcher did not see the session's output within ${seconds(timeoutMs)}` };
    } finally {
      watching.watcher.close();
    }
  } finally {
    await tokens.revoke(record.id, Date.now());
  }
}

export async function checkRecording(config: Config, tail: AuditTail, sessionId: string, nonce: string, timeoutMs: number): Promise<Verdict> {
  const uploaded = await tail.waitFor((ls) => ls.find((l) => l.type === 'recording.uploaded' && l.session_id === sessionId), timeoutMs);
  if (!uploaded) {
    const lastError = tail.lines().filter((l) => l.type === 'recording.upload_failed' || l.type === 'recording.failed').at(-1);
    return { id: 'recording', ok: false, detail: `not in the bucket within ${seconds(timeoutMs)}${lastError ? `; the bastion reports: ${String(lastError.error ?? lastError.type)}` : ''} (it stays in the spool and is retried)` };
  }
  const object = String(uploaded.object);
  try {
    const source = await openRecordingSource(sessionId, { config });
    let result;
    try {
      result = await verifySource(source, config.recording_trusted_keys, sessionId);
    } finally {
      source.close();
    }
    if (!result.ok) return { id: 'recording', ok: false, detail: `${object} does not verify: ${result.where}: ${result.reason}` };
    if (result.manifest.metadata.drill !== true) return { id: 'recording', ok: false, detail: `${object}: its signed metadata does not mark it as a drill` };
    const again = await openRecordingSource(sessionId, { config });
    let text = '';
    try {
      for await (const piece of again.pieces(() => undefined)) text += piece.toString('utf8');
    } finally {
      again.close();
    }
    if (!text.includes(`BASTION-DRILL-42-${nonce}`)) return { id: 'recording', ok: false, detail: `${object} verifies but does not contain the drill's command output` };
    return { id: 'recording', ok: true, detail: `${object}: signature and hashes valid, marked as a drill, the drill's output is in it` };
  } catch (err) {
    return { id: 'recording', ok: false, detail: `cannot read it back from the bucket: ${describeError(err)}` };
  }
}

export async function checkReview(config: Config, sessionId: string, timeoutMs: number): Promise<Verdict> {
  const reviews = new ReviewStore(new FileKvStore<ReviewItem>(reviewsPath(config.data_dir)));
  const deadline = Date.now() + timeoutMs;
  let item = await reviews.get(sessionId);
  while (!item && Date.now() < deadline) {
    await sleep(100);
    item = await reviews.get(sessionId);
  }
  if (!item) return { id: 'review', ok: false, detail: `no review item for ${sessionId}` };
  if (item.drill !== true) return { id: 'review', ok: false, detail: `the review item of ${sessionId} is not marked as a drill` };
  return { id: 'review', ok: true, detail: `pending review for ${sessionId}, marked as a drill (due ${new Date(item.due_at).toISOString()})` };
}

export async function checkAudit(path: string, tail: AuditTail, sessionId: string, drillId: string): Promise<Verdict> {
  const chain = await verifyAuditLog(path).catch((err: unknown) => ({ ok: false as const, line: 0, reason: describeError(err) }));
  if (!chain.ok) return { id: 'audit', ok: false, detail: `line ${chain.line}: ${chain.reason}` };
  const lines = tail.lines();
  const needed = ['login.success', 'session.start', 'session.end'] as const;
  const missing = needed.filter((type) => !lines.some((l) => l.type === type && l.drill === true && l.drill_id === drillId && (type === 'login.success' || l.session_id === sessionId)));
  if (missing.length) return { id: 'audit', ok: false, detail: `the chain is intact, but ${missing.join(', ')} for the drill session ${missing.length === 1 ? 'is' : 'are'} missing or not marked as this drill` };
  return { id: 'audit', ok: true, detail: `${chain.lines} lines chained; the drill's login, session start and end are marked with its id` };
}
