import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ssh2 from 'ssh2';
import { generateSecret } from 'otplib';
import { stringify } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/src/cli.js');

export interface TestUser {
  name: string;
  privateKeyPath: string;
  publicKeyPath: string;
  secret: string;
}

export interface TestBastion {
  dir: string;
  configPath: string;
  dataDir: string;
  port: number;
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
  /** Extra/overriding top-level config (merged shallowly; auth merged one level deeper). */
  config?: Record<string, unknown>;
  auth?: Record<string, unknown>;
}

/** Writes a config with fresh keys and secrets for each user, then runs the built CLI as a user would. */
export async function startTestBastion(opts: BastionOptions): Promise<TestBastion> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-test-'));
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  const host = ssh2.utils.generateKeyPairSync('ed25519');
  writeFileSync(join(keysDir, 'host_key'), host.private, { mode: 0o600 });
  const users: Record<string, TestUser> = {};
  const usersCfg: Record<string, unknown> = {};
  for (const name of opts.users) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `${name}@test` });
    const privateKeyPath = join(keysDir, `${name}_ed25519`);
    writeFileSync(privateKeyPath, pair.private, { mode: 0o600 });
    writeFileSync(`${privateKeyPath}.pub`, pair.public + '\n');
    const secret = generateSecret({ length: 20 });
    writeFileSync(join(keysDir, `${name}.totp`), secret + '\n', { mode: 0o600 });
    users[name] = { name, privateKeyPath, publicKeyPath: `${privateKeyPath}.pub`, secret };
    usersCfg[name] = { keys: [`keys/${name}_ed25519.pub`], totp_secret_file: `keys/${name}.totp`, roles: ['oncall'], default_target: 'shell' };
  }
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    host_keys: ['keys/host_key'],
    data_dir: './data',
    log_level: 'info',
    shutdown_grace: '5s',
    ...(opts.config ?? {}),
    auth: { lockout: { max_failures: 3, window: '15m', duration: '15m' }, ...(opts.auth ?? {}) },
    targets: { shell: { type: 'local', shell: '/bin/bash' }, other: { type: 'local', shell: '/bin/sh' } },
    roles: { oncall: { standing: ['shell'] } },
    users: usersCfg,
  };
  const configPath = join(dir, 'bastion.yaml');
  writeFileSync(configPath, stringify(config));
  chmodSync(dir, 0o700);

  const proc = spawn(process.execPath, [CLI, 'serve', '--config', configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`bastion did not start:\n${out}\n${err}`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"ssh listening"/.test(out) ? /"port":(\d+)/.exec(out) : null;
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
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${host.public}\n`);

  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    dir,
    configPath,
    dataDir: join(dir, 'data'),
    port,
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
