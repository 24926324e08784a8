import { Code, type EventTable } from './reader.js';

const REDACTION = /^\[redacted input: (\d+) bytes? typed with echo off\]$/;

/** The marker the bastion writes in place of input typed while the terminal did not echo. */
export function isRedaction(marker: string): boolean {
  return REDACTION.test(marker);
}

const ESCAPES: Record<string, string> = {
  '[A': '↑', '[B': '↓', '[C': '→', '[D': '←', OA: '↑', OB: '↓', OC: '→', OD: '←',
  '[H': 'Home', '[F': 'End', OH: 'Home', OF: 'End', '[1~': 'Home', '[4~': 'End', '[7~': 'Home', '[8~': 'End',
  '[2~': 'Ins', '[3~': 'Del', '[5~': 'PgUp', '[6~': 'PgDn', '[Z': 'S-Tab',
  OP: 'F1', OQ: 'F2', OR: 'F3', OS: 'F4', '[15~': 'F5', '[17~': 'F6', '[18~': 'F7', '[19~': 'F8',
  '[20~': 'F9', '[21~': 'F10', '[23~': 'F11', '[24~': 'F12',
  '[1;5A': 'C-↑', '[1;5B': 'C-↓', '[1;5C': 'C-→', '[1;5D': 'C-←', '[1;2A': 'S-↑', '[1;2B': 'S-↓', '[1;2C': 'S-→', '[1;2D': 'S-←',
  '[1;3A': 'M-↑', '[1;3B': 'M-↓', '[1;3C': 'M-→', '[1;3D': 'M-←',
};

/** Typed input as runs of printable text and named keys. */
export type KeyToken = { readonly text: string } | { readonly key: string };

/** Names the keys in typed input: "ls\r" → [{text: 'ls'}, {key: '⏎'}]; printable text is kept as it is. */
export function readableKeys(data: string): KeyToken[] {
  const out: KeyToken[] = [];
  let text = '';
  const key = (k: string) => {
    if (text) out.push({ text });
    text = '';
    out.push({ key: k });
  };
  for (let i = 0; i < data.length; i++) {
    const ch = data[i]!;
    const c = ch.charCodeAt(0);
    if (ch === '\x1b') {
      const paste = data.startsWith('[200~', i + 1) ? data.indexOf('\x1b[201~', i + 6) : -1;
      if (paste !== -1) {
        key(`[paste: ${printable(data.slice(i + 6, paste))}]`);
        i = paste + 5;
        continue;
      }
      const m = /^(\[[0-9;]*[A-Za-z~]|O[A-Z])/.exec(data.slice(i + 1, i + 12));
      if (m) {
        key(ESCAPES[m[1]!] ?? `Esc${m[1]}`);
        i += m[1]!.length;
      } else if (i + 1 < data.length && data.charCodeAt(i + 1) >= 0x20 && data[i + 1] !== '\x7f') {
        key(`M-${data[i + 1]}`); // Alt+key
        i++;
      } else key('Esc');
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\n' && data[i - 1] === '\r') continue;
      key('⏎');
    } else if (ch === '\t') key('Tab');
    else if (ch === '\x7f' || ch === '\b') key('⌫');
    else if (c < 0x20) key(`^${String.fromCharCode(c + 64)}`);
    else if (c >= 0x80 && c <= 0x9f) key(`U+${c.toString(16).toUpperCase().padStart(4, '0')}`); // C1 controls: never sent raw to a terminal
    else text += ch;
  }
  if (text) out.push({ text });
  return out;
}

/** Control characters in pasted text shown visibly (a paste may carry newlines or escapes). */
function printable(s: string): string {
  return s
    .replace(/\r\n?|\n/g, '⏎')
    .replace(/[\x00-\x1f\x7f]/g, (c) => `^${String.fromCharCode((c.charCodeAt(0) + 64) & 0x7f)}`)
    .replace(/[\x80-\x9f]/g, (c) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
}

/** One line of the keystroke timeline: what was typed from `t` until Enter (or ^C, ^D, a redaction). */
export interface TypedLine {
  readonly t: number;
  /** Index of the line's first event. */
  readonly index: number;
  readonly keys: KeyToken[];
  readonly redacted?: number;
}

const LINE_ENDS = new Set(['⏎', '^C', '^D']);
/** A pause this long between keys also starts a new line. */
const LINE_GAP = 3;

/**
 * Input events (and redaction markers) grouped into lines, up to and including event `until`.
 * A reviewer reads "psql -U admin⏎", then "[redacted: 13 bytes]", then "\q⏎".
 */
export function typedLines(events: EventTable, until = events.count - 1, from = 0): TypedLine[] {
  const lines: TypedLine[] = [];
  let open: { t: number; index: number; keys: KeyToken[]; last: number; alt: boolean } | undefined;
  for (let i = from; i <= until; i++) {
    const code = events.code(i);
    if (code === Code.marker) {
      const m = REDACTION.exec(events.data(i));
      if (!m) continue;
      if (open) lines.push(line(open));
      open = undefined;
      lines.push({ t: events.time(i), index: i, keys: [{ key: `[redacted: ${m[1]} byte${m[1] === '1' ? '' : 's'}]` }], redacted: Number(m[1]) });
      continue;
    }
    if (code !== Code.input) continue;
    // A pause, or a switch between a full-screen program and the shell, also ends a line.
    if (open && (events.time(i) - open.last > LINE_GAP || events.inAltScreen(i) !== open.alt)) {
      lines.push(line(open));
      open = undefined;
    }
    for (const k of readableKeys(events.data(i))) {
      open ??= { t: events.time(i), index: i, keys: [], last: 0, alt: events.inAltScreen(i) };
      open.last = events.time(i);
      // text typed one key per event joins up, so "ls -la" is one piece rather than six
      const last = open.keys.at(-1);
      if ('text' in k && last && 'text' in last) open.keys[open.keys.length - 1] = { text: last.text + k.text };
      else open.keys.push(k);
      if ('key' in k && LINE_ENDS.has(k.key)) {
        lines.push(line(open));
        open = undefined;
      }
    }
  }
  if (open) lines.push(line(open));
  return lines;
}

const line = (o: { t: number; index: number; keys: KeyToken[] }): TypedLine => ({ t: o.t, index: o.index, keys: o.keys });

/** A line for display: text as typed, named keys in ‹›, e.g. "ls -la⏎" or "vim‹Esc›:wq⏎". */
export function formatKeys(keys: readonly KeyToken[]): string {
  return keys.map((k) => ('text' in k ? k.text : k.key === '⏎' || k.key.startsWith('[') ? k.key : `‹${k.key}›`)).join('');
}
