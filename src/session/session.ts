import type { Session as SshSession, ServerChannel, PseudoTtyInfo } from 'ssh2';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../audit/audit-log.js';
import type { Principal } from '../auth/types.js';
import type { PtySpec, TargetConnector, TargetStream } from '../targets/target.js';
import { envAllowed, MAX_ENV_VARS } from './env.js';
import { newSessionId } from './ids.js';
import { pump, sendExit } from './pump.js';
import type { SessionRegistry } from './registry.js';
import { printable } from '../auth/login-name.js';
import { describeError } from '../errors.js';

export interface SessionDeps {
  readonly principal: Principal;
  readonly peer: { ip: string; port: number };
  readonly connector: TargetConnector;
  readonly audit: AuditSink;
  readonly log: Logger;
  readonly clock: Clock;
  readonly registry: SessionRegistry;
  readonly envAllow: readonly string[];
  /** False while the node drains: no new sessions start. */
  readonly accepting: () => boolean;
}

const MAX_DIM = 1000;

/**
 * One SSH "session" channel: collects pty and env requests, starts a shell or an exec on the
 * target, and refuses what the bastion does not offer (subsystems such as sftp, X11, agent
 * forwarding). The ssh2 callbacks only translate; the byte pumping is `pump`.
 */
export function handleSession(ssh: SshSession, deps: SessionDeps): void {
  let pty: PtySpec | undefined;
  const env: Record<string, string> = {};
  let stream: TargetStream | undefined;

  ssh.on('pty', (accept, _reject, info: PseudoTtyInfo) => {
    pty = { term: termName(info.term), cols: dim(info.cols, 80), rows: dim(info.rows, 24) };
    accept?.();
  });
  ssh.on('window-change', (accept, _reject, info) => {
    if (pty) pty = { ...pty, cols: dim(info.cols, pty.cols), rows: dim(info.rows, pty.rows) };
    stream?.resize(dim(info.cols, 80), dim(info.rows, 24));
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
  ssh.on('shell', (accept, reject) => start('shell', undefined, accept, reject));
  ssh.on('exec', (accept, reject, info) => start('exec', info.command, accept, reject));
  ssh.on('subsystem', (_accept, reject, info) => refuse(`subsystem ${printable(info.name, 32)}`, reject));
  ssh.on('sftp', (_accept, reject) => refuse('subsystem sftp', reject));
  ssh.on('x11', (_accept, reject) => refuse('x11 forwarding', reject));
  ssh.on('auth-agent', (_accept, reject) => refuse('agent forwarding', reject));
  ssh.on('signal', (accept) => accept?.());

  function refuse(what: string, reject: (() => void) | undefined): void {
    reject?.();
    void deps.audit.record({ type: 'channel.refused', user: deps.principal.user, target: deps.principal.target, ip: deps.peer.ip, what }).catch((err) => deps.log.error({ err: describeError(err) }, 'audit write failed'));
  }

  function start(kind: 'shell' | 'exec', command: string | undefined, accept: () => ServerChannel | undefined, reject: (() => void) | undefined): void {
    if (!deps.accepting()) {
      reject?.();
      return;
    }
    const channel = accept();
    if (!channel) return;
    void run(kind, command, channel).catch((err) => {
      deps.log.error({ err: describeError(err) }, 'session failed');
      sendExit(channel, { code: 1 });
    });
  }

  async function run(kind: 'shell' | 'exec', command: string | undefined, channel: ServerChannel): Promise<void> {
    const { principal } = deps;
    const id = newSessionId(deps.clock.now());
    const startedAt = deps.clock.now();
    const base = { session_id: id, user: principal.user, target: principal.target, ip: deps.peer.ip };
    await deps.audit.record({ type: 'session.start', ...base, kind, command, pty: pty ? `${pty.cols}x${pty.rows}` : null, via: principal.via, ticket: principal.ticket });
    deps.log.info({ ...base, kind }, 'session started');
    try {
      stream = await deps.connector.open({ kind, ...(command !== undefined ? { command } : {}), ...(pty ? { pty } : {}), env, user: principal.user });
    } catch (err) {
      channel.stderr.write(`bastion: cannot open target ${principal.target}: ${describeError(err)}\r\n`);
      sendExit(channel, { code: 1 });
      await deps.audit.record({ type: 'session.end', ...base, exit_code: 1, reason: 'target unavailable', duration_ms: deps.clock.now() - startedAt });
      return;
    }
    let terminatedFor: string | undefined;
    const live = stream;
    deps.registry.add({
      id,
      user: principal.user,
      target: principal.target,
      startedAt,
      terminate: async (message) => {
        terminatedFor = message;
        channel.stderr.write(`\r\n[bastion] ${message}\r\n`);
        live.close();
      },
    });
    const result = await pump(channel, live);
    deps.registry.remove(id);
    const end = result.exit;
    await deps.audit.record({
      type: 'session.end',
      ...base,
      exit_code: end?.code ?? null,
      signal: end?.signal ?? null,
      reason: terminatedFor ?? (result.clientClosed ? 'client disconnected' : 'target exited'),
      duration_ms: deps.clock.now() - startedAt,
    });
    deps.log.info({ ...base, exit_code: end?.code ?? null, signal: end?.signal }, 'session ended');
  }
}

function dim(n: number | undefined, fallback: number): number {
  // Clients may ask for a 0x0 pty ("use your default").
  return typeof n === 'number' && n > 0 ? Math.min(n, MAX_DIM) : fallback;
}

function termName(term: string | undefined): string {
  return term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : 'xterm-256color';
}
