import type { AuthContext, Connection, ClientInfo } from 'ssh2';
import type { Logger } from '../log.js';
import { LoginFlow, type LoginDeps } from '../auth/login-flow.js';
import { recordOrLog } from '../audit/audit-log.js';
import type { AuthRequest, AuthResult, Login, Prompter } from '../auth/types.js';
import { handleSession } from '../session/session.js';
import type { SessionRegistry } from '../session/registry.js';
import type { TargetConnector } from '../targets/target.js';
import type { LiveHub } from '../live/hub.js';
import type { RecordingService } from '../recording/service.js';
import { describeError } from '../errors.js';
import { printable } from '../auth/login-name.js';
import { Emitter } from '../targets/emitter.js';

/** What the listener may ask of a connection. */
export interface ConnectionHandle {
  /** The login did not complete in time: audit it (the listener closes the socket). */
  loginTimedOut(): void;
}

export interface ConnectionDeps extends LoginDeps {
  readonly log: Logger;
  readonly registry: SessionRegistry;
  readonly connectors: ReadonlyMap<string, TargetConnector>;
  readonly accepting: () => boolean;
  readonly recordings: RecordingService;
  /** Live viewers (the shadowing service). */
  readonly live?: LiveHub;
  /** Called once when the connection is no longer pending login (logged in or gone). */
  readonly onSettled: () => void;
}

/**
 * One SSH connection: turns ssh2's authentication contexts into `AuthRequest`s for the LoginFlow,
 * and its channel requests into sessions. No rule about who may do what lives here.
 */
export function handleConnection(client: Connection, info: ClientInfo, deps: ConnectionDeps): ConnectionHandle {
  const peer = { ip: info.ip, port: info.port };
  const flow = new LoginFlow(deps, peer);
  const log = deps.log.child({ ip: peer.ip, port: peer.port });
  let principal: Login | undefined;
  let lastUsername: string | undefined;
  let timedOut = false;
  let queue: Promise<unknown> = Promise.resolve();
  const gone = new Promise<undefined>((resolve) => client.once('close', () => resolve(undefined)));
  /** Lines for the user's open sessions on this connection (refusals that have no channel of their own). */
  const notices = new Emitter<string>();

  client.on('authentication', (ctx: AuthContext) => {
    lastUsername = ctx.username;
    const req = toRequest(ctx, gone);
    // One decision at a time per connection, in the order the client sent them.
    queue = queue
      .then(() => flow.handle(req))
      .then((result) => respond(ctx, result))
      .catch((err) => {
        log.error({ err: describeError(err) }, 'login failed with an internal error');
        ctx.reject([]);
        client.end();
      });
  });

  function respond(ctx: AuthContext, result: AuthResult): void {
    switch (result.status) {
      case 'accepted':
        principal = result.principal;
        ctx.accept();
        return;
      case 'key-ok':
        ctx.accept();
        return;
      case 'need':
        ctx.reject([...result.methods], result.partial);
        return;
      case 'refused':
        ctx.reject([]);
        // OpenSSH prints "Permission denied" and leaves by itself; a client that keeps trying is cut off.
        setTimeout(() => client.end(), 2000).unref();
        return;
    }
  }

  client.on('ready', () => {
    deps.onSettled();
    if (!principal) return client.end();
    log.info({ user: principal.user, target: principal.target ?? null }, 'login complete');
    if ('breakGlass' in principal && principal.breakGlass) {
      // A structured alert line for log pipelines; webhooks to security are the alerting module's.
      log.warn({ alert: 'break-glass', ...(principal.drill ? { drill: true } : {}), user: principal.user, target: principal.target, ticket: principal.ticket, reason: principal.reason }, principal.drill ? 'BREAK-GLASS login (fire drill)' : 'BREAK-GLASS login');
    }
  });

  client.on('session', (accept, reject) => {
    if (!principal) return reject();
    handleSession(accept(), {
      login: principal,
      notices,
      choose: (pending, target) => flow.choose(pending, target, peer.ip),
      peer,
      connectors: deps.connectors,
      audit: deps.audit,
      log,
      clock: deps.clock,
      registry: deps.registry,
      envAllow: deps.config.session.env_allow,
      recordings: deps.recordings,
      ...(deps.live ? { live: deps.live } : {}),
      recordingPolicy: { breakGlassWithoutRecording: deps.config.recording.break_glass_without_recording },
      accepting: deps.accepting,
    });
  });

  // Port forwarding is closed by default. ssh -L (direct-tcpip) opens only where the role allows it,
  // through the target; ssh -R (tcpip-forward) is never offered.
  client.on('tcpip', (accept, reject, info) => {
    const dest = `${printable(info.destIP)}:${info.destPort}`;
    const login = principal;
    const connector = login?.target !== undefined ? deps.connectors.get(login.target) : undefined;
    if (!login || !('limits' in login) || !login.limits.allow.port_forwarding || !connector?.forward) {
      reject();
      auditRefusal(`port forwarding to ${dest}`);
      notices.emit(`port forwarding to ${dest} is not allowed for your role`);
      return;
    }
    connector.forward(info.destIP, info.destPort).then(
      (upstream) => {
        const channel = accept();
        channel.on('error', () => undefined);
        upstream.on('error', () => channel.destroy());
        channel.pipe(upstream).pipe(channel);
        void recordOrLog(deps.audit, log, { type: 'forward.opened', user: login.user, target: login.target, ip: peer.ip, destination: dest });
      },
      (err: unknown) => {
        reject();
        auditRefusal(`port forwarding to ${dest}: ${describeError(err)}`);
      },
    );
  });
  client.on('request', (_accept, reject, name) => {
    reject?.();
    auditRefusal(`global request ${printable(String(name), 32)}`);
  });

  function auditRefusal(what: string): void {
    void recordOrLog(deps.audit, log, { type: 'channel.refused', user: principal?.user, target: principal?.target, ip: peer.ip, what });
  }

  client.on('error', (err) => {
    // Garbage, scanners and resets end up here; they must never take the server down.
    log.debug({ err: describeError(err) }, 'connection error');
  });
  client.on('close', () => {
    if (!principal && !timedOut) void flow.abandoned('disconnected', lastUsername).catch((err) => log.error({ err: describeError(err) }, 'audit write failed'));
    deps.onSettled();
  });

  return {
    loginTimedOut() {
      if (principal) return;
      timedOut = true;
      log.info('login timed out');
      void flow.abandoned('timeout', lastUsername).catch((err) => log.error({ err: describeError(err) }, 'audit write failed'));
    },
  };
}

function toRequest(ctx: AuthContext, gone: Promise<undefined>): AuthRequest {
  const username = ctx.username;
  switch (ctx.method) {
    case 'none':
      return { method: 'none', username };
    case 'publickey':
      return {
        method: 'publickey',
        username,
        keyBlob: ctx.key.data,
        ...(ctx.signature && ctx.blob ? { signed: { data: ctx.blob, signature: ctx.signature, ...(ctx.hashAlgo ? { hashAlgo: ctx.hashAlgo } : {}) } } : {}),
      };
    case 'keyboard-interactive':
      return { method: 'keyboard-interactive', username, prompter: prompterFor(ctx, gone) };
    default:
      return { method: 'other', username, name: ctx.method };
  }
}

/** Prompts through ssh2; resolves undefined when the client aborts or disconnects mid-prompt. */
function prompterFor(ctx: Extract<AuthContext, { method: 'keyboard-interactive' }>, gone: Promise<undefined>): Prompter {
  return {
    ask: (title, instructions, prompts) =>
      Promise.race([gone, new Promise<string[] | undefined>((resolve) => {
        ctx.prompt(
          prompts.map((p) => ({ prompt: p.prompt, echo: p.echo })),
          title,
          instructions,
          (answers: unknown) => resolve(Array.isArray(answers) ? answers.map((a) => String(a)) : undefined),
        );
      })]),
  };
}
