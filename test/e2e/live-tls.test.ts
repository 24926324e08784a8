import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startPtySsh } from '../helpers/ssh.js';
import { oathtool, requireTool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

describe('the live service over TLS', () => {
  let b: TestBastion;
  let ca: Buffer;
  beforeAll(async () => {
    requireTool('openssl', 'openssl');
    const dir = mkdtempSync(join(tmpdir(), 'tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1'], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'));
    b = await startTestBastion({ users: ['alice'], config: { http: { host: '127.0.0.1', port: 0, tls_cert_file: join(dir, 'cert.pem'), tls_key_file: join(dir, 'key.pem') } } });
  });
  afterAll(() => b?.cleanup());

  it('serves the page, the API and the watch socket as HTTPS/WSS only', async () => {
    const token = execFileSync(process.execPath, [CLI, 'token', 'issue', 'carol', '--role', 'auditor', '--ttl', '1h', '--config', b.configPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: oathtool(b.users.alice!.secret) });
    p.write('echo OVER-TLS-$((40+2))\r');
    await p.waitFor(/OVER-TLS-42\r\n/);
    const started = await waitForAudit(b.dataDir, (l) => l.type === 'session.start');
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: b.httpPort, path, ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const sessions = await get('/api/sessions');
    expect(sessions.status).toBe(200);
    expect(JSON.parse(sessions.body).sessions[0].id).toBe(started.session_id);
    expect((await get('/')).body).toContain('<title>bastion: live sessions</title>');
    // Plain HTTP on the TLS port gets nothing useful.
    await expect(fetch(`http://127.0.0.1:${b.httpPort}/api/sessions`, { headers: { Authorization: `Bearer ${token}` } })).rejects.toThrow();
    const ws = new WebSocket(`wss://127.0.0.1:${b.httpPort}/api/sessions/${String(started.session_id)}/watch`, ['bastion.v1'], { ca, headers: { Authorization: `Bearer ${token}` } });
    const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.on('message', (d, binary) => !binary && resolve(JSON.parse(d.toString()) as Record<string, unknown>));
      ws.on('error', reject);
    });
    expect(hello.type).toBe('hello');
    expect(String(hello.screen)).toContain('OVER-TLS-42');
    ws.close();
    p.write('exit\r');
    await p.exited;
  });
});
