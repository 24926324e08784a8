import { describe, expect, it } from 'vitest';
import { authorize } from '../../src/policy/policy.js';
import { parseLoginName, printable } from '../../src/auth/login-name.js';
import { envAllowed } from '../../src/session/env.js';
import type { UserConfig } from '../../src/config/load.js';

const config = {
  targets: { shell: { type: 'local' as const, shell: '/bin/bash', env: {} }, db1: { type: 'local' as const, shell: '/bin/sh', env: {} }, prod: { type: 'local' as const, shell: '/bin/sh', env: {} } },
  roles: { oncall: { standing: ['shell', 'db1'] }, dba: { standing: ['db1'] } },
};
const user = (roles: string[], default_target?: string): UserConfig => ({ name: 'alice', keys: [], key_files: [], totp_secret_file: '/x', roles, default_target });

describe('authorize', () => {
  it('allows standing targets, by name or by default', () => {
    expect(authorize(user(['oncall']), 'db1', config)).toEqual({ allow: true, target: 'db1', via: 'standing' });
    expect(authorize(user(['oncall'], 'shell'), undefined, config)).toEqual({ allow: true, target: 'shell', via: 'standing' });
    expect(authorize(user(['dba']), undefined, config)).toEqual({ allow: true, target: 'db1', via: 'standing' });
  });
  it('refuses with a reason and the allowed list', () => {
    expect(authorize(user(['dba']), 'prod', config)).toEqual({ allow: false, reason: 'not-allowed', requested: 'prod', allowed: ['db1'] });
    expect(authorize(user(['oncall']), 'nope', config)).toMatchObject({ allow: false, reason: 'unknown-target' });
    expect(authorize(user(['oncall']), '__proto__', config)).toMatchObject({ allow: false, reason: 'unknown-target' });
    expect(authorize(user(['oncall']), undefined, config)).toEqual({ allow: false, reason: 'no-target', allowed: ['db1', 'shell'] });
    expect(authorize(user([]), undefined, config)).toEqual({ allow: false, reason: 'no-target', allowed: [] });
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
