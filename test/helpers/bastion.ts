import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ed25519KeyPair, generateEd25519 } from '../../src/auth/keygen.js';
import { generateSecret } from 'otplib';
import { stringify } from 'yaml';
import { NODE_FLAGS } from '../../src/node-flags.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/src/cli.js');

export interface TestUser {
  name: string;
  privateKeyPath: string;
  publicKeyPath: string;
  secret: string;
}

export interface TestBastion extends TestConfig {
  dir: string;
  configPath: string;
  dataDir: string;
  port: number;
  /** The grants API port, when the config enables it. */
  httpPort?: number;
  /** The embedded S3 endpoint (http://127.0.0.1:PORT). */
  s3Endpoint?: string;
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  users: Record<string, TestUser>;
  knownHosts: string;
  /** SIGTERM and wait for exit; resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): void;
}

export interface BastionOptions {
  users: string[];
  /** Extra targets, merged over the default `shell` and `other` local targets. */
  targets?: Record<string, unknown>;
  /** Roles; default: oncall with standing access to shell. */
  roles?: Record<string, unknown>;
  /** Per-user overrides of the generated user config (roles, default_target). */
  userConfig?: Record<string, Record<string, unknown>>;
  /** Enables the grants API on a free port with this bearer token. */
  grantToken?: string;
  /** Extra/overriding top-level config (merged shallowly; auth merged one level deeper). */
  config?: Record<string, unknown>;
  auth?: Record<string, unknown>;
}

export interface TestConfig {
  dir: string;
  configPath: string;
  users: Record<string, TestUser>;
  /** The host key's public line, for a known_hosts file. */
  hostPublic: string;
}

/** Writes a config with fresh host key, user keys and TOTP secrets in a temp dir. */
export function writeTestConfig(opts: BastionOptions): TestConfig {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-test-'));
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  const host = generateEd25519('test host key');
  writeFileSync(join(keysDir, 'host_key'), host.private, { mode: 0o600 });
  const users: Record<string, TestUser> = {};
  const usersCfg: Record<string, unknown> = {};
  for (const name of opts.users) {
    const pair = generateEd25519(`${name}@test`);
    const privateKeyPath = join(keysDir, `${name}_ed25519`);
    writeFileSync(privateKeyPath, pair.private, { mode: 0o600 });
    writeFileSync(`${privateKeyPath}.pub`, pair.public + '\n');
    const secret = generateSecret({ length: 20 });
    writeFileSync(join(keysDir, `${name}.totp`), secret + '\n', { mode: 0o600 });
    users[name] = { name, privateKeyPath, publicKeyPath: `${privateKeyPath}.pub`, secret };
    usersCfg[name] = { keys: [`keys/${name}_ed25519.pub`], totp_secret_file: `keys/${name}.totp`, roles: ['oncall'], default_target: 'shell', ...(opts.userConfig?.[name] ?? {}) };
  }
  if (opts.grantToken) writeFileSync(join(keysDir, 'grant.token'), opts.grantToken + '\n', { mode: 0o600 });
  const recordingKey = ed25519KeyPair();
  writeFileSync(join(keysDir, 'recording.pem'), recordingKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(keysDir, 'recording.pub.pem'), recordingKey.publicKey.export({ type: 'spki', format: 'pem' }));
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0, ...(opts.grantToken ? { grant_token_file: 'keys/grant.token' } : {}) },
    host_keys: ['keys/host_key'],
    data_dir: './data',
    log_level: 'info',
    shutdown_grace: '5s',
    recording: { signing_key: 'keys/recording.pem' },
    storage: { embedded: { port: 0 } },
    ...(opts.config ?? {}),
    auth: { lockout: { max_failures: 3, window: '15m', duration: '15m' }, ...(opts.auth ?? {}) },
    targets: demoTargets({ shell: { type: 'local', shell: '/bin/bash' }, other: { type: 'local', shell: '/bin/sh' }, ...(opts.targets ?? {}) }),
    roles: opts.roles ?? { oncall: { standing: ['shell'] } },
    users: usersCfg,
  };
  const configPath = join(dir, 'bastion.yaml');
  writeFileSync(configPath, stringify(config));
  chmodSync(dir, 0o700);
  return { dir, configPath, users, hostPublic: host.public };
}

/** Writes a test config, then runs the built CLI as a user would and waits until it listens. */
export async function startTestBastion(opts: BastionOptions): Promise<TestBastion> {
  return runTestBastion(writeTestConfig(opts));
}

/**
 * Runs the built CLI on an existing test config (also to restart one after kill -9); `wrap` is a
 * command that runs it (e.g. `prlimit --fsize=N`); `cli` is how the CLI is started (by default
 * as `npm start` starts it: node with the bastion's node options).
 */
export async function runTestBastion(cfg: TestConfig, wrap: string[] = [], cli: string[] = [process.execPath, ...NODE_FLAGS, CLI]): Promise<TestBastion> {
  const { dir, configPath, users, hostPublic } = cfg;
  const [command, ...args] = [...wrap, ...cli, 'serve', '--config', configPath];
  const proc = spawn(command!, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`bastion did not start:\n${out}\n${err}`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+),[^\n]*"msg":"ssh listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bastion exited with ${code}:\n${out}\n${err}`));
    });
  });
  const httpMatch = /"port":(\d+),[^\n]*"msg":"http api listening"/.exec(out);
  const httpPort = httpMatch ? Number(httpMatch[1]) : undefined;
  const s3Match = /"endpoint":"(http:\/\/[^"]+)"[^\n]*"msg":"embedded s3 listening"/.exec(out);
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPublic}\n`);

  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    ...cfg,
    dataDir: join(dir, 'data'),
    port,
    ...(httpPort !== undefined ? { httpPort } : {}),
    ...(s3Match ? { s3Endpoint: s3Match[1]! } : {}),
    proc,
    stdout: () => out,
    stderr: () => err,
    users,
    knownHosts,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    cleanup() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      // A process just killed (and its embedded S3 process, which ends once it sees the bastion
      // gone) may still add a file while the directory is removed: ENOTEMPTY, tried again.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

/** Test targets run as the test's own user, which the config must allow explicitly (as the demo does). */
function demoTargets(targets: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(targets).map(([name, t]) => {
      const target = t as Record<string, unknown>;
      return [name, target.type === 'local' && target.run_as === undefined ? { allow_bastion_user: true, ...target } : target];
    }),
  );
}
