import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import { BastionError, describeError } from '../errors.js';
import { readTotpSecret } from '../auth/totp.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { readRunFile } from '../state/run-file.js';
import { DrillStore, drillsPath, newDrillId, type DrillRecord } from '../governance/drills.js';
import { AuditTail } from './audit-tail.js';
import { completeReport, type ControlId, type ControlResult, type DrillReport } from './checklist.js';
import { openDrillSession, tryPublickeyAlone, type DrillEndpoint, type PromptRound } from './ssh-login.js';
import type { LiveEndpoint } from './live-check.js';
import { answerRound, checkAlert, checkAudit, checkLive, checkRecording, checkReview, freshCode, type LoginSeen, type Verdict } from './checks.js';

export interface DrillOptions {
  /** Who runs it (recorded with the outcome). */
  readonly by: string;
  /** How long to wait for each asynchronous control; default: the config's drill.timeout. */
  readonly timeoutMs?: number;
  /** Progress, one line per step, for people watching (stderr). */
  readonly progress?: (line: string) => void;
}

/** Everything a drill run needs, read once. */
interface DrillContext {
  readonly config: Config;
  readonly drill: NonNullable<Config['drill']>;
  readonly id: string;
  readonly nonce: string;
  readonly timeoutMs: number;
  readonly progress: (line: string) => void;
  readonly endpoint: DrillEndpoint;
  readonly live: LiveEndpoint;
  readonly secret: string;
  readonly tail: AuditTail;
  readonly auditPath: string;
  readonly results: Map<ControlId, ControlResult>;
  /** The control being checked, so that an unexpected error fails that one. */
  current: ControlId;
  sessionId?: string;
  notReached: string;
}

/**
 * A fire drill: one synthetic break-glass session as the configured drill user, against the
 * running bastion, checking every control a real emergency relies on. It registers itself first
 * (the bastion lets the drill user in only during a registered drill) and records its outcome for
 * the bastion to audit. A failed control never throws: the report says which one and why.
 */
export async function runDrill(config: Config, o: DrillOptions): Promise<DrillReport> {
  const drill = config.drill;
  if (!drill) throw new BastionError('CONFIG_INVALID', `${config.file}: no drill configured: add a drill section (user, target, private_key_file); see docs/drills.md`);
  const user = config.users[drill.user]!;
  const privateKey = readSecretFile(drill.private_key_file, 'drill.private_key_file');
  const secret = await readTotpSecret(user.totp_secret_file);
  if (!secret) throw new BastionError('CONFIG_INVALID', `${user.totp_secret_file}: the drill user ${user.name} has no TOTP secret (bastion totp enroll ${user.name})`);
  const running = readRunFile(config.data_dir);
  const scheme = config.http.tls_cert_file ? 'https' : 'http';
  const timeoutMs = o.timeoutMs ?? drill.timeout;
  const endpoint: DrillEndpoint = {
    host: running?.ssh.host ?? config.listen.host,
    port: running?.ssh.port ?? config.listen.port,
    username: `${drill.user}:${drill.target}`,
    privateKey,
    hostKeys: config.host_keys.map((k) => k.pem),
    timeoutMs,
  };
  const ctx: DrillContext = {
    config,
    drill,
    id: newDrillId(Date.now()),
    nonce: randomBytes(4).toString('hex'),
    timeoutMs,
    progress: o.progress ?? (() => undefined),
    endpoint,
    live: { url: running?.http ?? `${scheme}://${config.http.host}:${config.http.port}`, ...(config.http.tls_cert_file ? { certPem: readFileSync(config.http.tls_cert_file) } : {}) },
    secret: secret.reveal(),
    auditPath: join(config.data_dir, 'audit', 'audit.jsonl'),
    tail: new AuditTail(join(config.data_dir, 'audit', 'audit.jsonl')),
    results: new Map(),
    current: 'login',
    notReached: 'an earlier control failed',
  };
  const drills = new DrillStore(new FileKvStore<DrillRecord>(drillsPath(config.data_dir)));
  const started = Date.now();
  try {
    await drills.register(ctx.id, o.by, started);
  } catch (err) {
    throw new BastionError('STATE_IO', `cannot register the drill in ${drillsPath(config.data_dir)}: ${describeError(err)} (run it as the bastion's user)`, { cause: err });
  }
  try {
    await controls(ctx);
  } catch (err) {
    if (!ctx.results.has(ctx.current)) ctx.results.set(ctx.current, { id: ctx.current, ok: false, ms: 0, detail: `the check itself failed: ${describeError(err)}` });
  }
  const report = completeReport(
    { drill_id: ctx.id, user: drill.user, target: drill.target, bastion: `${endpoint.host}:${endpoint.port}`, started_at: new Date(started).toISOString(), ...(ctx.sessionId ? { session_id: ctx.sessionId } : {}), ms: Date.now() - started },
    ctx.results,
    ctx.notReached,
  );
  const outcome = { ...(ctx.sessionId ? { session_id: ctx.sessionId } : {}), ms: report.ms, ok: report.ok, failed: report.controls.filter((c) => !c.ok).map((c) => c.id) };
  await drills.finish(ctx.id, outcome).catch((err: unknown) => ctx.progress(`the outcome could not be recorded for the audit log: ${describeError(err)}`));
  return report;
}

/** The controls in order; each sets its result in ctx.results. */
async function controls(ctx: DrillContext): Promise<void> {
  const { drill, endpoint, results, tail, timeoutMs } = ctx;
  const timed = async (id: ControlId, check: () => Promise<Verdict>) => {
    ctx.current = id;
    const t0 = Date.now();
    results.set(id, { ...(await check()), ms: Date.now() - t0 });
  };

  // 1. The login: the key alone is refused; a code (not echoed) and a justification are demanded; a bad ticket is refused.
  let t = Date.now();
  ctx.progress(`drill ${ctx.id}: logging in as ${drill.user} to ${drill.target} at ${endpoint.host}:${endpoint.port}`);
  const alone = await tryPublickeyAlone(endpoint);
  if (alone.unreachable) {
    results.set('login', { id: 'login', ok: false, ms: Date.now() - t, detail: alone.detail });
    ctx.notReached = 'the bastion was not reachable';
    return;
  }
  const code = await freshCode(ctx.config, drill.user, ctx.secret, ctx.progress);
  const reason = `Fire drill ${ctx.id}: rehearsing the break-glass path end to end (bastion drill)`;
  const seen: LoginSeen = { code: 0, codeEchoed: false, justification: 0, badTicketRefused: false };
  const opened = await openDrillSession(endpoint, (round) => answerRound(round, { code, ticket: drill.ticket ?? ctx.config.auth.justification.ticket_example, reason }, seen));
  const problems = [
    ...(alone.refused ? [] : [alone.detail]),
    ...(seen.code > 0 ? [] : ['no verification code was asked for']),
    ...(seen.codeEchoed ? ['the code prompt echoes what is typed'] : []),
    ...(seen.justification > 0 ? [] : ['no ticket and reason were asked for']),
    ...(seen.justification === 0 || seen.badTicketRefused ? [] : ['a malformed ticket was accepted']),
  ];
  if (!opened.ok) {
    results.set('login', { id: 'login', ok: false, ms: Date.now() - t, detail: `${opened.error}${problems.length ? `; ${problems.join('; ')}` : ''}${lastWords(opened.rounds)}` });
    ctx.notReached = 'the drill could not log in';
    return;
  }
  const session = opened.session;
  results.set('login', { id: 'login', ok: problems.length === 0, ms: Date.now() - t, detail: problems.length ? problems.join('; ') : 'key alone refused; code asked (not echoed); ticket and reason asked; a malformed ticket refused' });

  let alertCheck: Promise<unknown> = Promise.resolve();
  try {
    // 2. The session opens as a break-glass drill (this drill's), and a command runs in it.
    ctx.current = 'session';
    t = Date.now();
    const start = await tail.waitFor((ls) => ls.find((l) => l.type === 'session.start' && l.drill_id === ctx.id && typeof l.session_id === 'string'), timeoutMs);
    if (!start) {
      results.set('session', { id: 'session', ok: false, ms: Date.now() - t, detail: `no session.start for drill ${ctx.id} in the audit log within ${Math.round(timeoutMs / 1000)} s` });
      ctx.notReached = 'the session did not start';
      return;
    }
    const sessionId = (ctx.sessionId = String(start.session_id));
    session.shell.write(`echo BASTION-DRILL-$((40+2))-${ctx.nonce}\n`);
    const ran = await session.waitFor(`BASTION-DRILL-42-${ctx.nonce}`, timeoutMs);
    const marks = [start.break_glass === true ? undefined : 'not audited as break-glass', ran ? undefined : 'the command did not run'].filter(Boolean);
    results.set('session', { id: 'session', ok: marks.length === 0, ms: Date.now() - t, detail: marks.length ? `${sessionId}: ${marks.join('; ')}` : `${sessionId} audited as break-glass and as drill ${ctx.id}; a command ran` });

    // 3. The alert, in the background while the live view is checked.
    alertCheck = checkAlert(ctx.config, tail, sessionId, start, timeoutMs).then(
      (r) => results.set('alert', r),
      (err: unknown) => results.set('alert', { id: 'alert', ok: false, ms: 0, detail: `the check itself failed: ${describeError(err)}` }),
    );
    // 4. The live view.
    await timed('live', () => checkLive(ctx.config, ctx.live, sessionId, session, ctx.nonce, timeoutMs));
    await alertCheck;

    // The session ends as a user would end it.
    session.shell.write('exit\n');
    await Promise.race([session.closed, new Promise((r) => setTimeout(r, 5_000).unref())]);
    session.end();

    // 5. The recording; 6. the review item; 7. the audit chain.
    ctx.progress(`drill ${ctx.id}: waiting for the recording of ${sessionId} to reach the bucket`);
    await timed('recording', () => checkRecording(ctx.config, tail, sessionId, ctx.nonce, timeoutMs));
    await timed('review', () => checkReview(ctx.config, sessionId, Math.min(timeoutMs, 10_000)));
    await timed('audit', () => checkAudit(ctx.auditPath, tail, sessionId, ctx.id));
  } finally {
    await alertCheck;
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

/** What the bastion said last, for a failed login. */
function lastWords(rounds: readonly PromptRound[]): string {
  const last = rounds.at(-1)?.instructions.trim();
  return last ? ` (the bastion said: "${last.slice(0, 300)}")` : '';
}
