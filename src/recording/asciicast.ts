/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
 * `[time, code, data]` line per event. Pure encoders and a line parser, shared by the recorder,
 * the verifier and the player.
 */

export type EventCode = 'o' | 'i' | 'r' | 'm';

export interface SessionMetadata {
  readonly session_id: string;
  readonly user: string;
  readonly target: string;
  readonly source_ip: string;
  readonly ticket: string;
  readonly reason: string;
  readonly break_glass: boolean;
  /** A fire drill (`bastion drill`), not a real emergency. */
  readonly drill?: boolean;
  readonly via: string;
  readonly mfa: string;
  readonly kind: string;
  readonly command?: string;
  readonly bastion_host: string;
  readonly bastion_version: string;
}

export interface Header {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  readonly timestamp: number; // seconds since the epoch
  readonly title: string;
  readonly env: { readonly TERM?: string; readonly SHELL?: string };
  /** Our metadata, under a key other players ignore. */
  readonly bastion: SessionMetadata;
}

/** The header line (without newline). */
export function encodeHeader(h: Header): string {
  return JSON.stringify(h);
}

/** One event line (without newline). `t` is seconds since the start, with microsecond precision. */
export function encodeEvent(t: number, code: EventCode, data: string): string {
  return `[${t.toFixed(6)}, "${code}", ${JSON.stringify(data)}]`;
}

export type ParsedLine =
  | { kind: 'header'; header: Header }
  | { kind: 'event'; t: number; code: string; data: string }
  | { kind: 'invalid'; reason: string };

/** Parses one line; the first line of a file is its header. */
export function parseLine(line: string, first: boolean): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  if (first) {
    const h = value as Partial<Header>;
    if (!h || typeof h !== 'object' || h.version !== 2 || typeof h.width !== 'number' || typeof h.height !== 'number') {
      return { kind: 'invalid', reason: 'not an asciicast v2 header' };
    }
    return { kind: 'header', header: h as Header };
  }
  if (!Array.isArray(value) || value.length !== 3 || typeof value[0] !== 'number' || typeof value[1] !== 'string' || typeof value[2] !== 'string') {
    return { kind: 'invalid', reason: 'not a [time, code, data] event' };
  }
  return { kind: 'event', t: value[0], code: value[1], data: value[2] };
}
