import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { recordOrLog } from '../audit/audit-log.js';
import { checkAccess, type LiveDeps } from './ws-server.js';
import { PAGE } from './page.js';

const require = createRequire(import.meta.url);

/** xterm.js for the page, served from the installed package: no CDN. Read once, when first asked. */
let assets: Record<string, { type: string; body: Buffer }> | undefined;
function asset(name: string): { type: string; body: Buffer } | undefined {
  if (!assets) {
    const dir = dirname(require.resolve('@xterm/xterm/package.json'));
    assets = {
      'xterm.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'lib', 'xterm.js')) },
      'xterm.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(dir, 'css', 'xterm.css')) },
    };
  }
  return assets[name];
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** The live view's HTTP side: the page, its assets, and GET /api/sessions. False when the path is not ours. */
export async function handleLiveRoute(req: IncomingMessage, res: ServerResponse, deps: LiveDeps, secure: boolean): Promise<boolean> {
  const path = new URL(req.url ?? '/', 'http://bastion').pathname;
  if (req.method !== 'GET') return false;
  if (path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
    res.end(PAGE);
    return true;
  }
  const a = path.startsWith('/assets/') ? asset(path.slice('/assets/'.length)) : undefined;
  if (a) {
    res.writeHead(200, { 'Content-Type': a.type, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'max-age=3600' });
    res.end(a.body);
    return true;
  }
  if (path !== '/api/sessions') return false;
  const access = await checkAccess(req, deps, 'auditor', secure);
  if (!access.ok) {
    await recordOrLog(deps.audit, deps.log, { type: 'live.refused', ip: req.socket.remoteAddress ?? 'unknown', path, reason: access.reason });
    res.writeHead(access.status, { 'Content-Type': 'application/json', ...(access.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}) });
    res.end(JSON.stringify({ error: access.reason === 'origin' ? 'this origin may not use the live API' : `a valid viewer token is required (${access.reason})` }) + '\n');
    return true;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ viewer: { name: access.token.name, role: access.token.role }, sessions: deps.hub.list() }) + '\n');
  return true;
}
