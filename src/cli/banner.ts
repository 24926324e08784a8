import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import type { Config } from '../config/load.js';
import { checkPrivateKey, fingerprintOf } from '../auth/keys.js';
import { allowedTargets } from '../policy/policy.js';

/** The start-up text a newcomer reads: where the bastion listens and, in demo mode, how to log in. */
export function banner(config: Config, host: string, port: number): string {
  const lines = [`Bastion listening on ${host}:${port}`];
  for (const k of config.host_keys) {
    const check = checkPrivateKey(k.pem);
    if (check.ok) lines.push(`  host key ${check.type} ${fingerprintOf(check.publicBlob)}`);
  }
  if (!config.demo_banner) return lines.join('\n') + '\n';
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  lines.push('', 'Demo mode: log in with the real OpenSSH client.');
  for (const user of Object.values(config.users)) {
    if (user.drill) continue; // the drill user is for `bastion drill`, below
    // The private key beside a configured .pub file (demo keys live side by side).
    const privateKey = user.key_files.map((f) => f.replace(/\.pub$/, '')).find((f) => f !== '' && existsSync(f) && !f.endsWith('.pub'));
    const target = user.default_target ? '' : ':TARGET';
    const targets = allowedTargets(user, config, [], Date.now());
    const breakGlass = targets.find((t) => t.via === 'break-glass');
    lines.push(
      '',
      `  user ${user.name} (targets: ${targets.map((t) => `${t.target}${t.via === 'break-glass' ? ' [break-glass]' : ''}`).join(', ') || 'none'}):`,
      `  1. Get the current code:  oathtool --totp -b $(cat ${rel(user.totp_secret_file)})`,
      `  2. Connect:               ssh -p ${port}${privateKey ? ` -i ${rel(privateKey)}` : ''} ${user.name}${target}@${connectHost}`,
      `  3. Answer the prompts: the code, an incident ticket (e.g. ${config.auth.justification.ticket_example})`,
      `     and a reason of at least ${config.auth.justification.min_reason_length} characters.`,
      ...(breakGlass
        ? [`  Break-glass (alerts security, time-limited): ssh -p ${port}${privateKey ? ` -i ${rel(privateKey)}` : ''} ${user.name}:${breakGlass.target}@${connectHost}`]
        : []),
    );
  }
  if (config.drill) {
    lines.push('', `Fire drill (a synthetic break-glass session as ${config.drill.user}, every control checked), from another terminal:`, `  npx bastion drill --config ${rel(config.file)}`);
  }
  lines.push('', 'Stop with Ctrl+C (running sessions get a grace period to finish).');
  return lines.join('\n') + '\n';
}

function rel(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}
