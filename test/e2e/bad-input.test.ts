import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { runSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';

/** Opens a TCP connection, sends `chunks`, and resolves when the server closes it (or after `ms`). */
function rawConnection(port: number, chunks: Buffer[], ms: number): Promise<{ received: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let received = '';
    let settled = false;
    const done = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve({ received, closedByServer });
    };
    sock.on('data', (d) => (received += d.toString('latin1')));
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
    });
    sock.on('error', () => done(true));
    sock.on('close', () => done(true));
    setTimeout(() => done(false), ms);
  });
}

describe('hostile and broken input on the SSH port', () => {
  let b: TestBastion;
  beforeAll(async () => {
    b = await startTestBastion({ users: ['alice', 'bob', 'carol'], auth: { login_timeout: '2s' } });
  });
  afterAll(() => b?.cleanup());

  it('survives random bytes and a truncated handshake, and keeps serving others', async () => {
    const garbage = await rawConnection(b.port, [randomBytes(64 * 1024)], 5000);
    expect(garbage.received).toMatch(/^SSH-2\.0-Bastion/);
    expect(garbage.closedByServer).toBe(true);
    const truncated = await rawConnection(b.port, [Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), randomBytes(3)], 5000);
    expect(truncated.received).toMatch(/^SSH-2\.0-Bastion/);
    const binaryBanner = await rawConnection(b.port, [Buffer.from([0, 255, 13, 10, 0, 0, 0, 5, 1, 2, 3])], 5000);
    expect(binaryBanner.closedByServer).toBe(true);
    expect(b.proc.exitCode).toBeNull();
    const r = await runSsh(b, b.users.alice!, ['echo alive'], { code: oathtool(b.users.alice!.secret) });
    expect(r.stdout).toBe('alive\n');
  });

  it('drops a login that is not completed within the timeout, and audits it', async () => {
    const slow = await rawConnection(b.port, [Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')], 8000);
    expect(slow.closedByServer).toBe(true);
    await waitForAudit(b.dataDir, (l) => l.type === 'login.failure' && l.reason === 'login timed out');
  });

  it('refuses a 1 MB answer to the code prompt without crashing (ssh2 client, which sends what it is given)', async () => {
    const key = readFileSync(b.users.bob!.privateKeyPath);
    const outcome = await new Promise<string>((resolve) => {
      const c = new ssh2.Client();
      c.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) => {
        finish(prompts.map(() => '7'.repeat(1024 * 1024)));
      });
      c.on('ready', () => {
        c.end();
        resolve('logged in');
      });
      c.on('error', (err) => resolve(`error: ${err.message}`));
      c.on('close', () => resolve('closed'));
      c.connect({ host: '127.0.0.1', port: b.port, username: 'bob', privateKey: key, tryKeyboard: true, readyTimeout: 10_000 });
    });
    expect(outcome).not.toBe('logged in');
    expect(outcome).toMatch(/^(closed|error)/);
    expect(b.proc.exitCode).toBeNull();
    const r = await runSsh(b, b.users.carol!, ['echo alive'], { code: oathtool(b.users.carol!.secret) });
    expect(r.stdout).toBe('alive\n');
  });

  it('refuses remote port forwarding by default and audits it', async () => {
    const code = oathtool(b.users.alice!.secret, new Date(Date.now() + 30_000));
    const r = await runSsh(b, b.users.alice!, ['-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:0:127.0.0.1:22', 'echo ran'], { code });
    expect(r.stderr).toContain('remote port forwarding failed');
    expect(r.stdout).not.toContain('ran');
    expect(r.code).toBe(255);
    await waitForAudit(b.dataDir, (l) => l.type === 'channel.refused' && l.user === 'alice' && String(l.what).includes('tcpip-forward'));
  });
});
