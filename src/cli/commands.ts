import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519KeyPair, generateEd25519 } from '../auth/keygen.js';
import { generateSecret, generateURI } from 'otplib';
import QRCode from 'qrcode';
import { loadConfig } from '../config/load.js';
import { BastionError, describeError } from '../errors.js';
import { createLogger } from '../log.js';
import { startBastion } from '../main.js';
import { missingNodeFlags } from '../node-flags.js';
import { verifyAuditLog } from '../audit/verify.js';
import { banner } from './banner.js';
import { writeSecretFile } from './files.js';
import { userInfo } from 'node:os';
import { FileKvStore } from '../state/file-kv-store.js';
import { KvGrantStore, buildGrant, isActive, type Grant } from '../policy/grants.js';

/** `bastion serve`: run until SIGTERM/SIGINT, then drain. */
export async function serve(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const log = createLogger({ level: config.log_level });
  const missing = missingNodeFlags();
  if (missing.length) log.warn({ missing }, 'node was started without the options the bastion runs with (as `bastion` and `npm start` start it): a flood of output costs 40-80 % more CPU per MB (docs/benchmarks.md)');
  const bastion = await startBastion(config, log);
  process.stdout.write('\n' + banner(config, bastion.ssh.host, bastion.ssh.port) + '\n');
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: ending every session and exiting now');
      bastion.registry.terminateAll('The bastion is stopping now; this session is closed.', 'bastion stopped');
      setTimeout(() => process.exit(1), 200);
      return;
    }
    bastion.stop(sig).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: describeError(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** `bastion totp enroll USER`: new secret, stored 0600 where the config says; prints URI and QR code. */
export async function totpEnroll(configFile: string, user: string, force: boolean): Promise<void> {
  const config = loadConfig(configFile);
  const u = config.users[user];
  if (!u) throw new BastionError('USER_UNKNOWN', `no user "${user}" in ${configFile} (users: ${Object.keys(config.users).join(', ')})`);
  const secret = generateSecret({ length: 20 });
  writeSecretFile(u.totp_secret_file, secret + '\n', force);
  const uri = generateURI({ issuer: config.auth.totp.issuer, label: user, secret });
  const qr = await QRCode.toString(uri, { type: 'terminal', small: true });
  process.stdout.write(
    [
      `TOTP secret for ${user} written to ${u.totp_secret_file} (mode 0600).`,
      'Scan this with the authenticator app, or enter the URI by hand:',
      '',
      qr,
      uri,
      '',
      'Hand this to the user over a trusted channel only; it is shown once.',
      '',
    ].join('\n'),
  );
}

/** `bastion audit verify`: exit 0 when the chain holds, 1 naming the first bad line. */
export async function auditVerify(configFile: string, file?: string): Promise<number> {
  const path = file ?? join(loadConfig(configFile).data_dir, 'audit', 'audit.jsonl');
  let result;
  try {
    result = await verifyAuditLog(path);
  } catch (err) {
    throw new BastionError('AUDIT_IO', `cannot read audit log ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (result.ok) {
    process.stdout.write(`OK: ${path}: ${result.lines} lines, hash chain intact\n`);
    // The chain proves order and integrity inside the file; compare this anchor with a copy kept
    // elsewhere to also detect lines cut off the end or a rewritten file.
    process.stdout.write(`last line: seq ${result.lines}, sha256 ${result.lastHash}\n`);
    return 0;
  }
  process.stdout.write(`FAILED: ${path}: line ${result.line}: ${result.reason}\n`);
  return 1;
}

/** `bastion keys init DIR`: a new Ed25519 host key (0600) and its .pub. */
export function keysInit(dir: string, force: boolean): void {
  const path = join(dir, 'ssh_host_ed25519_key');
  const pair = generateEd25519('bastion host key');
  writeSecretFile(path, pair.private, force);
  writeFileSync(`${path}.pub`, pair.public + '\n', { mode: 0o644 });
  const rec = ed25519KeyPair();
  const recPath = join(dir, 'recording_ed25519.pem');
  writeSecretFile(recPath, rec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), force);
  writeFileSync(join(dir, 'recording_ed25519.pub.pem'), rec.publicKey.export({ type: 'spki', format: 'pem' }).toString(), { mode: 0o644 });
  process.stdout.write(
    `Host key written to ${path} (0600) and ${path}.pub\n` +
      `Recording signing key written to ${recPath} (0600) and ${join(dir, 'recording_ed25519.pub.pem')}\n` +
      'Point host_keys and recording.signing_key in your config at them; give reviewers the .pub.pem.\n',
  );
}

/** The grant store of a config's data dir (shared with a running bastion, which audits what it finds). */
function grantStoreFor(configFile: string) {
  const config = loadConfig(configFile);
  return { config, store: new KvGrantStore(new FileKvStore<Grant>(join(config.data_dir, 'state', 'grants.json'))) };
}

/** `bastion grant USER --target T --ttl 2h --ticket INC-42 --reason "..."`. */
export async function grantCreate(configFile: string, user: string, o: { target?: string; ttl?: string; ticket?: string; reason?: string; by?: string }): Promise<number> {
  const { config, store } = grantStoreFor(configFile);
  const by = `cli:${o.by ?? userInfo().username}`;
  const built = buildGrant({ user, target: o.target, ttl: o.ttl, ticket: o.ticket, reason: o.reason }, config, by, Date.now());
  if (!built.ok) {
    process.stderr.write(`bastion: grant refused: ${built.field}: ${built.message}\n`);
    return 1;
  }
  await store.add(built.grant);
  const g = built.grant;
  process.stdout.write(`Granted ${g.user} access to ${g.target} until ${new Date(g.expires_at).toISOString()} (id ${g.id}, ${g.ticket}).\n`);
  return 0;
}

export async function grantList(configFile: string, all: boolean): Promise<number> {
  const { store } = grantStoreFor(configFile);
  const now = Date.now();
  const rows = (await store.list()).filter((g) => all || isActive(g, now));
  if (rows.length === 0) {
    process.stdout.write(all ? 'No grants.\n' : 'No active grants (--all shows expired and revoked ones).\n');
    return 0;
  }
  for (const g of rows) {
    const state = g.revoked_at !== undefined ? `revoked by ${g.revoked_by}` : g.expires_at <= now ? 'expired' : `until ${new Date(g.expires_at).toISOString()}`;
    process.stdout.write(`${g.id}  ${g.user} -> ${g.target}  ${state}  ${g.ticket}  ${JSON.stringify(g.reason)}  by ${g.created_by}\n`);
  }
  return 0;
}

export async function grantRevoke(configFile: string, id: string, by?: string): Promise<number> {
  const { store } = grantStoreFor(configFile);
  const g = await store.revoke(id, `cli:${by ?? userInfo().username}`, Date.now());
  if (!g) {
    process.stderr.write(`bastion: no grant ${id} (see bastion grant list --all)\n`);
    return 1;
  }
  process.stdout.write(`Revoked ${g.id} (${g.user} -> ${g.target}); a running bastion closes its sessions within a second.\n`);
  return 0;
}
