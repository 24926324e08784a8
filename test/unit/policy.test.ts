import { describe, expect, it } from 'vitest';
import { authorize, allowedTargets, limitsFor } from '../../src/policy/policy.js';
import { buildGrant, activeGrant, type Grant } from '../../src/policy/grants.js';
import { parseLoginName, printable } from '../../src/auth/login-name.js';
import { envAllowed } from '../../src/session/env.js';
import type { UserConfig, Config } from '../../src/config/load.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-23T10:00:00Z');
const local = (shell = '/bin/sh') => ({ type: 'local' as const, name: 'x', shell, sftp_server: '/usr/lib/openssh/sftp-server', env: {} });
const role = (standing: string[], break_glass: string[] = [], extra: Record<string, unknown> = {}) => ({
  standing,
  break_glass,
  allow: { port_forwarding: false, file_transfer: false },
  ...extra,
});
const config = {
  targets: { shell: local('/bin/bash'), db1: local(), prod: local(), staging: local() },
  roles: {
    oncall: role(['shell', 'db1'], ['prod'], { idle_timeout: 10 * 60_000, allow: { port_forwarding: false, file_transfer: true } }),
    dba: role(['db1'], [], { idle_timeout: 60 * 60_000, max_session: 2 * HOUR }),
  },
  session: { env_allow: [], idle_timeout: 30 * 60_000, max_session: 12 * HOUR, max_sessions_per_user: 5, expiry_notice: 5 * 60_000, check_interval: 1000 },
  break_glass: { window: HOUR },
} as unknown as Config;
const user = (roles: string[], default_target?: string, name = 'alice'): UserConfig => ({ name, keys: [], key_files: [], totp_secret_file: '/x', roles, default_target, drill: false });
const grant = (over: Partial<Grant> = {}): Grant => ({ id: 'g-000000000001', user: 'alice', target: 'staging', ticket: 'INC-1', reason: 'r', created_at: NOW - HOUR, expires_at: NOW + HOUR, created_by: 'cli:root', ...over });

describe('authorize', () => {
  it('allows standing targets without expiry, by name or by default', () => {
    expect(authorize(user(['oncall']), 'db1', config, [], NOW)).toMatchObject({ allow: true, target: 'db1', via: 'standing' });
    expect(authorize(user(['oncall']), 'db1', config, [], NOW)).not.toHaveProperty('expiresAt');
    expect(authorize(user(['oncall'], 'shell'), undefined, config, [], NOW)).toMatchObject({ allow: true, target: 'shell' });
    expect(authorize(user(['dba']), undefined, config, [], NOW)).toMatchObject({ allow: true, target: 'db1' });
  });

  it('allows a target through an active grant until it expires, and not after or once revoked', () => {
    expect(authorize(user([]), 'staging', config, [grant()], NOW)).toMatchObject({ allow: true, via: 'grant', expiresAt: NOW + HOUR, grantId: 'g-000000000001' });
    expect(authorize(user([]), 'staging', config, [grant()], NOW + HOUR)).toMatchObject({ allow: false, reason: 'not-allowed' });
    expect(authorize(user([]), 'staging', config, [grant({ revoked_at: NOW - 1 })], NOW)).toMatchObject({ allow: false });
    expect(authorize(user([], undefined, 'bob'), 'staging', config, [grant()], NOW)).toMatchObject({ allow: false });
  });

  it('makes break-glass targets reachable only as break-glass, for the configured window, never by default', () => {
    expect(authorize(user(['oncall']), 'prod', config, [], NOW)).toMatchObject({ allow: true, via: 'break-glass', expiresAt: NOW + HOUR });
    expect(authorize(user(['oncall']), undefined, config, [], NOW)).toMatchObject({ allow: false, reason: 'no-target' });
    expect(authorize(user(['dba']), 'prod', config, [], NOW)).toMatchObject({ allow: false, reason: 'not-allowed' });
  });

  it('prefers standing over a grant over break-glass for the same target', () => {
    expect(authorize(user(['oncall']), 'db1', config, [grant({ target: 'db1' })], NOW)).toMatchObject({ via: 'standing' });
    expect(authorize(user(['oncall']), 'prod', config, [grant({ target: 'prod' })], NOW)).toMatchObject({ via: 'grant' });
  });

  it('refuses with a reason and what the user may reach', () => {
    expect(authorize(user(['dba']), 'shell', config, [], NOW)).toMatchObject({ allow: false, reason: 'not-allowed', requested: 'shell', allowed: [{ target: 'db1', via: 'standing' }] });
    expect(authorize(user(['oncall']), 'nope', config, [], NOW)).toMatchObject({ allow: false, reason: 'unknown-target' });
    expect(authorize(user(['oncall']), '__proto__', config, [], NOW)).toMatchObject({ allow: false, reason: 'unknown-target' });
    expect(allowedTargets(user(['oncall']), config, [grant()], NOW).map((a) => `${a.target}:${a.via}`)).toEqual(['db1:standing', 'prod:break-glass', 'shell:standing', 'staging:grant']);
  });

  it('takes limits from the roles that grant the target (most permissive), session defaults otherwise', () => {
    const both = user(['oncall', 'dba']);
    expect(limitsFor(both, 'db1', 'standing', config)).toMatchObject({ idleMs: 60 * 60_000, maxMs: 2 * HOUR, allow: { file_transfer: true } });
    expect(limitsFor(both, 'shell', 'standing', config)).toMatchObject({ idleMs: 10 * 60_000, maxMs: 12 * HOUR });
    expect(limitsFor(both, 'staging', 'grant', config)).toMatchObject({ idleMs: 30 * 60_000, allow: { file_transfer: false, port_forwarding: false } });
  });
});

describe('buildGrant', () => {
  const cfg = {
    ...config,
    users: { alice: user([]) },
    grants: { max_ttl: 24 * HOUR },
    auth: { justification: { ticket_pattern: '^INC-[0-9]+$', ticket_example: 'INC-1', min_reason_length: 20, max_reason_length: 500 } },
  } as unknown as Config;
  const req = { user: 'alice', target: 'staging', ttl: '2h', ticket: 'INC-42', reason: 'paged for a disk filling up on staging' };
  it('builds a grant that expires by itself', () => {
    const r = buildGrant(req, cfg, 'cli:root', NOW);
    expect(r).toMatchObject({ ok: true, grant: { user: 'alice', target: 'staging', expires_at: NOW + 2 * HOUR, created_by: 'cli:root' } });
    expect(r.ok && r.grant.id).toMatch(/^g-[0-9a-f]{12}$/);
    expect(r.ok && activeGrant([r.grant], 'alice', 'staging', NOW + 2 * HOUR - 1)).toBeTruthy();
    expect(r.ok && activeGrant([r.grant], 'alice', 'staging', NOW + 2 * HOUR)).toBeUndefined();
  });
  it.each([
    [{ ttl: '-1h' }, 'ttl'],
    [{ ttl: '0s' }, 'ttl'],
    [{ ttl: '25h' }, 'ttl'],
    [{ ttl: 1e308 }, 'ttl'],
    [{ ttl: undefined }, 'ttl'],
    [{ target: '../etc/passwd' }, 'target'],
    [{ target: 'a'.repeat(10_240) }, 'target'],
    [{ target: 'constructor' }, 'target'],
    [{ user: 'nobody' }, 'user'],
    [{ ticket: 'whatever' }, 'ticket'],
    [{ reason: 'x' }, 'reason'],
  ])('refuses %j', (over, field) => {
    const r = buildGrant({ ...req, ...over }, cfg, 'cli:root', NOW);
    expect(r).toMatchObject({ ok: false, field });
  });
});

describe('parseLoginName', () => {
  it('splits user:target and validates the user part', () => {
    expect(parseLoginName('alice')).toEqual({ ok: true, user: 'alice' });
    expect(parseLoginName('alice:db1')).toEqual({ ok: true, user: 'alice', target: 'db1' });
    expect(parseLoginName('alice:../../etc/passwd')).toEqual({ ok: true, user: 'alice', target: '../../etc/passwd' });
    expect(parseLoginName('Alice')).toEqual({ ok: false });
    expect(parseLoginName('a'.repeat(10_000))).toEqual({ ok: false });
    expect(printable('evil\u001b[31mred' + 'x'.repeat(100))).toMatch(/^evil\?\[31mredx+\.\.\.$/);
  });
});

describe('envAllowed', () => {
  const allow = ['LANG', 'LC_*'];
  it.each([
    ['LANG', 'C.UTF-8', true],
    ['LC_ALL', 'C', true],
    ['LC_TIME', 'en_GB.UTF-8', true],
    ['LD_PRELOAD', '/tmp/x.so', false],
    ['PATH', '/tmp', false],
    ['FOO', 'bar', false],
    ['LANG', 'C\nX=1', false],
    ['LANG', 'x'.repeat(2000), false],
  ])('%s=%j → %s', (k, v, ok) => expect(envAllowed(k, v, allow)).toBe(ok));
  it('never passes loader variables even when an admin allows them', () => {
    expect(envAllowed('LD_PRELOAD', '/x', ['LD_*', 'LD_PRELOAD'])).toBe(false);
    expect(envAllowed('BASH_ENV', '/x', ['BASH_ENV'])).toBe(false);
  });
});
