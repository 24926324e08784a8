import { Code, type EventTable } from './reader.js';

// Escape sequences (CSI, OSC, DCS/PM/APC, two-byte) and control characters other than newline.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[ -/]*[0-~]|[\x00-\x09\x0b-\x1f\x7f]/g;

/** Output as a reader sees it: no escape sequences or control characters. */
export function plainText(s: string): string {
  return s.replace(ANSI, '');
}

export interface SearchHit {
  /** The event in which the match was complete: the moment it appeared or was typed. */
  readonly index: number;
  readonly inInput: boolean;
  /** True when the search went past the end and continued from the start. */
  readonly wrapped: boolean;
}

/**
 * Finds the next event after `after` where `query` appears in the output text or in the typed
 * input (case-insensitive), wrapping around once. Text split across events is found: each event
 * is searched together with the tail of the one before it in the same stream.
 */
export function findNext(events: EventTable, query: string, after: number): SearchHit | undefined {
  const q = query.toLowerCase();
  if (!q) return undefined;
  const n = events.count;
  const scan = (from: number, to: number, wrapped: boolean): SearchHit | undefined => {
    const tails = { out: '', in: '' };
    // start a little before `from`, so that a match ending in `from` is seen whole
    for (let i = Math.max(0, from - 8); i < to; i++) {
      const code = events.code(i);
      if (code !== Code.output && code !== Code.input) continue;
      const isInput = code === Code.input;
      const text = plainText(events.data(i)).toLowerCase();
      const tail = isInput ? tails.in : tails.out;
      const window = tail + text;
      const at = window.indexOf(q);
      if (i >= from && at !== -1 && at + q.length > tail.length) return { index: i, inInput: isInput, wrapped };
      const keep = window.slice(Math.max(0, window.length - (q.length - 1)));
      if (isInput) tails.in = keep;
      else tails.out = keep;
    }
    return undefined;
  };
  return scan(after + 1, n, false) ?? scan(0, Math.min(n, after + 1), true);
}
