import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates, type PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { WebSocket } from 'ws';
import { describeError } from '../errors.js';
import { PROTOCOL } from '../live/ws-server.js';

/** How the drill reaches the live view: the bastion's HTTP service, its certificate pinned when it has TLS. */
export interface LiveEndpoint {
  /** http(s)://host:port */
  readonly url: string;
  /** The service's certificate chain (PEM), from the config, for https. */
  readonly certPem?: Buffer;
}

/**
 * TLS options that pin the configured certificate: the chain must verify (self-signed, or through
 * a public CA), and the server must present exactly the configured leaf, whatever name the drill
 * connects by. Any other certificate is refused before the viewer token is sent.
 */
function tlsOptions(e: LiveEndpoint): object {
  if (!e.certPem) return {};
  const leaf = new X509Certificate(e.certPem).fingerprint256;
  return {
    ca: [...rootCertificates, e.certPem.toString('utf8')],
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.fingerprint256 === leaf ? undefined : new Error(`the live view presented a certificate (${cert.fingerprint256.slice(0, 23)}...) other than http.tls_cert_file`),
  };
}

/** GET /api/sessions with a viewer token: the sessions the live view lists. */
export function listLiveSessions(e: LiveEndpoint, token: string, timeoutMs: number): Promise<{ ok: true; sessions: Record<string, unknown>[] } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const url = new URL('/api/sessions', e.url);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { headers: { Authorization: `Bearer ${token}` }, timeout: timeoutMs, ...tlsOptions(e) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve({ ok: false, error: `GET /api/sessions answered ${res.statusCode}: ${body.trim().slice(0, 200)}` });
        try {
          const parsed = JSON.parse(body) as { sessions?: unknown };
          resolve({ ok: true, sessions: Array.isArray(parsed.sessions) ? (parsed.sessions as Record<string, unknown>[]) : [] });
        } catch {
          resolve({ ok: false, error: 'GET /api/sessions did not answer JSON' });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, error: `cannot reach the live view at ${e.url}: ${describeError(err)}` }));
    req.end();
  });
}

export interface Watcher {
  /** Resolves true once `text` has appeared in what the viewer was sent. */
  saw(text: string, timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** Opens the watch socket of a session as an auditor would. */
export function watchSession(e: LiveEndpoint, sessionId: string, token: string, timeoutMs: number): Promise<{ ok: true; watcher: Watcher } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const url = new URL(`/api/sessions/${sessionId}/watch`, e.url.replace(/^http/, 'ws'));
    const ws = new WebSocket(url, [PROTOCOL], { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: timeoutMs, ...tlsOptions(e) });
    let seen = '';
    const listeners = new Set<() => void>();
    ws.on('message', (data, isBinary) => {
      if (isBinary) seen += (data as Buffer).toString('utf8');
      else {
        // screens (on joining, after a flood) come as JSON text: search them too
        seen += data.toString();
      }
      for (const l of listeners) l();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ok: false, error: `the watch socket was refused: HTTP ${res.statusCode}` });
      ws.terminate();
    });
    ws.on('error', (err) => resolve({ ok: false, error: `the watch socket failed: ${describeError(err)}` }));
    ws.on('open', () =>
      resolve({
        ok: true,
        watcher: {
          saw: (text, ms) =>
            new Promise((done) => {
              const check = () => {
                if (!seen.includes(text)) return;
                clearTimeout(timer);
                listeners.delete(check);
                done(true);
              };
              const timer = setTimeout(() => {
                listeners.delete(check);
                done(false);
              }, ms);
              listeners.add(check);
              check();
            }),
          close: () => ws.close(1000, 'drill done'),
        },
      }),
    );
  });
}
