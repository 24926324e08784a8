import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditSink } from '../audit/audit-log.js';
import { buildGrant, type GrantRequest, type GrantStore } from '../policy/grants.js';
import type { Secret } from '../secret.js';
import { describeError } from '../errors.js';
import type { Registry } from 'prom-client';
import { attachWatchSockets, type LiveDeps } from '../live/ws-server.js';
import { handleLiveRoute } from '../live/routes.js';
import { handleDemoAlertRoute } from '../governance/demo-receiver.js';
import { readJson, send } from './json.js';

export interface ApiDeps {
  readonly config: Config;
  readonly grants: GrantStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly audit: AuditSink;
  /** Called after a grant changed, so live sessions feel it at once. */
  readonly onGrantsChanged: () => Promise<void>;
  /** Prometheus metrics, served at GET /metrics. */
  readonly metrics: Registry;
  /** The live view: the page, GET /api/sessions and the watch sockets. */
  readonly live?: LiveDeps;
  /** TLS certificate and key (PEM): the service is HTTPS/WSS when given. */
  readonly tls?: { cert: Buffer; key: Buffer };
}

/** True when `header` is "Bearer T" for one of `tokens`; compared in constant time. */
export function bearerMatches(header: string | undefined, tokens: readonly Secret[]): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const given = createHash('sha256').update(m[1]!).digest();
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(given, createHash('sha256').update(t.reveal()).digest()) || ok;
  return ok;
}

/**
 * The bastion's HTTP service: GET /metrics (Prometheus); the grants API a paging system calls
 * when an engineer is paged: POST /api/grants, GET /api/grants, DELETE /api/grants/ID, all with a
 * bearer token (off unless tokens are configured); and the live view (page, GET /api/sessions,
 * WS /api/sessions/ID/watch) for viewer tokens.
 */
export function createApiServer(deps: ApiDeps): { server: Server; close(): void } {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, deps).catch((err) => {
      deps.log.error({ err: describeError(err) }, 'api request failed');
      send(res, 500, { error: 'internal error' });
    });
  };
  const server: Server = deps.tls ? (createTlsServer({ cert: deps.tls.cert, key: deps.tls.key }, onRequest) as unknown as Server) : createServer(onRequest);
  const sockets = deps.live ? attachWatchSockets(server, deps.live, deps.tls !== undefined) : undefined;
  return { server, close: () => sockets?.close() };
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://bastion');
  const ip = req.socket.remoteAddress ?? 'unknown';
  if (url.pathname === '/metrics' && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': deps.metrics.contentType });
    res.end(await deps.metrics.metrics());
    return;
  }
  if (deps.live && (await handleLiveRoute(req, res, deps.live, deps.tls !== undefined))) return;
  if (deps.config.http.demo_alert_receiver && (await handleDemoAlertRoute(req, res, deps.log))) return;
  if (!url.pathname.startsWith('/api/grants')) return send(res, 404, { error: 'not found' });
  if (deps.config.grant_tokens.length === 0) return send(res, 404, { error: 'the grants API is off: set http.grant_token_file in the config' });
  if (!bearerMatches(req.headers.authorization, deps.config.grant_tokens)) {
    await deps.audit.record({ type: 'api.refused', ip, method: req.method, path: url.pathname.slice(0, 100), reason: req.headers.authorization ? 'wrong token' : 'no token' });
    res.setHeader('WWW-Authenticate', 'Bearer');
    return send(res, 401, { error: 'a valid bearer token is required (Authorization: Bearer TOKEN)' });
  }
  const now = deps.clock.now();
  if (url.pathname === '/api/grants' && req.method === 'GET') {
    return send(res, 200, { grants: await deps.grants.list() });
  }
  if (url.pathname === '/api/grants' && req.method === 'POST') {
    const body = await readJson(req);
    if (!body.ok) return send(res, body.status, { error: body.error });
    const by = `api:${typeof (body.value as { requested_by?: unknown }).requested_by === 'string' ? String((body.value as { requested_by: string }).requested_by).replace(/[^\w.@-]/g, '').slice(0, 64) : ip}`;
    const built = buildGrant(body.value as GrantRequest, deps.config, by, now);
    if (!built.ok) return send(res, 400, { error: `${built.field}: ${built.message}` });
    await deps.grants.add(built.grant);
    await deps.onGrantsChanged();
    return send(res, 201, { grant: built.grant });
  }
  const m = /^\/api\/grants\/(g-[0-9a-f]{12})$/.exec(url.pathname);
  if (m && req.method === 'DELETE') {
    const revoked = await deps.grants.revoke(m[1]!, `api:${ip}`, now);
    if (!revoked) return send(res, 404, { error: `no grant ${m[1]}` });
    await deps.onGrantsChanged();
    return send(res, 200, { grant: revoked });
  }
  return send(res, 405, { error: 'use POST /api/grants, GET /api/grants or DELETE /api/grants/ID' });
}

export function listenApi(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
