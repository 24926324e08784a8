import { spawn } from 'node:child_process';
import { spawn as spawnPty } from 'node-pty';
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

export interface RunningSsh {
  stdout(): string;
  stderr(): string;
  /** Resolves with ssh's exit code. */
  closed: Promise<number | null>;
  /** Resolves once `text` has appeared on stdout (or stderr); rejects if ssh exits first or after `ms`. */
  waitFor(text: string, where?: 'stdout' | 'stderr', ms?: number): Promise<void>;
  kill(): void;
}

/** Starts the real `ssh` client for a session that stays open while the test acts on it. */
export function startSsh(
  b: Pick<TestBastion, 'port' | 'knownHosts'>,
  user: TestUser,
  login: string,
  args: string[],
  answers: Answers,
  extraEnv: NodeJS.ProcessEnv = {},
): RunningSsh {
  requireTool('ssh', 'openssh-client');
  const { env } = askpassEnv(answers);
  const child = spawn('ssh', [...sshBaseArgs(b as TestBastion, user), `${login}@127.0.0.1`, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const text = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (text.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text.stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    closed,
    kill: () => child.kill('SIGTERM'),
    waitFor: (wanted, where = 'stdout', ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const stream = where === 'stdout' ? child.stdout : child.stderr;
        const check = () => {
          if (!text[where].includes(wanted)) return;
          cleanup();
          resolve();
        };
        const onClose = () => {
          cleanup();
          if (text[where].includes(wanted)) resolve();
          else reject(new Error(`ssh exited before "${wanted}" appeared on ${where}:\n${text.stdout}\n${text.stderr}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`"${wanted}" did not appear on ${where} within ${ms} ms:\n${text.stdout}\n${text.stderr}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          stream.off('data', check);
          child.off('close', onClose);
        };
        stream.on('data', check);
        child.on('close', onClose);
        check();
      }),
  };
}

export interface PtySsh {
  write(text: string): void;
  resize(cols: number, rows: number): void;
  screen(): string;
  /** Resolves once `re` matches what the terminal has shown; rejects after `ms` with the screen so far. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Like waitFor, but resolves false instead of rejecting. */
  sees(re: RegExp, ms?: number): Promise<boolean>;
  exited: Promise<number>;
}

/** The real `ssh -tt` in a pty of its own, as a person at a terminal runs it. */
export function startPtySsh(b: Pick<TestBastion, 'port' | 'knownHosts'>, user: TestUser, login: string, answers: Answers, size = { cols: 100, rows: 30 }): PtySsh {
  requireTool('ssh', 'openssh-client');
  const { env } = askpassEnv(answers);
  const p = spawnPty('ssh', [...sshBaseArgs(b as TestBastion, user), '-tt', `${login}@127.0.0.1`], { ...size, env: env as Record<string, string> });
  let screen = '';
  p.onData((d) => (screen += d));
  const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
  const sees = async (re: RegExp, ms = 10_000) => {
    for (let waited = 0; !re.test(screen) && waited < ms; waited += 25) await new Promise((r) => setTimeout(r, 25));
    return re.test(screen);
  };
  return {
    write: (text) => p.write(text),
    resize: (cols, rows) => p.resize(cols, rows),
    screen: () => screen,
    sees,
    waitFor: async (re, ms) => {
      if (!(await sees(re, ms))) throw new Error(`waiting for ${re}; screen so far:\n${screen}`);
    },
    exited,
  };
}
