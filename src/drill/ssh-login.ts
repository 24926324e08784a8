import ssh2, { type ClientChannel, type Prompt } from 'ssh2';
import { describeError } from '../errors.js';

const { Client, utils } = ssh2;
/** ssh2 takes `false` for "no more methods to try"; its types leave it out. */
const NO_MORE_METHODS = false as unknown as 'none';

/** Where and as whom the drill logs in; the bastion's host keys are pinned from its own config. */
export interface DrillEndpoint {
  readonly host: string;
  readonly port: number;
  /** `user:target`, as an engineer would type it. */
  readonly username: string;
  readonly privateKey: Buffer;
  /** The bastion's host keys (private PEM, from the config): the server must present one of them. */
  readonly hostKeys: readonly Buffer[];
  readonly timeoutMs: number;
}

/** What the bastion asked during keyboard-interactive, in order. */
export interface PromptRound {
  readonly instructions: string;
  readonly prompts: readonly Prompt[];
}

/** The answers to a round of prompts; undefined to give up (the connection is closed). */
export type Answerer = (round: PromptRound, index: number) => string[] | undefined;

function publicBlobs(hostKeys: readonly Buffer[]): Buffer[] {
  return hostKeys.flatMap((pem) => {
    const parsed = utils.parseKey(pem);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    return key && !(key instanceof Error) ? [key.getPublicSSH()] : [];
  });
}

function connectOptions(e: DrillEndpoint) {
  const blobs = publicBlobs(e.hostKeys);
  return {
    host: e.host,
    port: e.port,
    username: e.username,
    readyTimeout: e.timeoutMs,
    hostVerifier: (key: Buffer) => blobs.some((b) => b.equals(key)),
  };
}

/**
 * Offers only the drill user's key. A bastion that demands MFA answers with partial success and
 * asks for keyboard-interactive; one that lets the key alone in has failed the control.
 */
export function tryPublickeyAlone(e: DrillEndpoint): Promise<{ refused: boolean; unreachable?: boolean; detail: string }> {
  return new Promise((resolve) => {
    const client = new Client();
    let asked: string[] | undefined;
    let partial = false;
    let settled = false;
    const done = (r: { refused: boolean; unreachable?: boolean; detail: string }) => {
      if (settled) return;
      settled = true;
      client.end();
      resolve(r);
    };
    client.on('ready', () => done({ refused: false, detail: 'the bastion let the drill user in with the SSH key alone: MFA is not enforced' }));
    client.on('close', () => done({ refused: false, detail: 'the bastion closed the connection during the publickey step' }));
    client.on('error', (err) => {
      if (/verification failed/i.test(err.message)) return done({ refused: false, unreachable: true, detail: `${e.host}:${e.port} presented a host key that is not one of the config's host_keys: not this bastion` });
      const level = (err as { level?: string }).level;
      if (level === 'client-socket' || level === 'client-timeout') done({ refused: false, unreachable: true, detail: `cannot reach the bastion at ${e.host}:${e.port}: ${describeError(err)} (is it running?)` });
      else if (partial && asked?.includes('keyboard-interactive')) done({ refused: true, detail: 'the key alone was not enough: the bastion asked for keyboard-interactive (MFA)' });
      else done({ refused: false, detail: `the publickey step did not succeed: ${describeError(err)}${asked ? ` (methods offered: ${asked.join(', ')})` : ''}` });
    });
    client.connect({
      ...connectOptions(e),
      authHandler: (methodsLeft, partialSuccess, next) => {
        if (methodsLeft === null) return next({ type: 'publickey', username: e.username, key: e.privateKey });
        asked = methodsLeft;
        partial = partialSuccess;
        return next(NO_MORE_METHODS);
      },
    });
  });
}

export interface DrillSession {
  readonly rounds: readonly PromptRound[];
  readonly shell: ClientChannel;
  /** Everything the shell has printed so far. */
  output(): string;
  /** Resolves when `text` has appeared in the output after `from` (an offset into output()). */
  waitFor(text: string, timeoutMs: number, from?: number): Promise<boolean>;
  /** Resolves when the shell channel has closed. */
  readonly closed: Promise<void>;
  end(): void;
}

/** Logs in with the key and keyboard-interactive (answered by `answer`), then opens a shell with a pty. */
export function openDrillSession(e: DrillEndpoint, answer: Answerer): Promise<{ ok: true; session: DrillSession } | { ok: false; rounds: readonly PromptRound[]; error: string }> {
  return new Promise((resolve) => {
    const client = new Client();
    const rounds: PromptRound[] = [];
    let triedKeyboard = false;
    let settled = false;
    const fail = (error: string) => {
      if (settled) return;
      settled = true;
      client.end();
      resolve({ ok: false, rounds, error });
    };
    client.on('error', (err) => fail(describeError(err)));
    client.on('close', () => fail('the bastion closed the connection'));
    client.on('ready', () => {
      client.shell({ term: 'xterm', cols: 100, rows: 30 }, (err, shell) => {
        if (err) return fail(`the bastion refused the shell: ${describeError(err)}`);
        settled = true;
        let out = '';
        const waiters = new Set<() => void>();
        shell.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          for (const w of waiters) w();
        });
        shell.stderr.on('data', () => undefined);
        const closed = new Promise<void>((r) => shell.on('close', () => r()));
        const session: DrillSession = {
          rounds,
          shell,
          output: () => out,
          closed,
          waitFor: (text, timeoutMs, from = 0) =>
            new Promise((r) => {
              const check = () => {
                if (!out.includes(text, from)) return;
                finish(true);
              };
              const finish = (found: boolean) => {
                clearTimeout(timer);
                waiters.delete(check);
                r(found);
              };
              const timer = setTimeout(() => finish(false), timeoutMs);
              waiters.add(check);
              void closed.then(() => finish(out.includes(text, from)));
              check();
            }),
          end: () => client.end(),
        };
        resolve({ ok: true, session });
      });
    });
    client.connect({
      ...connectOptions(e),
      authHandler: (methodsLeft, _partial, next) => {
        if (methodsLeft === null) return next({ type: 'publickey', username: e.username, key: e.privateKey });
        if (triedKeyboard || !methodsLeft.includes('keyboard-interactive')) return next(NO_MORE_METHODS);
        triedKeyboard = true;
        return next({
          type: 'keyboard-interactive',
          username: e.username,
          prompt: (_name, instructions, _lang, prompts, finish) => {
            const round = { instructions, prompts };
            rounds.push(round);
            const answers = prompts.length === 0 ? [] : answer(round, rounds.length - 1);
            if (answers) finish(answers);
            else fail(`gave up at the bastion's prompt: ${instructions.trim().slice(0, 200) || prompts.map((p) => p.prompt).join(' ')}`);
          },
        });
      },
    });
  });
}
