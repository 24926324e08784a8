import { Screen } from '../src/recording/screen.js';
import { drainedOrClosed, verifyRef } from '../src/storage/recording-source.js';
import { openForPlayback, type OpenOptions, type Opened } from './load.js';
import { Code } from './reader.js';
import { applyEvent } from './seek-index.js';
import { formatKeys, typedLines } from './keys.js';
import { formatStamp, formatTime } from './format.js';

/** Non-interactive modes, for scripts and written reviews. Each returns the exit code. */

type Common = Omit<OpenOptions, 'index' | 'onEvent' | 'onPiece'>;

function warn(opened: Pick<Opened, 'warnings'>): void {
  for (const w of opened.warnings) process.stderr.write(`bastion-player: warning: ${w}\n`);
}

/** `--cat`: the output, as the user's terminal received it (like `asciinema cat`). */
export async function catMode(ref: string, o: Common): Promise<number> {
  let blocked = false;
  let closed = false;
  process.stdout.on('error', () => (closed = true)); // a reader that went away (`| head`) is not an error
  const opened = await openForPlayback(ref, {
    ...o,
    onEvent: (_i, _t, code, data) => {
      if (code === Code.output && !closed && !process.stdout.write(data)) blocked = true;
    },
    onPiece: async () => {
      if (blocked && !closed) await drainedOrClosed(process.stdout);
      blocked = false;
    },
  });
  warn(opened);
  return 0;
}

/** `--screen-at T`: the screen's text at that moment, one line per row (trailing blank rows dropped). */
export async function screenAtMode(ref: string, at: number, o: Common): Promise<number> {
  let screen: Screen | undefined;
  let past = false;
  const opened = await openForPlayback(ref, {
    ...o,
    onEvent: (_i, t, code, data) => {
      if (t > at) past = true;
      if (!past && screen) applyEvent(screen, code, data);
    },
    onPiece: async () => {
      await screen?.flush();
    },
    onHeader: (h) => (screen = new Screen(h.cols, h.rows)),
  });
  const s = screen ?? new Screen(opened.rec.header.cols, opened.rec.header.rows);
  await s.flush();
  const lines = s.text();
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  process.stdout.write(lines.map((l) => l + '\n').join(''));
  warn(opened);
  if (at > opened.rec.duration) process.stderr.write(`bastion-player: note: the recording ends at ${formatTime(opened.rec.duration, true)}; this is its last screen\n`);
  s.dispose();
  return 0;
}

/** `--keystrokes`: what was typed, line by line with the time (redacted input shown as such). */
export async function keystrokesMode(ref: string, o: Common): Promise<number> {
  const opened = await openForPlayback(ref, o);
  for (const l of typedLines(opened.rec.events)) process.stdout.write(`${formatStamp(l.t)}  ${formatKeys(l.keys)}\n`);
  warn(opened);
  return 0;
}

/** `--verify`: the manifest check alone (streamed: the recording is not parsed). */
export async function verifyMode(ref: string, o: Common): Promise<number> {
  const r = await verifyRef(ref, o.trusted, { ...(o.config ? { config: o.config } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}) });
  process.stdout.write(r.text + '\n');
  return r.ok ? 0 : 1;
}
