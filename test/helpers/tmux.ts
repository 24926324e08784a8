import { execFileSync } from 'node:child_process';
import { requireTool } from './tools.js';

export interface Tmux {
  /** tmux key names ('Space', 'S-Right', 'End') or literal text with `literal`. */
  send(...keys: string[]): void;
  type(text: string): void;
  capture(): string;
  /** Resolves with the screen once `re` matches it; rejects after `ms` showing the screen. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  kill(): void;
}

let counter = 0;

/** A program in a detached tmux session of its own (own server socket), driven like a person would. */
export function startTmux(command: string, o: { cols?: number; rows?: number; env?: Record<string, string> } = {}): Tmux {
  requireTool('tmux', 'tmux');
  const socket = `bastion-test-${process.pid}-${counter++}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  tmux('new-session', '-d', '-s', 'main', '-x', String(o.cols ?? 120), '-y', String(o.rows ?? 40), ...env, command);
  const capture = () => tmux('capture-pane', '-p', '-t', 'main');
  return {
    send: (...keys) => void tmux('send-keys', '-t', 'main', ...keys),
    type: (text) => void tmux('send-keys', '-t', 'main', '-l', text),
    capture,
    waitFor: async (re, ms = 10_000) => {
      let screen = '';
      for (let waited = 0; waited <= ms; waited += 50) {
        try {
          screen = capture();
        } catch {
          screen = '(the tmux session has ended)';
        }
        if (re.test(screen)) return screen;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`waiting for ${re}; screen:\n${screen}`);
    },
    kill: () => {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    },
  };
}
