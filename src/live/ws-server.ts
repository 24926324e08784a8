import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import { checkReasonText } from '../auth/justification.js';
import { describeError } from '../errors.js';
import type { LiveHub } from './hub.js';
import type { ViewerPort } from './feed.js';
import type { ViewerRole, ViewerTokens, TokenCheck } from './tokens.js';

/** The subprotocol of the watch socket; browsers pass the token as a second one, `bastion.token.<token>`. */
export const PROTOCOL = 'bastion.v1';
const TOKEN_PROTOCOL = 'bastion.token.';
/** Viewers send little (a terminate request); anything bigger is refused with 1009. */
const MAX_MESSAGE = 16 * 1024;
const PING_MS = 30_000;
/** Open sockets re-check their token this often: a revoked or expired token stops watching within seconds. */
const RECHECK_MS = 2_000;

export interface LiveDeps {
  readonly hub: LiveHub;
  readonly tokens: ViewerTokens;
  readonly audit: AuditSink;
  readonly log: Logger;
  readonly clock: Clock;
  /** Origins a browser may open the watch socket from, besides the service's own. */
  readonly allowedOrigins: readonly string[];
}

/** The presented token: `Authorization: Bearer T`, or (browsers) the `bastion.token.T` subprotocol. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return protocols.find((p) => p.startsWith(TOKEN_PROTOCOL))?.slice(TOKEN_PROTOCOL.length) || undefined;
}

/** A browser's Origin must be the service itself or configured; clients without one (CLI) pass. */
export function originAllowed(req: IncomingMessage, allowed: readonly string[], secure: boolean): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const own = `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  return origin === own || allowed.includes(origin);
}

export async function checkAccess(req: IncomingMessage, deps: LiveDeps, need: ViewerRole, secure: boolean): Promise<TokenCheck | { ok: false; status: 403; reason: 'origin' }> {
  if (!originAllowed(req, deps.allowedOrigins, secure)) return { ok: false, status: 403, reason: 'origin' };
  return deps.tokens.check(presentedToken(req), need, deps.clock.now());
}

/** Serves `WS /api/sessions/ID/watch`; refused upgrades get 401/403/404 before any session data. */
export function attachWatchSockets(server: Server, deps: LiveDeps, secure: boolean): { close(): void } {
  const open = new Map<WebSocket, string>(); // socket -> the token it was opened with
  const recheck = setInterval(() => {
    for (const [ws, token] of open) {
      void deps.tokens.check(token, 'auditor', deps.clock.now()).then((r) => {
        if (!r.ok) ws.close(1008, `the viewer token is no longer valid (${r.reason})`);
      });
    }
  }, RECHECK_MS);
  recheck.unref();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, handleProtocols: (offered) => (offered.has(PROTOCOL) ? PROTOCOL : false) });
  const refuse = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\nContent-Type: text/plain\r\nConnection: close\r\n${status === 401 ? 'WWW-Authenticate: Bearer\r\n' : ''}\r\n${text}\n`);
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void (async () => {
      const ip = req.socket.remoteAddress ?? 'unknown';
      const id = /^\/api\/sessions\/([\w-]{1,64})\/watch$/.exec(new URL(req.url ?? '/', 'http://bastion').pathname)?.[1];
      if (!id) return refuse(socket, 404, 'not found');
      const access = await checkAccess(req, deps, 'auditor', secure);
      if (!access.ok) {
        await recordOrLog(deps.audit, deps.log, { type: 'live.refused', ip, session_id: id, reason: access.reason });
        return refuse(socket, access.status, access.reason === 'origin' ? 'this page is not allowed to open the live view (Origin)' : `a valid viewer token is required (${access.reason})`);
      }
      if (!deps.hub.has(id)) return refuse(socket, 404, `no live session ${id} on this bastion`);
      const token = presentedToken(req)!;
      wss.handleUpgrade(req, socket, head, (ws) => {
        open.set(ws, token);
        ws.on('close', () => open.delete(ws));
        serveViewer(ws, id, token, access.token.name, access.token.role, ip, deps);
      });
    })().catch((err: unknown) => {
      deps.log.error({ err: describeError(err) }, 'live upgrade failed');
      socket.destroy();
    });
  });
  return {
    close: () => {
      clearInterval(recheck);
      wss.close();
    },
  };
}

function serveViewer(ws: WebSocket, id: string, token: string, name: string, role: ViewerRole, ip: string, deps: LiveDeps): void {
  const port: ViewerPort = {
    name,
    role,
    buffered: () => ws.bufferedAmount,
    sendOutput: (chunk) => ws.readyState === ws.OPEN && ws.send(chunk, { binary: true }),
    sendJson: (m) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m)),
    close: (code, reason) => ws.close(code, reason),
  };
  let alive = true;
  const ping = setInterval(() => {
    if (!alive) return ws.terminate(); // no pong for a whole interval: gone
    alive = false;
    ws.ping();
  }, PING_MS);
  ws.on('pong', () => (alive = true));
  ws.on('error', () => undefined); // too-big messages and resets end in 'close'
  ws.on('close', () => {
    clearInterval(ping);
    deps.hub.unwatch(id, port);
  });
  ws.on('message', (data, isBinary) => {
    let msg: { type?: unknown; reason?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString()) as typeof msg;
    } catch {
      return ws.close(1003, 'messages must be JSON text');
    }
    if (msg?.type !== 'terminate') return port.sendJson({ type: 'error', message: 'unknown message type; the only one is {"type":"terminate","reason":"..."}' });
    if (role !== 'moderator') return ws.close(1008, 'only a moderator can end a session');
    const reason = checkReasonText(msg.reason);
    if (!reason.ok) return port.sendJson({ type: 'error', message: reason.message });
    // The token is checked again: one revoked since the socket opened ends nothing.
    void deps.tokens.check(token, 'moderator', deps.clock.now()).then(async (r) => {
      if (r.ok) await deps.hub.terminate(id, name, reason.text);
      else ws.close(1008, `the viewer token is no longer valid (${r.reason})`);
    });
  });
  if (!deps.hub.watch(id, port, ip)) ws.close(1000, 'session ended');
}
