import { execFileSync } from 'node:child_process';

/**
 * Fails loudly when a tool the suite needs is missing: in CI (CI=true) a missing tool is a failure,
 * never a skip. Locally the message says which Debian package to install.
 */
export function requireTool(cmd: string, debianPackage: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${cmd} is required by this test: apt-get install -y ${debianPackage} (see .ci/run)`);
  }
}

/** The current TOTP code for a base32 secret, computed independently of the bastion by oathtool. */
export function oathtool(secret: string, at?: Date): string {
  requireTool('oathtool', 'oathtool');
  const args = ['--totp', '-b', secret];
  if (at) args.push('--now', at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}
