import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, type TestBastion, type TestUser } from './bastion.js';
import { requireTool } from './tools.js';

export const ASKPASS = join(ROOT, 'test/helpers/askpass.sh');

export interface Answers {
  /** One code, or several for successive prompts on one connection. */
  code?: string | string[];
  ticket?: string;
  reason?: string;
}

export const GOOD_REASON = 'investigating elevated error rates on the checkout API';

/** Environment that makes OpenSSH answer keyboard-interactive prompts through askpass.sh. */
export function askpassEnv(answers: Answers): { env: NodeJS.ProcessEnv; promptLog: string } {
  const dir = mkdtempSync(join(tmpdir(), 'askpass-'));
  const promptLog = join(dir, 'prompts.log');
  const codes = Array.isArray(answers.code) ? answers.code : [answers.code ?? ''];
  const codeFile = join(dir, 'codes');
  writeFileSync(codeFile, codes.join('\n') + '\n');
  return {
    promptLog,
    env: {
      ...process.env,
      SSH_ASKPASS: ASKPASS,
      SSH_ASKPASS_REQUIRE: 'force',
      DISPLAY: ':0',
      ASKPASS_LOG: promptLog,
      ASKPASS_CODE_FILE: codeFile,
      ASKPASS_TICKET: answers.ticket ?? 'INC-4242',
      ASKPASS_REASON: answers.reason ?? GOOD_REASON,
    },
  };
}

/** Common OpenSSH options: the test's known_hosts, the user's key only, no config files. */
export function sshBaseArgs(b: TestBastion, user: TestUser): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(b.port),
    '-i', user.privateKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${b.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10',
  ];
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
  prompts: string[];
}

/** Runs the real `ssh` client to completion. */
export function runSsh(b: TestBastion, user: TestUser, args: string[], answers: Answers, opts: { login?: string; input?: string } = {}): Promise<SshResult> {
  requireTool('ssh', 'openssh-client');
  const { env, promptLog } = askpassEnv(answers);
  const login = opts.login ?? user.name;
  const child = spawn('ssh', [...sshBaseArgs(b, user), `${login}@127.0.0.1`, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (opts.input !== undefined) child.stdin.end(opts.input);
  else child.stdin.end();
  return new Promise((resolve) => {
    child.on('close', (code) => {
      let prompts: string[] = [];
      try {
        prompts = readFileSync(promptLog, 'utf8').split('\n').filter(Boolean);
      } catch {
        prompts = [];
      }
      resolve({ code, stdout, stderr, prompts });
    });
  });
}
