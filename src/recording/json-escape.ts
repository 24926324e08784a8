import { createRequire } from 'node:module';

interface AsciicastAddon {
  escapeJson(src: Uint8Array, dst: Uint8Array, at: number): number;
}

const require = createRequire(import.meta.url);

/** The small native addon in src/native/asciicast, built by `npm install` (node-gyp). */
function load(): AsciicastAddon | undefined {
  // From src/recording (tests) or dist/src/recording (the built program).
  for (const rel of ['../native/asciicast/build/Release/asciicast.node', '../../../src/native/asciicast/build/Release/asciicast.node']) {
    try {
      return require(rel) as AsciicastAddon;
    } catch {
      // try the next place
    }
  }
  return undefined;
}

const addon = load();

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
