import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { LocalTargetConfig, TargetConfig } from './schema.js';
import { checkPrivateKey, parseAuthorizedKeys } from '../auth/keys.js';
import { Secret } from '../secret.js';
import { describeError } from '../errors.js';

export interface RunAs {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export type ResolvedLocalTarget = Omit<LocalTargetConfig, 'run_as' | 'allow_bastion_user'> & { readonly name: string; readonly run_as?: RunAs };

export interface ResolvedSshTarget {
  readonly type: 'ssh';
  readonly name: string;
  readonly description?: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey?: Secret;
  readonly password?: Secret;
  /** Pinned upstream host keys (SSH wire blobs); the connection is refused for any other key. */
  readonly hostKeys: readonly Buffer[];
  readonly connect_timeout: number;
}

export type ResolvedTarget = ResolvedLocalTarget | ResolvedSshTarget;

type Fail = (path: string, message: string) => void;

/** Resolves one target: files read, keys parsed, users looked up. Problems go to `fail`. */
export function resolveTarget(name: string, t: TargetConfig, abs: (p: string) => string, fail: Fail): ResolvedTarget | undefined {
  const at = (key: string) => `targets.${name}.${key}`;
  if (t.type === 'local') {
    const cwd = t.cwd === undefined ? undefined : abs(t.cwd);
    if (cwd !== undefined && !isDirectory(cwd)) fail(at('cwd'), `not a directory: ${cwd}`);
    const { run_as: runAsName, allow_bastion_user, ...rest } = t;
    let run_as: RunAs | undefined;
    const me = process.getuid?.() ?? -1;
    if (runAsName !== undefined) {
      run_as = lookupUser(runAsName);
      if (!run_as) fail(at('run_as'), `no such OS user: ${runAsName}`);
      else if (run_as.uid !== me && me !== 0) fail(at('run_as'), `the bastion must run as root to start programs as ${runAsName}`);
    }
    if ((run_as === undefined || run_as.uid === me) && !allow_bastion_user) {
      fail(
        at('run_as'),
        "this target would run as the bastion's own user, who can read the bastion's host key, TOTP secrets and audit log; " +
          'set run_as: USER (an account without access to the bastion files), or allow_bastion_user: true for a demo',
      );
    }
    return { ...rest, name, cwd, ...(run_as ? { run_as } : {}) };
  }

  let privateKey: Secret | undefined;
  let password: Secret | undefined;
  if ((t.private_key_file === undefined) === (t.password_file === undefined)) {
    fail(at('private_key_file'), 'give exactly one of private_key_file or password_file');
  }
  if (t.private_key_file !== undefined) {
    const text = readText(abs(t.private_key_file), at('private_key_file'), fail);
    if (text !== undefined) {
      const check = checkPrivateKey(Buffer.from(text));
      if (check.ok) privateKey = new Secret(text);
      else fail(at('private_key_file'), `not a usable private key (${check.message}); passphrase-protected keys are not supported`);
    }
  }
  if (t.password_file !== undefined) {
    const text = readText(abs(t.password_file), at('password_file'), fail);
    if (text !== undefined) password = new Secret(text.replace(/\r?\n$/, ''));
  }

  const hostKeys: Buffer[] = [];
  if ((t.host_key === undefined) === (t.known_hosts_file === undefined)) {
    fail(at('host_key'), 'pin the upstream host key: give exactly one of host_key or known_hosts_file');
  }
  if (t.host_key !== undefined) {
    const parsed = parseAuthorizedKeys(t.host_key);
    if (!parsed.ok || parsed.keys.length === 0) fail(at('host_key'), 'expected an OpenSSH public key line such as "ssh-ed25519 AAAA..."');
    else hostKeys.push(...parsed.keys.map((k) => k.blob));
  }
  if (t.known_hosts_file !== undefined) {
    const text = readText(abs(t.known_hosts_file), at('known_hosts_file'), fail);
    if (text !== undefined) {
      hostKeys.push(...knownHostKeys(text, t.host, t.port));
      if (hostKeys.length === 0) fail(at('known_hosts_file'), `no key for ${t.port === 22 ? t.host : `[${t.host}]:${t.port}`} in ${abs(t.known_hosts_file)}`);
    }
  }
  return {
    type: 'ssh',
    name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    host: t.host,
    port: t.port,
    user: t.user,
    ...(privateKey ? { privateKey } : {}),
    ...(password ? { password } : {}),
    hostKeys,
    connect_timeout: t.connect_timeout,
  };
}

/** Keys from known_hosts lines naming this host (plain or hashed names; markers such as @revoked are skipped). */
export function knownHostKeys(text: string, host: string, port: number): Buffer[] {
  const wanted = port === 22 ? host : `[${host}]:${port}`;
  const keys: Buffer[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const [hosts, ...rest] = line.split(/\s+/);
    if (!hosts || !hostMatches(hosts, wanted)) continue;
    const parsed = parseAuthorizedKeys(rest.join(' '));
    if (parsed.ok) keys.push(...parsed.keys.map((k) => k.blob));
  }
  return keys;
}

function hostMatches(field: string, wanted: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(wanted).digest('base64') === hash;
  }
  return field.split(',').includes(wanted);
}

function readText(path: string, where: string, fail: Fail): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(where, code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${describeError(err)}`);
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function lookupUser(name: string): RunAs | undefined {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const f = line.split(':');
    if (f.length < 7) return undefined;
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
  } catch {
    return undefined;
  }
}
