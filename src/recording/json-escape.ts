import { loadAddon } from '../native/load-addon.js';

interface AsciicastAddon {
  escapeJson(src: Uint8Array, dst: Uint8Array, at: number): number;
}

/** The small native addon in src/native/asciicast. */
const addon = loadAddon<AsciicastAddon>('asciicast');

/** True when the native escaper is available (it is built on every supported platform). */
export const nativeEscapeAvailable = addon !== undefined;

/**
 * Writes `src`, UTF-8 text, into `dst` from `at` as the inside of a JSON string, byte for byte
 * what JSON.stringify of its decoded text gives, and returns the offset after it. Undefined when
 * `src` is not whole, valid UTF-8 (an invalid byte, a character cut at its end), when `dst` lacks
 * room for 6 bytes per byte of `src`, or without the addon: the caller takes its general path.
 */
export function escapeJsonInto(src: Uint8Array, dst: Uint8Array, at: number): number | undefined {
  const end = addon?.escapeJson(src, dst, at);
  return end === undefined || end < 0 ? undefined : end;
}
