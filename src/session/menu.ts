import type { ServerChannel } from 'ssh2';
import type { AllowedTarget } from '../policy/policy.js';

const MENU_TIMEOUT_MS = 120_000;

/** Pure: the menu text shown to a user who logged in without naming a target. */
export function menuText(user: string, choices: readonly AllowedTarget[]): string {
  const lines = choices.map((c, i) => {
    const how = c.via === 'break-glass' ? 'BREAK-GLASS: alerts security' : c.via === 'grant' ? `grant until ${new Date(c.expiresAt ?? 0).toISOString().slice(11, 16)} UTC` : 'standing';
    return `  ${String(i + 1).padStart(2)}) ${c.target.padEnd(20)} ${how}`;
  });
  return [`Targets for ${user}:`, ...lines, `Choose 1-${choices.length} (or q to leave): `].join('\r\n');
}

/**
 * Reads one line typed in a pty session (the client's terminal is raw: echo and editing are ours).
 * Resolves undefined on Ctrl+C, Ctrl+D, the channel closing or a timeout.
 */
export function readLine(channel: ServerChannel, maxLength = 64): Promise<string | undefined> {
  return new Promise((resolve) => {
    let line = '';
    const done = (value: string | undefined, rest?: Buffer) => {
      clearTimeout(timer);
      channel.off('data', onData);
      channel.off('close', onClose);
      // Hold what was typed after Enter for whatever reads next (the target's pump resumes the channel).
      channel.pause();
      if (rest && rest.length > 0) channel.unshift(rest);
      resolve(value);
    };
    const onClose = () => done(undefined);
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!;
        if (byte === 0x03 || byte === 0x04) return done(undefined);
        if (byte === 0x0d || byte === 0x0a) {
          channel.write('\r\n');
          const next = chunk[i + 1] === 0x0a && byte === 0x0d ? i + 2 : i + 1;
          return done(line, chunk.subarray(next));
        }
        if ((byte === 0x7f || byte === 0x08) && line.length > 0) {
          line = line.slice(0, -1);
          channel.write('\b \b');
        } else if (byte >= 0x20 && byte < 0x7f && line.length < maxLength) {
          line += String.fromCharCode(byte);
          channel.write(String.fromCharCode(byte));
        }
      }
    };
    const timer = setTimeout(() => done(undefined), MENU_TIMEOUT_MS);
    channel.on('data', onData);
    channel.resume(); // a previous readLine left it paused
    channel.once('close', onClose);
  });
}

/** Shows the menu until the user picks a target; undefined when they leave. */
export async function chooseFromMenu(channel: ServerChannel, user: string, choices: readonly AllowedTarget[]): Promise<AllowedTarget | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    channel.write(menuText(user, choices));
    const answer = (await readLine(channel))?.trim();
    if (answer === undefined || answer.toLowerCase() === 'q') return undefined;
    const n = Number(answer);
    const byNumber = Number.isInteger(n) ? choices[n - 1] : undefined;
    const choice = byNumber ?? choices.find((c) => c.target === answer);
    if (choice) {
      if (choice.via !== 'break-glass') return choice;
      channel.write(
        `\r\nBREAK-GLASS ACCESS to "${choice.target}": an emergency override. Security is alerted at once, the session is time-limited\r\n` +
          `and will be reviewed afterwards. Type yes to continue: `,
      );
      if ((await readLine(channel))?.trim().toLowerCase() === 'yes') return choice;
      channel.write('Not confirmed.\r\n\r\n');
      continue;
    }
    channel.write(`"${answer.slice(0, 20)}" is not on the list.\r\n\r\n`);
  }
  return undefined;
}
