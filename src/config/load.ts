import { readFileSync } from 'node:fs';
import { dirname, resolve, basename, relative, isAbsolute } from 'node:path';
import { parseDocument } from 'yaml';
import { BastionError, describeError } from '../errors.js';
import { configSchema, type RawConfig } from './schema.js';
import { checkPrivateKey, looksLikeKeyLine, parseAuthorizedKeys, type AuthorizedKey } from '../auth/keys.js';
import { resolveTarget, type ResolvedTarget } from './targets.js';
import { Secret } from '../secret.js';
import { createPublicKey, KeyObject as KeyObjectClass, type KeyObject } from 'node:crypto';
import { loadSigningKey } from '../recording/manifest.js';

export interface UserConfig {
  readonly name: string;
  readonly keys: readonly AuthorizedKey[];
  /** The key files the keys came from (absolute), for messages. */
  readonly key_files: readonly string[];
  readonly totp_secret_file: string; // absolute
  readonly roles: readonly string[];
  readonly default_target: string | undefined;
  /** The drill user (`drill.user`): every session is marked as a fire drill. */
  readonly drill: boolean;
}

/** The validated, resolved and frozen configuration. Paths are absolute. */
export type Config = Readonly<
  Omit<RawConfig, 'users' | 'host_keys' | 'targets'> & {
    /** The file it came from, as given (for messages). */
    file: string;
    host_keys: readonly { path: string; pem: Buffer }[];
    targets: Readonly<Record<string, ResolvedTarget>>;
    users: Readonly<Record<string, UserConfig>>;
    /** Bearer tokens for POST /api/grants (empty: the grant API is off). */
    grant_tokens: readonly Secret[];
    /** Alert webhooks, their signing secrets read. */
    alert_webhooks: readonly { name: string; url: string; format: 'generic' | 'slack'; secret?: Secret }[];
    /** Signs recording manifests; its public key and `verify_keys` are trusted when verifying. */
    recording_key: KeyObject;
    recording_trusted_keys: readonly KeyObject[];
    storage_secret?: Secret;
  }
>;

/** Reads, validates and resolves a config file. Throws BastionError('CONFIG_INVALID') listing every problem. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BastionError('CONFIG_NOT_FOUND', `${file}: cannot read config: ${describeError(err)}`, { cause: err });
  }
  return parseConfig(text, file);
}

/** Validates config text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string): Config {
  const label = displayName(file);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `${label}: YAML: ${e.message.split('\n')[0]}`);
    throw new BastionError('CONFIG_INVALID', lines.join('\n'));
  }
  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${label}: ${formatPath(i.path) || '(top level)'}: ${i.message}`);
    throw new BastionError('CONFIG_INVALID', lines.join('\n'));
  }
  return resolveConfig(parsed.data, file, label);
}

function resolveConfig(raw: RawConfig, file: string, label: string): Config {
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const errors: string[] = [];
  const fail = (path: string, message: string) => errors.push(`${label}: ${path}: ${message}`);

  const host_keys = raw.host_keys.flatMap((p, i) => {
    const path = abs(p);
    const pem = readOrFail(path, `host_keys[${i}]`, fail);
    if (!pem) return [];
    const check = checkPrivateKey(pem);
    if (!check.ok) {
      fail(`host_keys[${i}]`, `${path}: not a usable private host key: ${check.message}`);
      return [];
    }
    return [{ path, pem }];
  });

  const data_dir = abs(raw.data_dir);
  const secretsDir = abs(raw.auth.totp.secrets_dir ?? resolve(data_dir, 'totp'));

  for (const [roleName, role] of Object.entries(raw.roles)) {
    for (const tier of ['standing', 'break_glass'] as const) {
      role[tier].forEach((t, i) => {
        if (!raw.targets[t]) fail(`roles.${roleName}.${tier}[${i}]`, `unknown target "${t}" (known: ${known(raw.targets)})`);
      });
    }
  }

  const users: Record<string, UserConfig> = {};
  for (const [userName, u] of Object.entries(raw.users)) {
    const keys: AuthorizedKey[] = [];
    const keyFiles: string[] = [];
    u.keys.forEach((entry, i) => {
      const where = `users.${userName}.keys[${i}]`;
      let text: string;
      if (looksLikeKeyLine(entry)) text = entry;
      else {
        const buf = readOrFail(abs(entry), where, fail);
        if (!buf) return;
        keyFiles.push(abs(entry));
        text = buf.toString('utf8');
      }
      const res = parseAuthorizedKeys(text);
      if (!res.ok) fail(where, `line ${res.line}: ${res.message}`);
      else if (res.keys.length === 0) fail(where, 'no public key found');
      else keys.push(...res.keys);
    });
    u.roles.forEach((r, i) => {
      if (!raw.roles[r]) fail(`users.${userName}.roles[${i}]`, `unknown role "${r}" (known: ${known(raw.roles)})`);
    });
    if (u.default_target !== undefined && !raw.targets[u.default_target]) {
      fail(`users.${userName}.default_target`, `unknown target "${u.default_target}" (known: ${known(raw.targets)})`);
    }
    users[userName] = Object.freeze({
      name: userName,
      keys: Object.freeze(keys),
      key_files: Object.freeze(keyFiles),
      totp_secret_file: u.totp_secret_file ? abs(u.totp_secret_file) : resolve(secretsDir, `${userName}.totp`),
      roles: Object.freeze([...u.roles]),
      default_target: u.default_target,
      drill: raw.drill?.user === userName,
    });
  }

  const targets: Record<string, ResolvedTarget> = {};
  for (const [name, t] of Object.entries(raw.targets)) {
    const resolved = resolveTarget(name, t, abs, fail);
    if (resolved) targets[name] = resolved;
  }

  const grantTokens: Secret[] = [];
  if (raw.http.grant_token_file !== undefined) {
    const path = abs(raw.http.grant_token_file);
    const buf = readOrFail(path, 'http.grant_token_file', fail);
    const tokens = buf ? buf.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : [];
    if (buf && tokens.some((t) => t.length < 24)) fail('http.grant_token_file', `${path}: tokens must be at least 24 characters`);
    else if (buf && tokens.length === 0) fail('http.grant_token_file', `${path}: no token in the file`);
    grantTokens.push(...tokens.map((t) => new Secret(t)));
  }

  let recordingKey: KeyObject | undefined;
  const trusted: KeyObject[] = [];
  {
    const path = abs(raw.recording.signing_key);
    const pem = readOrFail(path, 'recording.signing_key', fail);
    if (pem) {
      try {
        recordingKey = loadSigningKey(pem.toString('utf8'));
        trusted.push(createPublicKey(recordingKey));
      } catch (err) {
        fail('recording.signing_key', `${path}: ${describeError(err)} (create one with: bastion keys init DIR)`);
      }
    }
    raw.recording.verify_keys.forEach((p, i) => {
      const buf = readOrFail(abs(p), `recording.verify_keys[${i}]`, fail);
      if (!buf) return;
      try {
        trusted.push(createPublicKey(buf.toString('utf8')));
      } catch (err) {
        fail(`recording.verify_keys[${i}]`, `${abs(p)}: not a public key: ${describeError(err)}`);
      }
    });
  }
  let storageSecret: Secret | undefined;
  if (raw.storage.secret_access_key_file !== undefined) {
    const buf = readOrFail(abs(raw.storage.secret_access_key_file), 'storage.secret_access_key_file', fail);
    if (buf) storageSecret = new Secret(buf.toString('utf8').trim());
  }
  if ((raw.storage.access_key_id === undefined) !== (raw.storage.secret_access_key_file === undefined)) {
    fail('storage.access_key_id', 'give both access_key_id and secret_access_key_file, or neither (the AWS default credential chain)');
  }
  if (raw.storage.sse === 'aws:kms' && raw.storage.kms_key_id === undefined) fail('storage.kms_key_id', 'required with sse: aws:kms');

  const webhooks = raw.alerts.webhooks.map((h, i) => {
    const buf = h.secret_file !== undefined ? readOrFail(abs(h.secret_file), `alerts.webhooks[${i}].secret_file`, fail) : undefined;
    return { name: h.name, url: h.url, format: h.format, ...(buf ? { secret: new Secret(buf.toString('utf8').trim()) } : {}) };
  });

  const drill = raw.drill ? resolveDrill(raw, abs, fail) : undefined;
  if (raw.http.demo_alert_receiver && !['127.0.0.1', '::1', 'localhost'].includes(raw.http.host)) {
    fail('http.demo_alert_receiver', `a demo feature: anyone who can reach the port could post alerts, so it runs only with http.host on loopback (not "${raw.http.host}")`);
  }

  if (errors.length > 0 || !recordingKey) throw new BastionError('CONFIG_INVALID', errors.join('\n'));
  return deepFreeze({
    ...raw,
    file,
    data_dir,
    host_keys,
    targets,
    auth: { ...raw.auth, totp: { ...raw.auth.totp, secrets_dir: secretsDir } },
    users,
    grant_tokens: grantTokens,
    alert_webhooks: webhooks,
    recording_key: recordingKey,
    recording_trusted_keys: trusted,
    ...(storageSecret ? { storage_secret: storageSecret } : {}),
    ...(drill ? { drill } : {}),
    storage: {
      ...raw.storage,
      ...(raw.storage.embedded ? { embedded: { ...raw.storage.embedded, dir: abs(raw.storage.embedded.dir ?? resolve(data_dir, 's3')) } } : {}),
    },
  });
}

/** The drill must be a real break-glass path: a known user whose roles give the target as break-glass. */
function resolveDrill(raw: RawConfig, abs: (p: string) => string, fail: (p: string, m: string) => void): NonNullable<RawConfig['drill']> {
  const d = raw.drill!;
  const user = raw.users[d.user];
  if (!user) fail('drill.user', `unknown user "${d.user}" (known: ${known(raw.users)}); the drill needs a dedicated user`);
  else if (!user.roles.some((r) => raw.roles[r]?.break_glass.includes(d.target))) {
    fail('drill.target', `"${d.target}" is not a break-glass target of ${d.user} (a drill rehearses break-glass: give the user a role with break_glass: [${d.target}])`);
  }
  const ticket = d.ticket ?? raw.auth.justification.ticket_example;
  if (!new RegExp(raw.auth.justification.ticket_pattern).test(ticket)) fail('drill.ticket', `"${ticket}" does not match auth.justification.ticket_pattern`);
  return { ...d, ticket, private_key_file: abs(d.private_key_file) };
}

function readOrFail(path: string, where: string, fail: (p: string, m: string) => void): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(where, code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${describeError(err)}`);
    return undefined;
  }
}

function known(rec: Record<string, unknown>): string {
  const names = Object.keys(rec);
  return names.length > 0 ? names.join(', ') : 'none';
}

/** users.alice.keys[0] style, as in the config file. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, seg) => {
    if (typeof seg === 'number') return `${acc}[${seg}]`;
    return acc === '' ? String(seg) : `${acc}.${String(seg)}`;
  }, '');
}

function displayName(file: string): string {
  const rel = relative(process.cwd(), resolve(file));
  return rel.startsWith('..') ? file : rel || basename(file);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof KeyObjectClass) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
