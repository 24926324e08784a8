import { describe, expect, it } from 'vitest';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/duration.js';
import { BastionError } from '../../src/errors.js';

const ROOT = resolve(import.meta.dirname, '../..');
const file = join(ROOT, 'test-config.yaml');
const base = {
  host_keys: ['keys.example/ssh_host_ed25519_key'],
  recording: { signing_key: 'keys.example/recording_ed25519.pem' },
  targets: { shell: { type: 'local', allow_bastion_user: true } },
  roles: { oncall: { standing: ['shell'] } },
  users: { demo: { keys: ['keys.example/demo_ed25519.pub'], roles: ['oncall'] } },
};
const errorOf = (cfg: unknown): string => {
  try {
    parseConfig(stringify(cfg), file);
  } catch (err) {
    expect(err).toBeInstanceOf(BastionError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
};

describe('config', () => {
  it('loads the shipped example, resolving paths against the file and freezing the result', () => {
    const c = loadConfig(join(ROOT, 'config.example.yaml'));
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 2222 });
    expect(c.data_dir).toBe(join(ROOT, 'data'));
    expect(c.users.demo!.keys).toHaveLength(1);
    expect(c.users.demo!.totp_secret_file).toBe(join(ROOT, 'keys.example/demo.totp'));
    expect(c.auth.lockout).toEqual({ max_failures: 5, window: 15 * 60_000, duration: 15 * 60_000 });
    expect(c.auth.login_timeout).toBe(60_000);
    expect(Object.isFrozen(c.auth.lockout)).toBe(true);
    expect(() => ((c as { data_dir: string }).data_dir = '/tmp')).toThrow();
  });

  it('checks the drill: a known user with the target as break-glass, a ticket that passes the rules', () => {
    const c = loadConfig(join(ROOT, 'config.example.yaml'));
    expect(c.drill).toMatchObject({ user: 'drill', target: 'prod', ticket: 'INC-1234', private_key_file: join(ROOT, 'keys.example/drill_ed25519'), timeout: 60_000 });
    expect(c.users.drill!.drill).toBe(true);
    expect(c.users.demo!.drill).toBe(false);
    const drill = { user: 'demo', target: 'shell', private_key_file: 'keys.example/demo_ed25519' };
    expect(errorOf({ ...base, drill: { ...drill, user: 'nobody' } })).toContain('drill.user: unknown user "nobody" (known: demo)');
    expect(errorOf({ ...base, drill })).toContain('drill.target: "shell" is not a break-glass target of demo');
    expect(errorOf({ ...base, roles: { oncall: { break_glass: ['shell'] } }, drill: { ...drill, ticket: 'whatever' } })).toContain('drill.ticket: "whatever" does not match auth.justification.ticket_pattern');
  });

  it('runs the demo alert receiver only on loopback', () => {
    expect(errorOf({ ...base, http: { host: '0.0.0.0', demo_alert_receiver: true } })).toContain('http.demo_alert_receiver: a demo feature: anyone who can reach the port could post alerts, so it runs only with http.host on loopback (not "0.0.0.0")');
    expect(parseConfig(stringify({ ...base, http: { host: '127.0.0.1', demo_alert_receiver: true } }), file).http.demo_alert_receiver).toBe(true);
  });

  it('fills defaults for everything optional', () => {
    const c = parseConfig(stringify(base), file);
    expect(c.auth.justification.min_reason_length).toBe(20);
    expect(c.auth.totp.attempts_per_connection).toBe(3);
    expect(c.session.env_allow).toEqual(['LANG', 'LC_*']);
    expect(c.users.demo!.totp_secret_file).toBe(join(ROOT, 'data', 'totp', 'demo.totp'));
  });

  it('names the file, the key path and what was expected', () => {
    expect(errorOf({ ...base, users: { alice: { keys: ['nope/alice.pub'] } } })).toContain(`test-config.yaml: users.alice.keys[0]: file not found: ${join(ROOT, 'nope/alice.pub')}`);
    expect(errorOf({ ...base, listen: { port: 70000 } })).toContain('test-config.yaml: listen.port: ');
    expect(errorOf({ ...base, auth: { lockout: { window: '-5m' } } })).toContain('auth.lockout.window: expected a duration');
    expect(errorOf({ ...base, roles: { oncall: { standing: ['db9'] } } })).toContain('roles.oncall.standing[0]: unknown target "db9" (known: shell)');
    expect(errorOf({ ...base, users: { 'Bad Name': base.users.demo } })).toContain('users.Bad Name');
    expect(errorOf({ ...base, users: { demo: { keys: ['ssh-ed25519 AAAAnotakey'] } } })).toContain('users.demo.keys[0]: line 1:');
    expect(errorOf({ ...base, host_keys: ['keys.example/demo_ed25519.pub'] })).toContain('host_keys[0]: ');
    expect(errorOf({ ...base, surprise: true })).toContain('(top level): Unrecognized key: "surprise"');
    expect(errorOf({ ...base, users: { demo: { ...base.users.demo, default_target: 'nowhere' } } })).toContain('users.demo.default_target: unknown target "nowhere"');
  });

  it('refuses a local target that would run as the bastion user unless the config says so', () => {
    expect(errorOf({ ...base, targets: { shell: { type: 'local' } } })).toContain("targets.shell.run_as: this target would run as the bastion's own user");
    expect(errorOf({ ...base, targets: { shell: { type: 'local', run_as: 'no-such-user-x' } } })).toContain('targets.shell.run_as: no such OS user: no-such-user-x');
  });

  it('resolves ssh targets: credential files, pinned keys, exactly one of each', () => {
    const ssh = { type: 'ssh', host: 'db1.internal', user: 'ops' };
    expect(errorOf({ ...base, targets: { ...base.targets, db1: ssh } })).toMatch(/targets\.db1\.private_key_file: give exactly one of private_key_file or password_file[\s\S]*targets\.db1\.host_key: pin the upstream host key/);
    expect(errorOf({ ...base, targets: { ...base.targets, db1: { ...ssh, private_key_file: 'keys.example/demo_ed25519.pub', host_key: 'nonsense' } } })).toMatch(/private_key_file: not a usable private key[\s\S]*host_key: expected an OpenSSH public key line/);
    const pub = readFileSync(join(ROOT, 'keys.example/ssh_host_ed25519_key.pub'), 'utf8').trim();
    const c = parseConfig(stringify({ ...base, targets: { ...base.targets, db1: { ...ssh, private_key_file: 'keys.example/demo_ed25519', host_key: pub } } }), file);
    expect(c.targets.db1).toMatchObject({ type: 'ssh', host: 'db1.internal', port: 22, user: 'ops' });
    expect(JSON.stringify(c.targets.db1)).not.toContain('PRIVATE KEY');
  });

  it('reports every problem at once, and YAML syntax errors', () => {
    const msg = errorOf({ ...base, listen: { port: 'x' }, log_level: 'loud' });
    expect(msg.split('\n')).toHaveLength(2);
    expect(() => parseConfig('a: [\n', file)).toThrow(/test-config\.yaml: YAML: /);
  });

  it('accepts inline key lines', () => {
    const line = readFileSync(join(ROOT, 'keys.example/demo_ed25519.pub'), 'utf8').trim();
    const c = parseConfig(stringify({ ...base, users: { demo: { keys: [line] } } }), file);
    expect(c.users.demo!.keys[0]!.fingerprint).toMatch(/^SHA256:/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['250ms', 250],
    [60, 60_000],
  ])('%j → %d ms', (input, ms) => expect(parseDuration(input)).toBe(ms));
  it.each(['', '-5m', 'forever', '5 weeks', 'NaN', -1])('refuses %j', (input) => expect(parseDuration(input)).toBeUndefined());
});

describe('knownHostKeys', () => {
  it('finds plain and hashed known_hosts entries for host and port', async () => {
    const { knownHostKeys } = await import('../../src/config/targets.js');
    const { createHmac } = await import('node:crypto');
    const pub = readFileSync(join(ROOT, 'keys.example/ssh_host_ed25519_key.pub'), 'utf8').trim();
    const salt = Buffer.from('0123456789abcdefghij');
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[db1]:2200').digest('base64')}`;
    expect(knownHostKeys(`db1,10.0.0.5 ${pub}\n`, 'db1', 22)).toHaveLength(1);
    expect(knownHostKeys(`db1 ${pub}\n`, 'db1', 2200)).toHaveLength(0);
    expect(knownHostKeys(`${hashed} ${pub}\n`, 'db1', 2200)).toHaveLength(1);
    expect(knownHostKeys(`@revoked db1 ${pub}\n# comment\n`, 'db1', 22)).toHaveLength(0);
  });
});
