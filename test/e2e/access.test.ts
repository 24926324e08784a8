import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, connect, type Server } from 'node:net';
import { freePort } from '../helpers/net.js';
import { startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { runSsh, startPtySsh, startSsh } from '../helpers/ssh.js';
import { existsSync } from 'node:fs';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';

const at = (b: TestBastion, u: string, offsetSteps = 0) => oathtool(b.users[u]!.secret, new Date(Date.now() + offsetSteps * 30_000));

describe('target choice, session limits and forwarding', () => {
  let sshd: TestSshd;
  let echo: Server;
  let echoPort: number;
  let b: TestBastion;
  beforeAll(async () => {
    sshd = await startSshd();
    echo = createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    await new Promise((r) => echo.once('listening', r));
    echoPort = (echo.address() as { port: number }).port;
    const db = { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, private_key_file: sshd.clientKeyPath, known_hosts_file: sshd.knownHostsPath };
    b = await startTestBastion({
      users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'],
      targets: { db1: db, db2: db, psql: { type: 'local', shell: '/bin/sh', command: ['/bin/echo', 'fixed-program'] }, jail: { type: 'local', shell: '/bin/sh', run_as: 'nobody', cwd: '/tmp' } },
      roles: {
        oncall: { standing: ['shell', 'db1', 'psql'], break_glass: ['db2'], max_sessions_per_user: 1 },
        tunnels: { standing: ['db1'], allow: { port_forwarding: true } },
        jailed: { standing: ['jail'] },
      },
      userConfig: {
        alice: { default_target: undefined },
        bob: { default_target: undefined },
        erin: { roles: ['tunnels'], default_target: undefined },
        frank: { roles: ['jailed'], default_target: undefined },
      },
    });
  });
  afterAll(async () => {
    b?.cleanup();
    echo?.close();
    await sshd?.stop();
  });

  it('offers a menu in the terminal to a user with several targets who names none', async () => {
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: at(b, 'alice') });
    await p.waitFor(/Choose 1-4/);
    expect(p.screen()).toMatch(/1\) db1\s+standing/);
    expect(p.screen()).toMatch(/2\) db2\s+BREAK-GLASS: alerts security/);
    expect(p.screen()).toMatch(/4\) shell\s+standing/);
    p.write('9\r');
    await p.waitFor(/"9" is not on the list/);
    // Typed ahead in one go: what follows Enter must reach the shell, not be lost with the menu.
    p.write('4\recho chosen-$BASTION_TARGET; exit 6\r');
    await p.waitFor(/chosen-shell/);
    expect(await p.exited).toBe(6);
    const success = readAudit(b.dataDir).filter((l) => l.type === 'login.success' && l.user === 'alice');
    expect(success.map((l) => l.target)).toEqual([null, 'shell']);
  });

  it('refuses exec without a target, listing the targets', async () => {
    const r = await runSsh(b, b.users.bob!, ['uptime'], { code: at(b, 'bob') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bastion: name a target: ssh -p PORT bob:TARGET@HOST. Your targets: db1 (standing), db2 (break-glass), psql (standing), shell (standing)');
  });

  it('runs a fixed-program target, which takes no commands', async () => {
    const ok = await runSsh(b, b.users.carol!, ['-tt'], { code: at(b, 'carol', -1) }, { login: 'carol:psql' });
    expect(ok.stdout).toContain('fixed-program');
    const cmd = await runSsh(b, b.users.carol!, ['id'], { code: at(b, 'carol', 0) }, { login: 'carol:psql' });
    expect(cmd.code).toBe(1);
    expect(cmd.stderr).toContain('runs a fixed program and does not accept commands');
  });

  it('runs a local target as its run_as user, not as the bastion', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (as in CI): the bastion can only switch users as root');
    const r = await runSsh(b, b.users.frank!, ['id -un; echo $HOME $USER'], { code: at(b, 'frank') });
    expect(r.stdout).toMatch(/^nobody\n\S+ nobody\n$/);
  });

  it('enforces the per-user limit on concurrent sessions', async () => {
    const first = startSsh(b, b.users.dave!, 'dave:shell', ['echo first; sleep 30'], { code: at(b, 'dave', -1) });
    await first.waitFor('first');
    const second = await runSsh(b, b.users.dave!, ['echo second'], { code: at(b, 'dave', 0) }, { login: 'dave:shell' });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('you already have 1 open session (the limit)');
    first.kill();
    await first.closed;
  });

  it('refuses ssh -L and -A by default with a message, and audits the destination', async () => {
    const local = await freePort();
    // OpenSSH asks for agent forwarding only when it has an agent to forward.
    const agentSock = `${b.dir}/agent.sock`;
    const agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 20));
    const ssh = startSsh(b, b.users.bob!, 'bob:db1', ['-A', '-L', `127.0.0.1:${local}:127.0.0.1:${echoPort}`, 'echo up; sleep 20'], { code: at(b, 'bob', 1) }, { SSH_AUTH_SOCK: agentSock });
    await ssh.waitFor('up');
    const got = await new Promise<string>((resolve) => {
      const s = connect(local, '127.0.0.1', () => s.write('ping'));
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    expect(got).toBe('');
    await ssh.waitFor(`[bastion] port forwarding to 127.0.0.1:${echoPort} is not allowed for your role`, 'stderr');
    expect(ssh.stderr()).toContain('[bastion] agent forwarding is not offered by this bastion');
    ssh.kill();
    agent.kill('SIGTERM');
    await ssh.closed;
    const what = readAudit(b.dataDir).filter((l) => l.type === 'channel.refused' && l.user === 'bob').map((l) => l.what);
    expect(what).toEqual(expect.arrayContaining(['agent forwarding', `port forwarding to 127.0.0.1:${echoPort}`]));
  });

  it('allows ssh -L through the target for a role that may forward, and audits the destination', async () => {
    const local = await freePort();
    const ssh = startSsh(b, b.users.erin!, 'erin:db1', ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${echoPort}`], { code: at(b, 'erin') });
    await waitForAudit(b.dataDir, (l) => l.type === 'login.success' && l.user === 'erin');
    let got = '';
    for (let i = 0; i < 40 && got !== 'ping'; i++) {
      got = await new Promise<string>((resolve) => {
        const s = connect(local, '127.0.0.1', () => s.write('ping'));
        let data = '';
        s.on('data', (d) => {
          data += d;
          if (data === 'ping') s.end();
        });
        s.on('close', () => resolve(data));
        s.on('error', () => resolve(data));
      });
      if (got !== 'ping') await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe('ping');
    await waitForAudit(b.dataDir, (l) => l.type === 'forward.opened' && l.user === 'erin' && l.destination === `127.0.0.1:${echoPort}`);
    ssh.kill();
    await ssh.closed;
  });
});
