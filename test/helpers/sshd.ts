import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync, chmodSync } from 'node:fs';
import { freePort } from './net.js';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { requireTool } from './tools.js';

export interface TestSshd {
  port: number;
  dir: string;
  user: string;
  /** The key the bastion logs in with (private key path) and the server's host key line. */
  clientKeyPath: string;
  hostKeyLine: string;
  knownHostsPath: string;
  stop(): Promise<void>;
}

/**
 * A real Debian OpenSSH sshd on loopback with its own config, host key and authorized_keys in a
 * temp dir: the upstream host the bastion proxies to. Logs in as the current user (root in CI).
 */
export async function startSshd(): Promise<TestSshd> {
  requireTool('/usr/sbin/sshd', 'openssh-server');
  requireTool('ssh-keygen', 'openssh-client');
  const dir = mkdtempSync(join(tmpdir(), 'sshd-'));
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bastion-upstream', '-f', join(dir, 'client_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), config + '\n');
  const proc: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sshd did not start:\n${log}`)), 10_000);
    const check = () => {
      if (log.includes('Server listening')) {
        clearTimeout(t);
        resolve();
      } else if (proc.exitCode !== null) {
        clearTimeout(t);
        reject(new Error(`sshd exited:\n${log}`));
      } else setTimeout(check, 20);
    };
    check();
  });
  const hostKeyLine = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim();
  const knownHostsPath = join(dir, 'known_hosts');
  writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostKeyLine}\n`);
  return {
    port,
    dir,
    user: userInfo().username,
    clientKeyPath: join(dir, 'client_key'),
    hostKeyLine,
    knownHostsPath,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
