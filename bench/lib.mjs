// Shared set-up for benchmarks: a bastion config in a temp dir with N users, and the real ssh client.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret, generate } from 'otplib';
import { stringify } from 'yaml';
import { ed25519KeyPair, generateEd25519 } from '../dist/src/auth/keygen.js';

export function writeBenchConfig(nUsers, extra = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'));
  mkdirSync(join(dir, 'keys'));
  const host = generateEd25519('bench host');
  writeFileSync(join(dir, 'keys/host'), host.private, { mode: 0o600 });
  const rec = ed25519KeyPair();
  writeFileSync(join(dir, 'keys/rec.pem'), rec.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const users = {};
  const cfgUsers = {};
  for (let i = 0; i < nUsers; i++) {
    const name = `u${i}`;
    const pair = generateEd25519(name);
    writeFileSync(join(dir, `keys/${name}`), pair.private, { mode: 0o600 });
    writeFileSync(join(dir, `keys/${name}.pub`), pair.public + '\n');
    const secret = generateSecret({ length: 20 });
    writeFileSync(join(dir, `keys/${name}.totp`), secret + '\n', { mode: 0o600 });
    users[name] = { name, key: join(dir, `keys/${name}`), secret, steps: 0 };
    cfgUsers[name] = { keys: [`keys/${name}.pub`], totp_secret_file: `keys/${name}.totp`, roles: ['oncall'], default_target: 'shell' };
  }
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    host_keys: ['keys/host'],
    data_dir: './data',
    log_level: 'warn',
    recording: { signing_key: 'keys/rec.pem' },
    storage: { embedded: { port: 0 } },
    http: { port: 0 },
    auth: { rate_limit: { connections_per_minute: 100000, max_pending_per_ip: 10000 }, lockout: { max_failures: 100 } },
    session: { max_sessions_per_user: 1000 },
    targets: { shell: { type: 'local', shell: '/bin/bash', allow_bastion_user: true } },
    roles: { oncall: { standing: ['shell'] } },
    users: cfgUsers,
    ...extra,
  };
  writeFileSync(join(dir, 'bastion.yaml'), stringify(config));
  return { dir, configPath: join(dir, 'bastion.yaml'), users, hostPublic: host.public };
}

/** The current code for a user. Codes are single-use, so a benchmark logs each user in once. */
export async function nextCode(user) {
  if (user.steps > 0) throw new Error(`user ${user.name} has logged in already; benchmarks use a fresh user per login`);
  user.steps += 1;
  return generate({ secret: user.secret, epoch: Math.floor(Date.now() / 1000) });
}

export function askpass(dir, code) {
  const script = join(dir, `askpass-${code}.sh`);
  writeFileSync(
    script,
    `#!/bin/sh\ncase "$1" in *ode*) echo ${code};; *icket*) echo INC-1;; *eason*) echo "benchmark run measuring recording cost";; *) echo;; esac\n`,
    { mode: 0o700 },
  );
  return { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
}

export function sshArgs(cfg, port, user, knownHosts) {
  return ['-F', '/dev/null', '-p', String(port), '-i', user.key, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', `${user.name}@127.0.0.1`];
}

/** Runs ssh and counts stdout bytes; resolves { ms, bytes, code }. */
export function timedSsh(args, env) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('ssh', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (d) => (bytes += d.length));
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes, code }));
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The node options a bastion runs with (dist/src/node-flags.js of CHECKOUT, the one being measured
 * by default), as `bastion` and `npm start` start it; none with BENCH_NO_NODE_FLAGS=1 (to measure
 * what they change). BENCH_NODE_FLAGS adds more.
 */
export async function bastionNodeFlags(checkout = new URL('..', import.meta.url).pathname, extra = process.env.BENCH_NODE_FLAGS) {
  let base = [];
  if (!process.env.BENCH_NO_NODE_FLAGS) {
    try {
      base = [...(await import(join(checkout, 'dist/src/node-flags.js'))).NODE_FLAGS];
    } catch {
      // an older checkout (BENCH_OTHER) without them
    }
  }
  return [...base, ...(extra ? extra.split(' ') : [])];
}
