// The OpenSSH peers of the suite: a Debian sshd on loopback with its own config, host key and
// authorized_keys in a temp dir (the baseline a user would pick instead of the bastion), and the
// same with tlog-rec-session recording every session (a recording peer).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdirSync, existsSync, chmodSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const TLOG = '/usr/bin/tlog-rec-session';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function sshVersion() {
  // `ssh -V` prints to stderr.
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim();
}

/** One client key for every OpenSSH peer and for the bastion's upstream login. */
export function makeClientKey(dir) {
  const key = join(dir, 'client_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-client', '-f', key]);
  return { key, pub: readFileSync(key + '.pub', 'utf8').trim() };
}

/**
 * Why tlog cannot run here, or null when it can. tlog-rec-session needs /var/run/tlog and a
 * writable utmp ("Failed setting up the I/O tap" otherwise); both are created when missing.
 */
export function tlogProblem() {
  if (!existsSync(TLOG)) return 'tlog is not installed (apt-get install -y tlog)';
  try {
    mkdirSync('/var/run/tlog', { recursive: true });
    chmodSync('/var/run/tlog', 0o1777);
    if (!existsSync('/var/run/utmp')) closeSync(openSync('/var/run/utmp', 'a', 0o664));
  } catch (err) {
    return `tlog needs /var/run/tlog and a writable /var/run/utmp: ${err.message}`;
  }
  return null;
}

/**
 * Starts `/usr/sbin/sshd -D` in DIR/NAME. With tlog, every session runs under
 * tlog-rec-session (as a ForceCommand, so no system account is created or changed), writing
 * its JSON recording to a file in that dir.
 */
export async function startSshd(dir, name, clientPub, { tlog = false } = {}) {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, 'host_key')]);
  writeFileSync(join(home, 'authorized_keys'), clientPub + '\n');
  const port = await freePort();
  const lines = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(home, 'host_key')}`,
    `PidFile ${join(home, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(home, 'authorized_keys')}`,
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 1000:30:2000',
    'MaxSessions 1000',
    'LogLevel ERROR',
  ];
  if (tlog) {
    const conf = { shell: '/bin/bash', writer: 'file', file: { path: join(home, 'tlog.log') } };
    writeFileSync(join(home, 'tlog.conf'), JSON.stringify(conf));
    lines.push(`SetEnv TLOG_REC_SESSION_CONF_TEXT=${JSON.stringify(conf).replaceAll('"', '\\"')}`);
    // tlog-rec-session runs the shell it is configured with, with -c COMMAND when one was given.
    writeFileSync(join(home, 'tlog-wrap.sh'), `#!/bin/sh\nif [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec ${TLOG} -c "$SSH_ORIGINAL_COMMAND"; else exec ${TLOG}; fi\n`, { mode: 0o755 });
    lines.push(`ForceCommand ${join(home, 'tlog-wrap.sh')}`);
  }
  writeFileSync(join(home, 'sshd_config'), lines.join('\n') + '\n');
  const proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(home, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => (log += d));
  // With LogLevel ERROR sshd says nothing when it listens: poll the port.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sshd ${name} exited:\n${log}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) throw new Error(`sshd ${name} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const hostKeyLine = readFileSync(join(home, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  return {
    name,
    port,
    pid: proc.pid,
    home,
    hostKeyLine,
    tlogFile: tlog ? join(home, 'tlog.log') : undefined,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      }
    },
  };
}

async function canConnect(port) {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
