import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeTestConfig, type TestBastion, type TestConfig } from '../helpers/bastion.js';
import { startSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { ManualClock } from '../../src/clock.js';
import { startBastion, type RunningBastion } from '../../src/main.js';

const MIN = 60_000;

/**
 * The bastion in-process with an injected clock (expiry and idle limits without waiting for
 * minutes), reached by the real OpenSSH client.
 */
describe('live sessions end when their access ends (injected clock, real ssh client)', () => {
  let cfg: TestConfig;
  let bastion: RunningBastion;
  let clock: ManualClock;
  let view: TestBastion;
  beforeAll(async () => {
    cfg = writeTestConfig({
      users: ['alice', 'bob'],
      targets: { prod: { type: 'local', shell: '/bin/sh' } },
      roles: { oncall: { standing: ['shell'], break_glass: ['prod'], idle_timeout: '20m' } },
      // The enforcer runs only when the test asks (checkNow), never on a timer it would race with.
      config: { session: { check_interval: '60s', expiry_notice: '5m' } },
    });
    clock = new ManualClock(Date.now());
    bastion = await startBastion(loadConfig(cfg.configPath), silentLogger(), clock);
    const knownHosts = join(cfg.dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${bastion.ssh.port} ${cfg.hostPublic}\n`);
    view = { ...cfg, port: bastion.ssh.port, knownHosts, dataDir: join(cfg.dir, 'data') } as unknown as TestBastion;
  });
  afterAll(async () => {
    await bastion?.stop('test over');
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  function openSession(user: string, login: string) {
    const ssh = startSsh(view, cfg.users[user]!, login, ['echo started; exec sleep 600'], { code: oathtool(cfg.users[user]!.secret, new Date(clock.now())) });
    return { started: ssh.waitFor('started'), closed: ssh.closed, stderr: ssh.stderr };
  }

  async function waitFor(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
    if (!cond()) throw new Error(`timed out waiting for ${what}`);
  }

  it('warns a break-glass session five minutes before its window ends, then closes it saying why', async () => {
    const t0 = clock.now();
    const s = openSession('alice', 'alice:prod');
    await s.started;
    // The user keeps typing (so the idle limit never applies); the window is what ends the session.
    const at = async (minutes: number) => {
      clock.set(t0 + minutes * MIN);
      for (const live of bastion.registry.list()) live.lastInputAt = clock.now();
      await bastion.enforcer.checkNow();
    };
    await at(54);
    expect(s.stderr()).not.toContain('will be closed');
    await at(55);
    await waitFor(() => s.stderr().includes('will be closed at'), 'the notice');
    expect(s.stderr()).toContain('when the break-glass window ends');
    clock.set(t0 + 60 * MIN);
    await bastion.enforcer.checkNow();
    await s.closed;
    expect(s.stderr()).toContain('The break-glass window for prod has ended; this session is closed.');
    const end = await waitForAudit(join(cfg.dir, 'data'), (l) => l.type === 'session.end' && l.user === 'alice');
    expect(end).toMatchObject({ reason: 'expired', break_glass: true });
    await waitForAudit(join(cfg.dir, 'data'), (l) => l.type === 'session.notice' && l.user === 'alice');
  });

  it('closes a session idle for longer than its role allows', async () => {
    const t0 = clock.now();
    const s = openSession('bob', 'bob');
    await s.started;
    clock.set(t0 + 19 * MIN);
    await bastion.enforcer.checkNow();
    expect(bastion.registry.countFor('bob')).toBe(1);
    clock.set(t0 + 20 * MIN);
    await bastion.enforcer.checkNow();
    await s.closed;
    expect(s.stderr()).toContain('No input for 20m; this session is closed.');
    await waitForAudit(join(cfg.dir, 'data'), (l) => l.type === 'session.end' && l.user === 'bob' && l.reason === 'idle');
  });
});
