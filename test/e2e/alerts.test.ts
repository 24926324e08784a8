import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTestBastion, writeTestConfig, type TestBastion } from '../helpers/bastion.js';
import { runSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';
import { freePort } from '../helpers/net.js';
import { receiver, type Received } from '../helpers/webhook.js';

describe('break-glass alerts to webhooks', () => {
  let b: TestBastion;
  let healthyPort: number;
  let downPort: number;
  let slowPort: number;
  let healthy: { server: Server; got: Received[] };
  let slow: { server: Server; got: Received[] };
  beforeAll(async () => {
    [healthyPort, downPort, slowPort] = [await freePort(), await freePort(), await freePort()];
    healthy = await receiver(healthyPort);
    slow = await receiver(slowPort, { delayMs: 8_000 });
    const cfg = writeTestConfig({
      users: ['alice', 'bob', 'mallory'],
      targets: { prod: { type: 'local', shell: '/bin/bash' } },
      roles: { oncall: { standing: ['shell'], break_glass: ['prod'] } },
      config: {
        alerts: {
          webhooks: [
            { name: 'soc', url: `http://127.0.0.1:${healthyPort}/hook`, secret_file: 'keys/alert.secret' },
            { name: 'slack', url: `http://127.0.0.1:${healthyPort}/slack`, format: 'slack' },
            { name: 'pager', url: `http://127.0.0.1:${downPort}/hook` },
            { name: 'slow', url: `http://127.0.0.1:${slowPort}/hook` },
          ],
          max_retry_interval: '2s',
        },
      },
    });
    writeFileSync(join(cfg.dir, 'keys/alert.secret'), 'a-shared-webhook-secret-for-tests\n', { mode: 0o600 });
    b = await runTestBastion(cfg);
  });
  afterAll(() => {
    healthy?.server.close();
    slow?.server.close();
    b?.cleanup();
  });

  it('posts the alert within 1 s, signed, in both formats; a slow receiver does not delay the login; a down one gets it later', async () => {
    const t0 = Date.now();
    const r = await runSsh(b, b.users.alice!, ['echo in-prod'], { code: oathtool(b.users.alice!.secret) }, { login: 'alice:prod' });
    const loginMs = Date.now() - t0;
    expect(r.stdout).toBe('in-prod\n');
    expect(loginMs).toBeLessThan(5_000); // the 8 s receiver is not waited for
    const start = await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === 'alice');
    for (let i = 0; i < 100 && healthy.got.length < 2; i++) await new Promise((res) => setTimeout(res, 20));
    const generic = healthy.got.find((g) => g.path === '/hook')!;
    expect(generic.body).toMatchObject({
      kind: 'break_glass',
      session_id: start.session_id,
      user: 'alice',
      target: 'prod',
      ticket: 'INC-4242',
      source_ip: '127.0.0.1',
      summary: 'BREAK-GLASS: alice on prod (INC-4242)',
      links: { replay: expect.stringMatching(/^bastion-player s-\d{8}T\d{6}Z-[0-9a-f]{8} --config /), watch: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/) },
    });
    expect(String(generic.body.reason)).toContain('investigating');
    expect(generic.at - Date.parse(String(start.ts))).toBeLessThan(1_000);
    expect(generic.headers['x-bastion-signature']).toBe(`sha256=${createHmac('sha256', 'a-shared-webhook-secret-for-tests').update(generic.raw).digest('hex')}`);
    const slack = healthy.got.find((g) => g.path === '/slack')!;
    expect(String(slack.body.text)).toContain('BREAK-GLASS: alice on prod (INC-4242)');
    expect(JSON.stringify(slack.body.blocks)).toContain('*Ticket*\\nINC-4242');
    await waitForAudit(b.dataDir, (l) => l.type === 'alert.delivered' && l.webhook === 'soc' && l.attempt === 1);
    // The receiver that was down comes up: the alert arrives on a retry.
    await waitForAudit(b.dataDir, (l) => l.type === 'alert.failed' && l.webhook === 'pager');
    const down = await receiver(downPort);
    try {
      await waitForAudit(b.dataDir, (l) => l.type === 'alert.delivered' && l.webhook === 'pager', 15_000);
      expect(down.got[0]!.body).toMatchObject({ kind: 'break_glass', session_id: start.session_id });
      const failures = readAudit(b.dataDir).filter((l) => l.type === 'alert.failed' && l.webhook === 'pager');
      expect(failures.length).toBeGreaterThanOrEqual(1);
    } finally {
      down.server.close();
    }
    // Standing access alerts no one.
    await runSsh(b, b.users.bob!, ['true'], { code: oathtool(b.users.bob!.secret) }, { login: 'bob:shell' });
    await new Promise((res) => setTimeout(res, 500));
    expect(healthy.got.filter((g) => g.body.user === 'bob')).toEqual([]);
  });

  it('an MFA lockout alerts security', async () => {
    const code = oathtool(b.users.mallory!.secret);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 2; i++) await runSsh(b, b.users.mallory!, ['true'], { code: [wrong, wrong, wrong] });
    await waitForAudit(b.dataDir, (l) => l.type === 'login.locked' && l.user === 'mallory');
    for (let i = 0; i < 100 && !healthy.got.some((g) => g.body.kind === 'lockout'); i++) await new Promise((res) => setTimeout(res, 20));
    expect(healthy.got.find((g) => g.path === '/hook' && g.body.kind === 'lockout')?.body).toMatchObject({ kind: 'lockout', user: 'mallory', source_ip: '127.0.0.1', summary: expect.stringMatching(/^MFA lockout: mallory locked until \d{4}-/) });
  });
});
