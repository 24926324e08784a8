import type { Session as SshSession, ServerChannel, PseudoTtyInfo } from 'ssh2';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import type { Login, PendingPrincipal, Principal } from '../auth/types.js';
import { chooseFromMenu } from './menu.js';
import type { Emitter } from '../targets/emitter.js';
import { describeTargets } from '../policy/policy.js';
import type { OpenRequest, PtySpec, TargetConnector, TargetStream } from '../targets/target.js';
import { envAllowed, MAX_ENV_VARS } from './env.js';
import { newSessionId } from './ids.js';
import { pump, sendExit } from './pump.js';
import { recordingTap } from './recording-tap.js';
import type { LiveHub } from '../live/hub.js';
import type { LiveFeed } from '../live/feed.js';
import type { ActiveRecording, RecordingService } from '../recording/service.js';
import type { LiveSession, SessionRegistry } from './registry.js';
import { printable } from '../auth/login-name.js';
import { describeError } from '../errors.js';
import { repairWindowWaits } from '../ssh/channel-window.js';

export interface SessionDeps {
  /** The login; without a target when the user picks one from the menu. */
  readonly login: Login;
  /** Messages for the user that concern the whole connection (a refused port forward). */
  readonly notices: Emitter<string>;
  readonly choose: (pending: PendingPrincipal, target: string) => Promise<Principal | { refused: string }>;
  readonly peer: { ip: string; port: number };
  readonly connectors: ReadonlyMap<string, TargetConnector>;
  readonly audit: AuditSink;
  readonly log: Logger;
  readonly clock: Clock;
  readonly registry: SessionRegistry;
  readonly envAllow: readonly string[];
  readonly recordings: RecordingService;
  readonly recordingPolicy: { readonly breakGlassWithoutRecording: boolean };
  /** Live viewers: every session is offered to the shadowing service. */
  readonly live?: LiveHub;
  /** False while the node drains: no new sessions start. */
  readonly accepting: () => boolean;
}

const MAX_DIM = 1000;
let warnedUnrepaired = false;
const FORWARDED_SIGNALS = new Set(['INT', 'TERM', 'HUP', 'QUIT', 'KILL', 'USR1', 'USR2', 'TSTP', 'CONT', 'WINCH']);
/** Legacy scp runs as a command (`scp -t`/`-f`); it is file transfer like sftp. */
const SCP_COMMAND = /^\s*(\S*\/)?scp\s/;

/**
 * One SSH "session" channel: collects pty and env requests, starts a shell, an exec or the sftp
 * subsystem on the target, and refuses, with a message the user sees, what the role does not allow.
 * The ssh2 callbacks only translate; byte pumping is `pump`, limits are the enforcer's.
 */
export function handleSession(ssh: SshSession, deps: SessionDeps): void {
  const login = deps.login;
  const who = { user: login.user, target: login.target ?? null, ip: deps.peer.ip };
  let pty: PtySpec | undefined;
  const env: Record<string, string> = {};
  let stream: TargetStream | undefined;
  /** Set while a session runs: window changes go into its recording. */
  let onResize: ((cols: number, rows: number) => void) | undefined;

  ssh.on('pty', (accept, _reject, info: PseudoTtyInfo) => {
    pty = { term: termName(info.term), cols: dim(info.cols, 80), rows: dim(info.rows, 24) };
    accept?.();
  });
  ssh.on('window-change', (accept, _reject, info) => {
    // A 0x0 change keeps the current size.
    const cols = dim(info.cols, pty?.cols ?? 80);
    const rows = dim(info.rows, pty?.rows ?? 24);
    if (pty) pty = { ...pty, cols, rows };
    stream?.resize(cols, rows);
    onResize?.(cols, rows);
    accept?.();
  });
  ssh.on('env', (accept, reject, info) => {
    // ssh2 puts the value in `val` (its README says `value`).
    const key = String(info.key);
    const value = String((info as unknown as { val?: unknown }).val ?? '');
    if (Object.keys(env).length < MAX_ENV_VARS && envAllowed(key, value, deps.envAllow)) {
      env[key] = value;
      accept?.();
    } else reject?.();
  });
  ssh.on('shell', (accept, reject) => start({ kind: 'shell' }, accept, reject));
  ssh.on('exec', (accept, reject, info) => {
    if (SCP_COMMAND.test(info.command) && !allows(login, 'file_transfer')) return refuseWithMessage('scp', accept);
    start({ kind: 'exec', command: info.command }, accept, reject);
  });
  ssh.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return refuseWithMessage(`subsystem ${printable(info.name, 32)}`, accept);
    if (!allows(login, 'file_transfer')) return refuseWithMessage('sftp', accept);
    start({ kind: 'subsystem', command: 'sftp' }, accept, reject);
  });
  // Requested before the shell starts; the user is told once the session's stderr exists.
  const early: string[] = [];
  ssh.on('x11', (_accept, reject) => {
    refuse('x11 forwarding', reject);
    early.push('X11 forwarding is not offered by this bastion');
  });
  ssh.on('auth-agent', (_accept, reject) => {
    refuse('agent forwarding', reject);
    early.push('agent forwarding is not offered by this bastion: your keys stay on your machine');
  });
  ssh.on('signal', (accept, reject, info) => {
    // Only the signals a user at a terminal could send anyway.
    const name = String(info.name).replace(/^SIG/, '');
    if (!FORWARDED_SIGNALS.has(name) || !stream) return reject?.();
    stream.signal(name);
    accept?.();
  });

  /** Accepts the channel, with ssh2's window waits repaired (stderr must not be lost behind a flood). */
  function acceptChannel(accept: () => ServerChannel | undefined): ServerChannel | undefined {
    const channel = accept();
    if (channel && !repairWindowWaits(channel) && !warnedUnrepaired) {
      warnedUnrepaired = true;
      deps.log.warn('this ssh2 version is not the one the window repair was written for: stderr sent during a flood may be lost');
    }
    return channel;
  }

  function audit(event: Parameters<AuditSink['record']>[0]): Promise<void> {
    return recordOrLog(deps.audit, deps.log, event);
  }

  function refuse(what: string, reject: (() => void) | undefined): void {
    reject?.();
    void audit({ type: 'channel.refused', ...who, what });
  }

  /** Accepts the channel only to say why it is refused (OpenSSH shows stderr; a bare failure says nothing useful). */
  function refuseWithMessage(what: string, accept: () => ServerChannel | undefined): void {
    const channel = acceptChannel(accept);
    if (channel) {
      say(channel, `bastion: ${what} is not allowed for your role${login.target ? ` on ${login.target}` : ''}\r\n`);
      sendExit(channel, { code: 1 });
    }
    void audit({ type: 'channel.refused', ...who, what });
  }

  /** Set when the client closes the channel before the pump is attached (the target must not outlive it). */
  const closedEarly = { value: false };

  function start(req: { kind: OpenRequest['kind']; command?: string }, accept: () => ServerChannel | undefined, reject: (() => void) | undefined): void {
    if (!deps.accepting()) return void reject?.();
    const channel = acceptChannel(accept);
    if (!channel) return;
    channel.stderr.on('error', () => undefined);
    channel.on('error', () => undefined);
    channel.once('close', () => (closedEarly.value = true));
    void resolvePrincipal(req, channel)
      .then((principal) => {
        if (!principal) return;
        const limit = principal.limits.maxPerUser;
        if (deps.registry.countFor(principal.user) >= limit) {
          say(channel, `bastion: you already have ${limit} open session${limit === 1 ? '' : 's'} (the limit); close one first\r\n`);
          sendExit(channel, { code: 1 });
          void audit({ type: 'channel.refused', ...who, what: 'session', reason: 'concurrent session limit' });
          return;
        }
        return run(req, channel, principal);
      })
      .catch((err) => {
        deps.log.error({ err: describeError(err) }, 'session failed');
        sendExit(channel, { code: 1 });
      });
  }

  /** The login's principal, or for a login without a target the one picked from the menu (shell with a pty only). */
  async function resolvePrincipal(req: { kind: OpenRequest['kind'] }, channel: ServerChannel): Promise<Principal | undefined> {
    if (!('choices' in login)) return login;
    if (req.kind !== 'shell' || !pty) {
      say(channel, `bastion: name a target: ssh -p PORT ${login.user}:TARGET@HOST. Your targets: ${describeTargets(login.choices)}\r\n`);
      sendExit(channel, { code: 2 });
      return undefined;
    }
    const choice = await chooseFromMenu(channel, login.user, login.choices);
    if (!choice) {
      sendExit(channel, { code: 0 });
      return undefined;
    }
    const chosen = await deps.choose(login, choice.target);
    if ('refused' in chosen) {
      say(channel, `bastion: ${chosen.refused}\r\n`);
      sendExit(channel, { code: 1 });
      return undefined;
    }
    return chosen;
  }

  /**
   * Starts the session's recording. A session is never left unrecorded: when the spool cannot be
   * written the session is refused (null), unless it is break-glass and the config allows that.
   */
  async function startRecording(
    req: { kind: OpenRequest['kind']; command?: string },
    channel: ServerChannel,
    principal: Principal,
    live: LiveSession,
    base: Record<string, unknown>,
    shell: string | undefined,
  ): Promise<ActiveRecording | undefined | null> {
    const mayGoOn = principal.breakGlass && deps.recordingPolicy.breakGlassWithoutRecording;
    const onFailure = (err: unknown) => {
      void audit({ type: 'recording.failed', ...base, error: describeError(err), session_continues: mayGoOn });
      if (mayGoOn) live.notify('The recording of this session has failed; security has been told. The break-glass session continues.');
      else live.terminate('The recording of this session cannot be written, and sessions are never left unrecorded; it is closed.', 'recording failed');
    };
    try {
      const rec = await deps.recordings.start({
        meta: {
          session_id: live.id,
          user: principal.user,
          target: principal.target,
          source_ip: deps.peer.ip,
          ticket: principal.ticket,
          reason: principal.reason,
          break_glass: principal.breakGlass,
          ...(principal.drill ? { drill: true } : {}),
          via: principal.via,
          mfa: principal.mfa,
          kind: req.kind,
          ...(req.command !== undefined ? { command: req.command } : {}),
        },
        cols: pty?.cols ?? 80,
        rows: pty?.rows ?? 24,
        ...(pty ? { term: pty.term } : {}),
        ...(shell ? { shell } : {}),
        onFailure,
      });
      rec.marker(`login: ${principal.user} to ${principal.target} via ${principal.via}, ticket ${principal.ticket}`);
      return rec;
    } catch (err) {
      await audit({ type: 'recording.failed', ...base, error: describeError(err), session_continues: mayGoOn });
      if (mayGoOn) {
        say(channel, '[bastion] This break-glass session cannot be recorded; security has been told. It continues unrecorded.\r\n');
        return undefined;
      }
      say(channel, `bastion: this session cannot be recorded (${describeError(err)}), and sessions are never left unrecorded; tell the bastion operators\r\n`);
      sendExit(channel, { code: 1 });
      await audit({ type: 'session.end', ...base, exit_code: 1, reason: 'recording unavailable', duration_ms: 0 });
      return null;
    }
  }

  async function run(req: { kind: OpenRequest['kind']; command?: string }, channel: ServerChannel, principal: Principal): Promise<void> {
    const connector = deps.connectors.get(principal.target);
    if (!connector) throw new Error(`no connector for target ${principal.target}`);
    const id = newSessionId(deps.clock.now());
    const startedAt = deps.clock.now();
    const base = { session_id: id, user: principal.user, target: principal.target, ip: deps.peer.ip, break_glass: principal.breakGlass, ...(principal.drill ? { drill: true, drill_id: principal.drillId } : {}) };
    let endReason: string | undefined;
    /** undefined: not recorded (a break-glass session the config lets go on without); null: refused. */
    let recording: ActiveRecording | undefined | null;
    let feed: LiveFeed | undefined;
    const live: LiveSession = {
      id,
      principal,
      sourceIp: deps.peer.ip,
      startedAt,
      lastInputAt: startedAt,
      noticeSent: false,
      notify: (message) => {
        recording?.marker(message);
        feed?.marker(message);
        say(channel, `\r\n[bastion] ${message}\r\n`);
      },
      terminate: (message, reason) => {
        endReason ??= reason;
        recording?.marker(`terminated: ${message}`);
        feed?.marker(`terminated: ${message}`);
        say(channel, `\r\n[bastion] ${message}\r\n`);
        stream?.close();
      },
    };
    // Registered before the target opens, so the per-user limit and shutdown see it at once.
    deps.registry.add(live);
    const notices = deps.notices.on((m) => live.notify(m));
    for (const m of early.splice(0)) say(channel, `[bastion] ${m}\r\n`);
    try {
      try {
        await deps.audit.record({ type: 'session.start', ...base, kind: req.kind, command: req.command, pty: pty ? `${pty.cols}x${pty.rows}` : null, via: principal.via, grant_id: principal.grantId, ticket: principal.ticket });
      } catch (err) {
        // Never silent: a session that cannot be audited does not start.
        deps.log.error({ err: describeError(err), ...base }, 'audit write failed; session refused');
        say(channel, 'bastion: the audit log cannot be written, so no session can start; tell the bastion operators\r\n');
        sendExit(channel, { code: 1 });
        return;
      }
      deps.log.info({ ...base, kind: req.kind }, 'session started');
      deps.registry.started.emit(live);
      feed = deps.live?.open(live, pty?.cols ?? 80, pty?.rows ?? 24, principal.via);
      recording = await startRecording(req, channel, principal, live, base, connector.shell);
      if (recording === null) return;
      const rec = recording;
      onResize = (c, r) => {
        rec?.resize(c, r);
        feed?.resize(c, r);
      };
      try {
        stream = await connector.open({ kind: req.kind, ...(req.command !== undefined ? { command: req.command } : {}), ...(pty ? { pty } : {}), env, user: principal.user });
      } catch (err) {
        say(channel, `bastion: ${describeError(err)}\r\n`);
        sendExit(channel, { code: 1 });
        await audit({ type: 'session.end', ...base, exit_code: 1, reason: `target unavailable: ${describeError(err)}`, duration_ms: deps.clock.now() - startedAt });
        await recording?.finish(`target unavailable: ${describeError(err)}`);
        return;
      }
      // Ended (shutdown, revocation) or abandoned by the client while the target was opening.
      if (endReason !== undefined || closedEarly.value) stream.close();
      const sinks = [recording, feed].filter((x) => x !== undefined);
      const result = await pump(channel, stream, recordingTap(sinks, stream, () => (live.lastInputAt = deps.clock.now())));
      const status = result.exit?.signal ? `signal ${result.exit.signal}` : `exit status ${result.exit?.code ?? 'unknown'}`;
      await recording?.finish(`${endReason ?? (result.clientClosed ? 'client disconnected' : 'target exited')}, ${status}`).catch((err: unknown) => {
        // Stays in the spool: the next start seals and uploads it as incomplete.
        deps.log.error({ ...base, err: describeError(err) }, 'sealing the recording failed');
      });
      feed?.end({ exit_code: result.exit?.code ?? null, signal: result.exit?.signal ?? null, reason: endReason ?? (result.clientClosed ? 'client disconnected' : 'target exited') });
      await audit({
        type: 'session.end',
        ...base,
        exit_code: result.exit?.code ?? null,
        signal: result.exit?.signal ?? null,
        reason: endReason ?? (result.clientClosed ? 'client disconnected' : 'target exited'),
        duration_ms: deps.clock.now() - startedAt,
      });
      deps.log.info({ ...base, exit_code: result.exit?.code ?? null, signal: result.exit?.signal, reason: endReason }, 'session ended');
    } finally {
      notices.dispose();
      feed?.end({ exit_code: null, signal: null, reason: endReason ?? 'session closed' }); // no-op when it already ended
      deps.live?.close(id);
      deps.registry.remove(id);
    }
  }
}

function dim(n: number | undefined, fallback: number): number {
  // Clients may ask for a 0x0 pty ("use your default").
  return typeof n === 'number' && n > 0 ? Math.min(n, MAX_DIM) : fallback;
}

function termName(term: string | undefined): string {
  return term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : 'xterm-256color';
}

/** Writes to the client's stderr unless the channel is already closing (a late write must never throw). */
function say(channel: ServerChannel, text: string): void {
  if (channel.stderr.writable && !channel.destroyed) channel.stderr.write(text);
}

function allows(login: Login, what: 'file_transfer' | 'port_forwarding'): boolean {
  return 'limits' in login && login.limits.allow[what];
}
