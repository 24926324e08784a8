// The peers the suite compares, all on loopback in temp dirs:
//   bastion-local  the built bastion (recording on, embedded S3), local-shell target
//   bastion-ssh    the same bastion, ssh target = the Debian sshd below
//   sshd           Debian OpenSSH sshd reached directly (the baseline, unrecorded)
//   sshd-J         the same sshd reached through `ssh -J` via a second sshd (the jump host)
//   sshd-tlog      a second sshd whose sessions run under tlog-rec-session (optional)
//   bastion-unrec  with --diagnose: a second bastion without a recorder, local-shell target
//   bastion-unrec-ssh  with --diagnose: that bastion's ssh target (keystrokes only)
//   ssh2-bare      with --diagnose: bench/bare-relay.mjs, a bare ssh2 + node-pty relay (the floor), with the bastion's node options
//   ssh2-bare-ssh  with --diagnose: the same relay to the sshd above through an ssh2 client (keystrokes only)
// Each peer has open(command, { tty }) -> { args, env } for the OpenSSH client: bastion peers use
// a fresh bastion user per login (TOTP codes are single-use per user and 30 s step) and answer
// the TOTP / ticket / reason prompts with an SSH_ASKPASS script.
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { writeBenchConfig, nextCode, askpass, bastionNodeFlags } from '../lib.mjs';
import { startSshd, makeClientKey, tlogProblem } from './sshd.mjs';

const SERVE = new URL('../serve.mjs', import.meta.url).pathname;
/** sshd logs in as whoever runs the suite (root on the CI machine). */
const me = userInfo().username;

/** Starts everything. Returns { peers, notes, stop(), bastion, sshd }. */
export async function startPeers(dir, { users, tlog, prof, unrecorded = false }) {
  const notes = [];
  const client = makeClientKey(dir);
  const sshd = await startSshd(dir, 'sshd', client.pub);
  // A second sshd as the jump host: ssh refuses a jump host that is also the destination.
  const jump = await startSshd(dir, 'sshd-jump', client.pub);
  let tlogSshd = null;
  if (tlog) {
    const problem = tlogProblem();
    if (problem) notes.push(`sshd-tlog skipped: ${problem}`);
    else tlogSshd = await startSshd(dir, 'sshd-tlog', client.pub, { tlog: true });
  } else notes.push('sshd-tlog skipped (--quick or --no-tlog)');

  const knownHosts = join(dir, 'known_hosts');
  const hostLines = [sshd, jump, tlogSshd].filter(Boolean).map((s) => `[127.0.0.1]:${s.port} ${s.hostKeyLine}`);
  writeFileSync(knownHosts, hostLines.join('\n') + '\n');
  // A client config file, not -i/-o flags: `ssh -J` passes only -F to the jump connection.
  const clientConfig = join(dir, 'ssh_config');
  writeFileSync(clientConfig, [
    'Host *',
    `  IdentityFile ${client.key}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${knownHosts}`,
    '  StrictHostKeyChecking yes',
    '  LogLevel ERROR',
    '  ControlMaster no',
    '',
  ].join('\n'));

  const targetsAndRoles = {
    targets: {
      shell: { type: 'local', shell: '/bin/bash', allow_bastion_user: true },
      up: { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: me, private_key_file: client.key, host_key: sshd.hostKeyLine },
    },
    roles: { oncall: { standing: ['shell', 'up'] } },
  };
  const cfg = writeBenchConfig(users, targetsAndRoles);
  const bastion = await startBastion(cfg, prof);
  writeFileSync(cfg.knownHosts, `[127.0.0.1]:${bastion.port} ${cfg.hostPublic}\n`);
  // Diagnosis only (--diagnose): the same bastion without a recorder (bench/serve.mjs --unrecorded),
  // to tell what the relay costs from what recording costs.
  let bare = null;
  let bareCfg = null;
  if (unrecorded) {
    bareCfg = writeBenchConfig(users, targetsAndRoles);
    bare = await startBastion(bareCfg, undefined, ['--unrecorded']);
    writeFileSync(bareCfg.knownHosts, `[127.0.0.1]:${bare.port} ${bareCfg.hostPublic}\n`);
  }

  const direct = (extra) => (command, { tty, port }) => ({
    args: ['-F', clientConfig, ...(tty ? ['-tt'] : ['-T']), ...extra(port), `${me}@127.0.0.1`, ...(command ? [command] : [])],
    env: {},
  });
  const next = new Map();
  const viaBastion = (target, b = bastion, c = cfg) => async (command, { tty, port = b.port }) => {
    const n = next.get(c) ?? 0;
    next.set(c, n + 1);
    const user = c.users[`u${n}`];
    if (!user) throw new Error(`the bench config has only ${users} bastion users; raise it`);
    return {
      args: [
        '-F', '/dev/null', ...(tty ? ['-tt'] : ['-T']), '-p', String(port), '-i', user.key,
        '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${c.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR',
        `${user.name}:${target}@127.0.0.1`, ...(command ? [command] : []),
      ],
      env: askpass(cfg.dir, await nextCode(user)),
      user: user.name,
    };
  };

  // entry: where the client connects first (a login-time proxy is put in front of it), with the
  // host key it presents and the known_hosts file the client checks it in.
  const bastionEntry = { port: bastion.port, hostKeyLine: cfg.hostPublic.split(' ').slice(0, 2).join(' '), knownHosts: cfg.knownHosts };
  const entryOf = (s) => ({ port: s.port, hostKeyLine: s.hostKeyLine, knownHosts });
  const peers = [
    { name: 'bastion-local', kind: 'bastion', recorded: true, pid: bastion.pid, entry: bastionEntry, open: viaBastion('shell') },
    { name: 'bastion-ssh', kind: 'bastion', recorded: true, pid: bastion.pid, entry: bastionEntry, open: viaBastion('up') },
    { name: 'sshd', kind: 'sshd', recorded: false, entry: entryOf(sshd), open: direct((port = sshd.port) => ['-p', String(port)]) },
    { name: 'sshd-J', kind: 'sshd', recorded: false, entry: entryOf(jump), open: direct((port = jump.port) => ['-J', `${me}@127.0.0.1:${port}`, '-p', String(sshd.port)]) },
  ];
  if (bare) {
    const entry = { port: bare.port, hostKeyLine: bareCfg.hostPublic.split(' ').slice(0, 2).join(' '), knownHosts: bareCfg.knownHosts };
    peers.splice(1, 0, { name: 'bastion-unrec', kind: 'bastion', recorded: false, pid: bare.pid, entry, open: viaBastion('shell', bare, bareCfg) });
    peers.push({ name: 'bastion-unrec-ssh', kind: 'bastion', recorded: false, keystrokeOnly: true, pid: bare.pid, entry, open: viaBastion('up', bare, bareCfg) });
  }
  // A/B of a change (BENCH_OTHER=/other/checkout, built): that checkout's bastion, recording on, local target.
  let other = null;
  let otherCfg = null;
  if (process.env.BENCH_OTHER) {
    otherCfg = writeBenchConfig(users, targetsAndRoles);
    other = await startBastion(otherCfg, undefined, [], join(process.env.BENCH_OTHER, 'bench/serve.mjs'), await bastionNodeFlags(process.env.BENCH_OTHER, process.env.BENCH_OTHER_NODE_FLAGS ?? process.env.BENCH_NODE_FLAGS));
    writeFileSync(otherCfg.knownHosts, `[127.0.0.1]:${other.port} ${otherCfg.hostPublic}\n`);
    const entry = { port: other.port, hostKeyLine: otherCfg.hostPublic.split(' ').slice(0, 2).join(' '), knownHosts: otherCfg.knownHosts };
    peers.splice(1, 0, { name: 'bastion-other', kind: 'bastion', recorded: true, pid: other.pid, entry, open: viaBastion('shell', other, otherCfg) });
  }
  // Diagnosis only: bench/bare-relay.mjs, a bare ssh2 + node-pty relay (the platform's floor).
  let relay = null;
  if (unrecorded) {
    relay = await startRelay(join(cfg.dir, 'keys/host'), { host: '127.0.0.1', port: sshd.port, username: me, keyFile: client.key });
    const relayKnown = join(dir, 'known_hosts_relay');
    writeFileSync(relayKnown, `[127.0.0.1]:${relay.port} ${cfg.hostPublic}\n`);
    const entry = { port: relay.port, hostKeyLine: cfg.hostPublic.split(' ').slice(0, 2).join(' '), knownHosts: relayKnown };
    const bareRelay = (name, user, keystrokeOnly = false) => ({
      name, kind: 'relay', recorded: false, keystrokeOnly, pid: relay.pid, entry,
      open: (command, { tty, port = relay.port }) => ({
        args: ['-F', '/dev/null', ...(tty ? ['-tt'] : ['-T']), '-p', String(port), '-i', client.key, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${relayKnown}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR', `${user}@127.0.0.1`, ...(command ? [command] : [])],
        env: {},
      }),
    });
    // ssh2-bare-ssh: the same relay to the sshd above through an ssh2 client (user `up`), the shape of bastion-ssh.
    peers.push(bareRelay('ssh2-bare', me), bareRelay('ssh2-bare-ssh', 'up', true));
  }
  if (tlogSshd) peers.push({ name: 'sshd-tlog', kind: 'sshd', recorded: true, entry: entryOf(tlogSshd), open: direct((port = tlogSshd.port) => ['-p', String(port)]) });

  return {
    peers,
    notes,
    bastion,
    cfg,
    sshd,
    tlogSshd,
    async stop() {
      await bastion.stop();
      if (bare) await bare.stop();
      if (bareCfg) rmSync(bareCfg.dir, { recursive: true, force: true });
      if (other) await other.stop();
      relay?.stop();
      if (otherCfg) rmSync(otherCfg.dir, { recursive: true, force: true });
      await sshd.stop();
      await jump.stop();
      if (tlogSshd) await tlogSshd.stop();
    },
  };
}

/** bench/bare-relay.mjs in its own process, with the node options the bastion runs with (a fair baseline). */
async function startRelay(hostKeyFile, upstream) {
  const nodeFlags = await bastionNodeFlags(undefined, '');
  const proc = spawn(process.execPath, [...nodeFlags, new URL('../bare-relay.mjs', import.meta.url).pathname, hostKeyFile, JSON.stringify(upstream)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port } = await new Promise((resolve, reject) => {
    proc.stdout.once('data', (d) => resolve(JSON.parse(String(d).split('\n')[0])));
    proc.once('exit', (code) => reject(new Error(`bench/bare-relay.mjs exited (${code}) before it listened`)));
  });
  return { port, pid: proc.pid, stop: () => proc.kill('SIGTERM') };
}

/** The built bastion in its own process (bench/serve.mjs), as in production. */
async function startBastion(cfg, prof, flags = [], serve = SERVE, nodeFlags) {
  nodeFlags ??= await bastionNodeFlags();
  cfg.knownHosts = join(cfg.dir, 'known_hosts');
  const proc = spawn(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...nodeFlags, serve, cfg.configPath, ...flags], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  const { port, http } = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    });
    proc.once('exit', (code) => reject(new Error(`the bastion exited (${code}) before it listened`)));
  });
  return {
    port,
    http,
    pid: proc.pid,
    auditPath: join(cfg.dir, 'data/audit/audit.jsonl'),
    audit: () => readFileSync(join(cfg.dir, 'data/audit/audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      clearTimeout(t);
    },
  };
}
