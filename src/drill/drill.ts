import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import type { Config } from '../config/load.js';
import { BastionError, describeError } from '../errors.js';
import { readTotpSecret, TOTP_PERIOD_S } from '../auth/totp.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { readRunFile } from '../state/run-file.js';
import { verifyAuditLog } from '../audit/verify.js';
import { ViewerTokens, viewerTokensPath, type ViewerToken } from '../live/tokens.js';
import { ReviewStore, reviewsPath, type ReviewItem } from '../governance/reviews.js';
import { openRecordingSource, verifySource } from '../storage/recording-source.js';
import { AuditTail, type AuditLine } from './audit-tail.js';
import { completeReport, type ControlId, type ControlResult, type DrillReport } from './checklist.js';
import { openDrillSession, tryPublickeyAlone, type DrillEndpoint, type DrillSession, type PromptRound } from './ssh-login.js';
import { listLiveSessions, watchSession, type LiveEndpoint } from './live-check.js';

export interface DrillOptions {
  /** How long to wait for each asynchronous control; default: the config's drill.timeout. */
  readonly timeoutMs?: number;
  /** Progress, one line per step, for people watching (stderr). */
  readonly progress?: (line: string) => void;
}

const TOKEN_NAME = 'bastion-drill';

/**
 * A fire drill: one synthetic break-glass session as the configured drill user, against the
 * running bastion, checking every control a real emergency relies on. Never throws for a failed
 * control: the report says which one failed and why.
 */
export async function runDrill(config: Config, o: DrillOptions = {}): Promise<DrillReport> {
  const drill = config.drill;
  if (!drill) throw new BastionError('CONFIG_INVALID', `${config.file}: no drill configured: add a drill section (user, target, private_key_file); see docs/drills.md`);
  const user = config.users[drill.user]!;
  const timeoutMs = o.timeoutMs ?? drill.timeout;
  const progress = o.progress ?? (() => undefined);
  const privateKey = readSecretFile(drill.private_key_file, 'drill.private_key_file');
  const secret = await readTotpSecret(user.totp_secret_file);
  if (!secret) throw new BastionError('CONFIG_INVALID', `${user.totp_secret_file}: the drill user ${user.name} has no TOTP secret (bastion totp enroll ${user.name})`);

  const running = readRunFile(config.data_dir);
  const sshHost = running?.ssh.host ?? config.listen.host;
  const sshPort = running?.ssh.port ?? config.listen.port;
  const live: LiveEndpoint = {
    url: running?.http ?? `${config.http.tls_cert_file ? 'https' : 'http'}://${config.http.host}:${config.http.port}`,
    ...(config.http.tls_cert_file ? { certPem: readFileSync(config.http.tls_cert_file) } : {}),
  };
  const drillId = `d-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const nonce = randomBytes(4).toString('hex');
  const auditPath = join(config.data_dir, 'audit', 'audit.jsonl');
  const tail = new AuditTail(auditPath);
  const results = new Map<ControlId, ControlResult>();
  const started = Date.now();
  const pass = (id: ControlId, t0: number, detail: string, ms = Date.now() - t0) => results.set(id, { id, ok: true, ms, detail });
  const fail = (id: ControlId, t0: number, detail: string) => results.set(id, { id, ok: false, ms: Date.now() - t0, detail });
  const endpoint: DrillEndpoint = { host: sshHost, port: sshPort, username: `${drill.user}:${drill.target}`, privateKey, hostKeys: config.host_keys.map((k) => k.pem), timeoutMs };
  const base = { drill_id: drillId, user: drill.user, target: drill.target, bastion: `${sshHost}:${sshPort}`, started_at: new Date(started).toISOString() };
  const report = (notReached: string, sessionId?: string) => completeReport({ ...base, ...(sessionId ? { session_id: sessionId } : {}), ms: Date.now() - started }, results, notReached);

  // 1. The login: the key alone is refused; a code (not echoed) and a justification are demanded; a bad ticket is refused.
  let t = Date.now();
  progress(`drill ${drillId}: logging in as ${drill.user} to ${drill.target} at ${sshHost}:${sshPort}`);
  const alone = await tryPublickeyAlone(endpoint);
  if (alone.unreachable) {
    fail('login', t, alone.detail);
    return report('the bastion was not reachable');
  }
  const code = await freshCode(config, user.name, secret.reveal(), progress);
  const reason = `Fire drill ${drillId}: rehearsing the break-glass path end to end (bastion drill)`;
  const seen = { code: false, codeEchoed: false, justification: 0, badTicketRefused: false };
  const opened = await openDrillSession(endpoint, (round, i) => answerRound(round, i, { code, ticket: drill.ticket ?? config.auth.justification.ticket_example, reason }, seen));
  const loginProblems = [
    ...(alone.refused ? [] : [alone.detail]),
    ...(seen.code ? [] : ['no verification code was asked for']),
    ...(seen.codeEchoed ? ['the code prompt echoes what is typed'] : []),
    ...(seen.justification > 0 ? [] : ['no ticket and reason were asked for']),
    ...(seen.justification === 0 || seen.badTicketRefused ? [] : ['a malformed ticket was accepted']),
  ];
  if (!opened.ok) {
    fail('login', t, `${opened.error}${loginProblems.length ? `; ${loginProblems.join('; ')}` : ''}${describeRounds(opened.rounds)}`);
    return report('the drill could not log in');
  }
  const session = opened.session;
  if (loginProblems.length) fail('login', t, loginProblems.join('; '));
  else pass('login', t, 'key alone refused; code asked (not echoed); ticket and reason asked; a malformed ticket refused');

  try {
    // 2. The session opens as a break-glass drill, and a command runs in it.
    t = Date.now();
    const start = await tail.waitFor((ls) => ls.find((l) => l.type === 'session.start' && l.user === drill.user && typeof l.session_id === 'string'), timeoutMs);
    const sessionId = start ? String(start.session_id) : undefined;
    if (!start || !sessionId) {
      fail('session', t, `no session.start for ${drill.user} in the audit log within ${seconds(timeoutMs)}`);
      return report('the session did not start');
    }
    session.shell.write(`echo BASTION-DRILL-$((40+2))-${nonce}\n`);
    const echoed = await session.waitFor(`BASTION-DRILL-42-${nonce}`, timeoutMs);
    const marks = [start.break_glass === true ? undefined : 'not audited as break-glass', start.drill === true ? undefined : 'not marked as a drill', echoed ? undefined : 'the command did not run'].filter(Boolean);
    if (marks.length) fail('session', t, `${sessionId}: ${marks.join('; ')}`);
    else pass('session', t, `${sessionId} audited as break-glass and drill; a command ran`);

    // 3. The alert (in the background while the live view is checked).
    const alertCheck = checkAlert(config, tail, sessionId, start, timeoutMs).then((r) => results.set('alert', r));

    // 4. The live view lists the session and shows what is typed in it.
    t = Date.now();
    const liveResult = await checkLive(config, live, sessionId, session, nonce, timeoutMs);
    results.set('live', { ...liveResult, ms: Date.now() - t });
    await alertCheck;

    // The session ends as a user would end it.
    session.shell.write('exit\n');
    await Promise.race([session.closed, new Promise((r) => setTimeout(r, 5_000).unref())]);
    session.end();

    // 5. The recording reaches the bucket and verifies; 6. the review item; 7. the audit chain.
    t = Date.now();
    progress(`drill ${drillId}: waiting for the recording of ${sessionId} to reach the bucket`);
    results.set('recording', { ...(await checkRecording(config, tail, sessionId, nonce, timeoutMs)), ms: Date.now() - t });
    t = Date.now();
    const review = await waitForReview(config, sessionId, Math.min(timeoutMs, 10_000));
    if (!review) fail('review', t, `no review item for ${sessionId}`);
    else if (review.drill !== true) fail('review', t, `the review item of ${sessionId} is not marked as a drill`);
    else pass('review', t, `pending review for ${sessionId}, marked as a drill (due ${new Date(review.due_at).toISOString()})`);
    t = Date.now();
    results.set('audit', { ...(await checkAudit(auditPath, tail, sessionId, drill.user)), ms: Date.now() - t });
    return report('an earlier control failed', sessionId);
  } finally {
    session.end();
  }
}

function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new BastionError('CONFIG_INVALID', `${what}: cannot read ${path}: ${describeError(err)}`, { cause: err });
  }
}

/**
 * A code the bastion has not seen yet: codes are single-use per time step, so a drill right after
 * another login of the drill user uses the next step (the bastion accepts one step of clock skew),
 * or waits for it.
 */
async function freshCode(config: Config, user: string, secret: string, progress: (l: string) => void): Promise<string> {
  const used = await new FileKvStore<number>(join(config.data_dir, 'state', 'totp-steps.json')).get(user);
  for (;;) {
    const now = Date.now();
    const current = Math.floor(now / 1000 / TOTP_PERIOD_S);
    const step = Math.max(current, (used ?? -1) + 1);
    if (step <= current + 1) return generate({ secret, epoch: step * TOTP_PERIOD_S });
    const wait = (current + 1) * TOTP_PERIOD_S * 1000 - now + 50;
    progress(`waiting ${Math.ceil(wait / 1000)} s for a fresh code (the drill user's last codes were used)`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Answers the bastion's prompts as an engineer would, first giving a malformed ticket to see it refused. */
function answerRound(round: PromptRound, _i: number, a: { code: string; ticket: string; reason: string }, seen: { code: boolean; codeEchoed: boolean; justification: number; badTicketRefused: boolean }): string[] {
  const [first] = round.prompts;
  if (round.prompts.length === 1 && first && /code/i.test(first.prompt)) {
    seen.code = true;
    seen.codeEchoed ||= first.echo === true;
    return [a.code];
  }
  if (round.prompts.length === 2 && /ticket/i.test(round.prompts[0]!.prompt) && /reason/i.test(round.prompts[1]!.prompt)) {
    seen.justification += 1;
    if (seen.justification === 1) return ['not a ticket', a.reason];
    if (/refused/i.test(round.instructions)) seen.badTicketRefused = true;
    return [a.ticket, a.reason];
  }
  return round.prompts.map(() => '');
}

function describeRounds(rounds: readonly PromptRound[]): string {
  const last = rounds.at(-1)?.instructions.trim();
  return last ? ` (the bastion said: "${last.slice(0, 300)}")` : '';
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

async function checkAlert(config: Config, tail: AuditTail, sessionId: string, start: AuditLine, timeoutMs: number): Promise<ControlResult> {
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

async function checkLive(config: Config, live: LiveEndpoint, sessionId: string, session: DrillSession, nonce: string, timeoutMs: number): Promise<Omit<ControlResult, 'ms'>> {
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
      return saw ? { id: 'live', ok: true, detail: `listed with its drill mark; a watcher saw a command as it ran (viewer token ${record.id}, revoked after)` } : { id: 'live', ok: false, detail: `the watcher did not see the session's output within ${seconds(timeoutMs)}` };
    } finally {
      watching.watcher.close();
    }
  } finally {
    await tokens.revoke(record.id, Date.now());
  }
}

async function checkRecording(config: Config, tail: AuditTail, sessionId: string, nonce: string, timeoutMs: number): Promise<Omit<ControlResult, 'ms'>> {
  const uploaded = await tail.waitFor((ls) => ls.find((l) => l.type === 'recording.uploaded' && l.session_id === sessionId), timeoutMs);
  if (!uploaded) {
    const lastError = tail.lines().filter((l) => l.type === 'recording.upload_failed' || l.type === 'recording.failed').at(-1);
    return { id: 'recording', ok: false, detail: `not in the bucket within ${seconds(timeoutMs)}${lastError ? `; the bastion reports: ${String(lastError.error ?? lastError.type)}` : ''} (it stays in the spool and is retried)` };
  }
  try {
    const source = await openRecordingSource(sessionId, { config });
    let result;
    try {
      result = await verifySource(source, config.recording_trusted_keys, sessionId);
    } finally {
      source.close();
    }
    if (!result.ok) return { id: 'recording', ok: false, detail: `${String(uploaded.object)} does not verify: ${result.where}: ${result.reason}` };
    if (result.manifest.metadata.drill !== true) return { id: 'recording', ok: false, detail: `${String(uploaded.object)}: its signed metadata does not mark it as a drill` };
    const again = await openRecordingSource(sessionId, { config });
    let text = '';
    try {
      for await (const piece of again.pieces(() => undefined)) text += piece.toString('utf8');
    } finally {
      again.close();
    }
    if (!text.includes(`BASTION-DRILL-42-${nonce}`)) return { id: 'recording', ok: false, detail: `${String(uploaded.object)} verifies but does not contain the drill's command output` };
    return { id: 'recording', ok: true, detail: `${String(uploaded.object)}: signature and hashes valid, marked as a drill, the drill's output is in it` };
  } catch (err) {
    return { id: 'recording', ok: false, detail: `cannot read it back from the bucket: ${describeError(err)}` };
  }
}

async function waitForReview(config: Config, sessionId: string, timeoutMs: number): Promise<ReviewItem | undefined> {
  const reviews = new ReviewStore(new FileKvStore<ReviewItem>(reviewsPath(config.data_dir)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const item = await reviews.get(sessionId);
    if (item || Date.now() >= deadline) return item;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function checkAudit(path: string, tail: AuditTail, sessionId: string, user: string): Promise<Omit<ControlResult, 'ms'>> {
  const chain = await verifyAuditLog(path).catch((err: unknown) => ({ ok: false as const, line: 0, reason: describeError(err) }));
  if (!chain.ok) return { id: 'audit', ok: false, detail: `line ${chain.line}: ${chain.reason}` };
  const lines = tail.lines();
  const needed = ['login.success', 'session.start', 'session.end'] as const;
  const missing = needed.filter((type) => !lines.some((l) => l.type === type && l.user === user && l.drill === true && (type === 'login.success' || l.session_id === sessionId)));
  if (missing.length) return { id: 'audit', ok: false, detail: `the chain is intact, but ${missing.join(', ')} for the drill session ${missing.length === 1 ? 'is' : 'are'} missing or not marked as a drill` };
  return { id: 'audit', ok: true, detail: `${chain.lines} lines chained; the drill's login, session start and end are marked as a drill` };
}
