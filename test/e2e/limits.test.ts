import { afterAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';

/** Connects, waits for the server's SSH banner, and disconnects. */
function bannerOnly(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      s.destroy();
    });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

describe('per-source connection rate limit', () => {
  let b: TestBastion;
  afterAll(() => b?.cleanup());

  it('drops connections beyond the per-minute limit and audits them; banner-only connections are not login attempts', async () => {
    b = await startTestBastion({ users: ['alice'], auth: { rate_limit: { connections_per_minute: 3 } } });
    for (let i = 0; i < 3; i++) expect(await bannerOnly(b.port)).toMatch(/^SSH-2\.0-Bastion/);
    await bannerOnly(b.port);
    const refused = await waitForAudit(b.dataDir, (l) => l.type === 'connection.refused');
    expect(refused).toMatchObject({ ip: '127.0.0.1', reason: 'too many connections per minute' });
    expect(readAudit(b.dataDir).filter((l) => l.type === 'login.failure')).toEqual([]);
  });
});

describe('drain when the grace period runs out', () => {
  let b: TestBastion;
  afterAll(() => b?.cleanup());

  it('tells the user why, closes the session, audits it, and exits 0', async () => {
    b = await startTestBastion({ users: ['alice'], config: { shutdown_grace: '1s' } });
    const ssh = startSsh(b, b.users.alice!, 'alice', ['echo started; sleep 60'], { code: oathtool(b.users.alice!.secret) });
    await ssh.waitFor('started');
    const t0 = Date.now();
    const exitCode = await b.stop('SIGTERM');
    await ssh.closed;
    expect(exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(ssh.stderr()).toContain('[bastion] The bastion is shutting down');
    const end = readAudit(b.dataDir).find((l) => l.type === 'session.end');
    expect(end).toMatchObject({ user: 'alice', signal: 'HUP' });
    expect(String(end?.reason)).toContain('shutting down');
  });
});
