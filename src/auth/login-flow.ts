import type { Config, UserConfig } from '../config/load.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../audit/audit-log.js';
import { authorize, describeTargets, type Decision } from '../policy/policy.js';
import type { GrantStore } from '../policy/grants.js';
import { findKey, type AuthorizedKey } from './keys.js';
import { parseLoginName, printable } from './login-name.js';
import { readTotpSecret, type TotpVerifier } from './totp.js';
import type { Lockouts } from './lockout.js';
import { validateJustification, type Justification } from './justification.js';
import { formatDuration } from '../config/duration.js';
import type { DrillStore } from '../governance/drills.js';
import type { AuthRequest, AuthResult, PendingPrincipal, Principal, Prompter } from './types.js';

export interface LoginDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly audit: AuditSink;
  readonly totp: TotpVerifier;
  readonly lockouts: Lockouts;
  readonly grants: GrantStore;
  /** Registered fire drills: the drill user logs in only during one. */
  readonly drills: DrillStore;
}

const JUSTIFICATION_ATTEMPTS = 3;
const TITLE = 'Bastion login';

/**
 * The login of one connection, in order: publickey, then (keyboard-interactive) a TOTP code, the
 * target decision and a justification. ssh2 callbacks only translate into `handle`; every rule
 * lives here. One instance per connection.
 */
export class LoginFlow {
  /** Set once publickey has been proven; later steps must come for the same user name. */
  private keyProven?: { username: string; user: UserConfig; key: AuthorizedKey; target?: string };
  /** True once something about this login has been audited (so a silent disconnect gets one line). */
  private audited = false;
  private lastFailure = 'no authentication attempted';
  /** Once refused, a connection gets no further prompts (OpenSSH retries keyboard-interactive on its own). */
  private refused = false;

  constructor(
    private readonly deps: LoginDeps,
    private readonly peer: { ip: string; port: number },
  ) {}

  async handle(req: AuthRequest): Promise<AuthResult> {
    if (this.refused) return { status: 'refused' };
    const result = await this.step(req);
    if (result.status === 'refused') this.refused = true;
    return result;
  }

  private async step(req: AuthRequest): Promise<AuthResult> {
    switch (req.method) {
      case 'none':
        return { status: 'need', methods: ['publickey'], partial: false };
      case 'publickey':
        return this.publickey(req);
      case 'keyboard-interactive':
        return this.keyboardInteractive(req.username, req.prompter);
      case 'other':
        this.lastFailure = `method ${printable(req.name, 32)} not offered`;
        return { status: 'need', methods: this.keyProven ? ['keyboard-interactive'] : ['publickey'], partial: false };
    }
  }

  /**
   * Called when the connection ends without a successful login. Leaves one audit line unless one was
   * written already; a connection that never asked to authenticate (a health check, a port scan)
   * is only audited when it was dropped for holding a login open too long.
   */
  async abandoned(reason: 'timeout' | 'disconnected', username?: string): Promise<void> {
    if (this.audited || (reason === 'disconnected' && username === undefined)) return;
    // The drill's own probe (its key alone, refused on purpose) is marked; anyone else's is not.
    const drill = this.keyProven?.user.drill && (await this.deps.drills.anyOpen(this.deps.clock.now())) ? { drill: true } : {};
    await this.audit({ type: 'login.failure', user: username ? printable(username) : undefined, ...drill, method: 'connection', reason: reason === 'timeout' ? 'login timed out' : this.lastFailure });
  }

  private publickey(req: Extract<AuthRequest, { method: 'publickey' }>): AuthResult {
    const name = parseLoginName(req.username);
    const user = name.ok && Object.hasOwn(this.deps.config.users, name.user) ? this.deps.config.users[name.user] : undefined;
    // Unknown users and unknown keys take the same path and get the same answer.
    const key = findKey(user?.keys ?? [], req.keyBlob);
    if (!name.ok || !user || !key) {
      this.lastFailure = 'publickey: no acceptable key';
      return { status: 'need', methods: ['publickey'], partial: false };
    }
    if (!req.signed) return { status: 'key-ok' };
    if (!key.verify(req.signed.data, req.signed.signature, req.signed.hashAlgo)) {
      this.lastFailure = 'publickey: bad signature';
      return { status: 'need', methods: ['publickey'], partial: false };
    }
    this.keyProven = { username: req.username, user, key, ...(name.target !== undefined ? { target: name.target } : {}) };
    return { status: 'need', methods: ['keyboard-interactive'], partial: true };
  }

  private async keyboardInteractive(username: string, prompter: Prompter): Promise<AuthResult> {
    const proven = this.keyProven;
    if (!proven || proven.username !== username) {
      this.keyProven = undefined;
      return { status: 'need', methods: ['publickey'], partial: false };
    }
    const { user } = proven;
    const base: Record<string, string | boolean> = { user: user.name, ip: this.peer.ip, key: proven.key.fingerprint };
    if (user.drill) {
      const refusal = await this.drillRefusal();
      if (refusal) {
        await this.audit({ type: 'login.failure', ...base, method: 'drill', reason: refusal });
        return { status: 'refused' };
      }
      base.drill = true; // a drill is open: this login is (so far) a drill's
    }

    const lock = await this.deps.lockouts.status(user.name, this.deps.clock.now());
    if (lock.locked) {
      await this.audit({ type: 'login.locked', ...base, until: new Date(lock.until).toISOString(), note: 'login attempted while locked' });
      await tell(prompter, `This account is locked after too many wrong codes until ${hhmm(lock.until)} UTC. Ask security if this is unexpected.`);
      return { status: 'refused' };
    }

    const mfa = await this.verifyTotp(user, prompter, base);
    if (mfa !== 'ok') return { status: 'refused' };

    const now = this.deps.clock.now();
    const decision = authorize(user, proven.target, this.deps.config, await this.deps.grants.list(), now);
    if (!decision.allow && !(decision.reason === 'no-target' && decision.allowed.length > 0)) {
      const requested = decision.requested === undefined ? undefined : printable(decision.requested);
      await this.audit({ type: 'access.refused', ...base, target: requested, reason: decision.reason });
      const list = describeTargets(decision.allowed);
      const why =
        decision.reason === 'no-target'
          ? `You have no targets. Ask for a grant, or name a target: ssh -p PORT ${user.name}:TARGET@HOST.`
          : `You may not open target "${requested}". Your targets: ${list}.`;
      await tell(prompter, why);
      return { status: 'refused' };
    }

    const target = decision.allow ? decision.target : undefined;
    const breakGlass = decision.allow && decision.via === 'break-glass';
    const warning = breakGlass
      ? `BREAK-GLASS ACCESS to "${target}": this is an emergency override. Security is alerted the moment you log in, ` +
        `the session ends after ${formatDuration(this.deps.config.break_glass.window)} at most, and it will be reviewed afterwards.`
      : !decision.allow
        ? `You will choose a target after login (${describeTargets(decision.allowed)}).`
        : decision.via === 'grant' && decision.expiresAt !== undefined
          ? `Access to "${target}" through grant ${decision.grantId} until ${hhmm(decision.expiresAt)} UTC.`
          : undefined;
    const justification = await this.askJustification(prompter, { ...base, ...(target ? { target } : {}) }, warning);
    if (!justification) return { status: 'refused' };
    // The drill user's reason must name the open drill it belongs to (claimed once).
    const drillId = user.drill ? await this.deps.drills.claim(justification.reason, this.deps.clock.now()) : undefined;
    if (user.drill && !drillId) {
      delete base.drill;
      await this.audit({ type: 'login.failure', ...base, method: 'drill', reason: 'the reason names no open drill' });
      await tell(prompter, 'The drill user logs in only for a fire drill (bastion drill).');
      return { status: 'refused' };
    }
    const identity = { user: user.name, ticket: justification.ticket, reason: justification.reason, keyFingerprint: proven.key.fingerprint, mfa: 'totp' as const, drill: drillId !== undefined, ...(drillId ? { drillId } : {}) };

    if (!decision.allow) {
      await this.audit({ type: 'login.success', ...base, target: null, choices: decision.allowed.map((a) => a.target), mfa: 'totp', ticket: identity.ticket, reason: identity.reason });
      return { status: 'accepted', principal: { ...identity, choices: decision.allowed } };
    }
    const principal = toPrincipal(identity, decision);
    await this.auditSuccess(base, principal);
    return { status: 'accepted', principal };
  }

  /**
   * After login, a user who named no target picked `target` from the menu: decide again (grants may
   * have changed) and audit the outcome.
   */
  async choose(pending: PendingPrincipal, target: string, ip: string): Promise<Principal | { refused: string }> {
    const user = Object.hasOwn(this.deps.config.users, pending.user) ? this.deps.config.users[pending.user] : undefined;
    if (!user) return { refused: 'unknown user' };
    const decision = authorize(user, target, this.deps.config, await this.deps.grants.list(), this.deps.clock.now());
    const base = { user: pending.user, ip, key: pending.keyFingerprint, ...(pending.drillId ? { drill: true, drill_id: pending.drillId } : {}) };
    if (!decision.allow) {
      await this.audit({ type: 'access.refused', ...base, target: printable(target), reason: decision.reason });
      return { refused: `you may not open "${printable(target)}" now` };
    }
    const principal = toPrincipal(pending, decision);
    await this.auditSuccess(base, principal);
    return principal;
  }

  /** Why the drill user may not log in now, if it may not: only from the drill's sources, only during a drill. */
  private async drillRefusal(): Promise<string | undefined> {
    const drill = this.deps.config.drill;
    if (!drill || !drill.allowed_sources.includes(this.peer.ip)) return 'the drill user may only log in from drill.allowed_sources';
    if (!(await this.deps.drills.anyOpen(this.deps.clock.now()))) return 'no drill is open: the drill user logs in only during bastion drill';
    return undefined;
  }

  private async auditSuccess(base: Record<string, string | boolean>, principal: Principal): Promise<void> {
    await this.audit({
      type: 'login.success',
      ...base,
      ...(principal.drillId ? { drill_id: principal.drillId } : {}),
      target: principal.target,
      via: principal.via,
      break_glass: principal.breakGlass,
      grant_id: principal.grantId,
      expires_at: principal.expiresAt === undefined ? undefined : new Date(principal.expiresAt).toISOString(),
      mfa: principal.mfa,
      ticket: principal.ticket,
      reason: principal.reason,
    });
  }

  private async verifyTotp(user: UserConfig, prompter: Prompter, base: Record<string, string | boolean>): Promise<'ok' | 'refused'> {
    const secret = await readTotpSecret(user.totp_secret_file);
    if (!secret) {
      await this.audit({ type: 'login.failure', ...base, method: 'totp', reason: 'not enrolled' });
      await tell(prompter, `MFA is not set up for ${user.name}. An administrator must run: bastion totp enroll ${user.name}`);
      return 'refused';
    }
    const attempts = this.deps.config.auth.totp.attempts_per_connection;
    let note = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const answers = await prompter.ask(TITLE, note, [{ prompt: 'Verification code (6 digits from your authenticator app): ', echo: false }]);
      if (answers === undefined) return 'refused';
      const now = this.deps.clock.now();
      // Checked again at every answer: other connections may have locked the user while this one waited.
      const lockNow = await this.deps.lockouts.status(user.name, now);
      if (lockNow.locked) {
        await this.audit({ type: 'login.locked', ...base, until: new Date(lockNow.until).toISOString(), note: 'locked while this login was in progress' });
        await tell(prompter, `This account is locked after too many wrong codes until ${hhmm(lockNow.until)} UTC.`);
        return 'refused';
      }
      const outcome = await this.deps.totp.check(user.name, secret, answers[0] ?? '', now);
      if (outcome.ok) {
        await this.deps.lockouts.succeed(user.name, now);
        return 'ok';
      }
      await this.audit({ type: 'login.failure', ...base, method: 'totp', reason: outcome.reason });
      const lock = await this.deps.lockouts.fail(user.name, now);
      if (lock.locked) {
        const { duration } = this.deps.config.auth.lockout;
        await this.audit({ type: 'login.locked', ...base, until: new Date(lock.until).toISOString(), duration_ms: duration });
        await tell(prompter, `Too many wrong codes: ${user.name} is locked for ${formatDuration(duration)}, until ${hhmm(lock.until)} UTC.`);
        return 'refused';
      }
      const why =
        outcome.reason === 'malformed'
          ? 'That is not a code: enter the 6 digits your authenticator app shows.'
          : outcome.reason === 'replayed'
            ? 'That code was already used. Wait for the next code and enter it.'
            : 'That code is not valid. Check the clock of your device and enter the current code.';
      const left = attempts - attempt;
      if (left === 0) {
        await tell(prompter, `${why} Too many attempts on this connection; connect again.`);
        return 'refused';
      }
      note = `${why} (${left} ${left === 1 ? 'try' : 'tries'} left on this connection)`;
    }
    return 'refused';
  }

  private async askJustification(prompter: Prompter, base: Record<string, string | boolean>, warning: string | undefined): Promise<Justification | undefined> {
    const rules = this.deps.config.auth.justification;
    const ask = `Give the incident ticket (e.g. ${rules.ticket_example}) and what you will do and why (at least ${rules.min_reason_length} characters).`;
    let note = warning ? `${warning}\n${ask}` : `This access is audited. ${ask}`;
    for (let attempt = 1; attempt <= JUSTIFICATION_ATTEMPTS; attempt++) {
      const answers = await prompter.ask(TITLE, note, [
        { prompt: `Incident ticket (e.g. ${rules.ticket_example}): `, echo: true },
        { prompt: 'Reason for access: ', echo: true },
      ]);
      if (answers === undefined) return undefined;
      const result = validateJustification(answers[0] ?? '', answers[1] ?? '', rules);
      if (result.ok) return result.value;
      await this.audit({ type: 'login.failure', ...base, method: 'justification', field: result.field, reason: result.message });
      if (attempt === JUSTIFICATION_ATTEMPTS) {
        await tell(prompter, `Justification refused: ${result.message}. Connect again.`);
        return undefined;
      }
      note = `${warning ? `${warning}\n` : ''}Justification refused: ${result.message}.`;
    }
    return undefined;
  }

  private async audit(event: Parameters<AuditSink['record']>[0]): Promise<void> {
    this.audited = true;
    await this.deps.audit.record(event);
  }
}

/** Shows a message through keyboard-interactive (an info request with no prompts; OpenSSH prints it). */
async function tell(prompter: Prompter, message: string): Promise<void> {
  await prompter.ask(TITLE, message, []);
}

function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}


function toPrincipal(identity: Omit<PendingPrincipal, 'choices'>, decision: Extract<Decision, { allow: true }>): Principal {
  return {
    user: identity.user,
    target: decision.target,
    via: decision.via,
    breakGlass: decision.via === 'break-glass',
    ...(decision.expiresAt !== undefined ? { expiresAt: decision.expiresAt } : {}),
    ...(decision.grantId !== undefined ? { grantId: decision.grantId } : {}),
    limits: decision.limits,
    ticket: identity.ticket,
    reason: identity.reason,
    keyFingerprint: identity.keyFingerprint,
    mfa: identity.mfa,
    drill: identity.drill,
    ...(identity.drillId !== undefined ? { drillId: identity.drillId } : {}),
  };
}
