import { describe, expect, it } from 'vitest';
import { escapeJsonInto, nativeEscapeAvailable } from '../../src/recording/json-escape.js';

/** What the general path gives: JSON.stringify of the decoded text, without its quotes; undefined for bytes that are not whole, valid UTF-8. */
function reference(b: Uint8Array): string | undefined {
  try {
    return JSON.stringify(new TextDecoder('utf-8', { fatal: true }).decode(b)).slice(1, -1);
  } catch {
    return undefined;
  }
}

function native(b: Uint8Array): string | undefined {
  const dst = Buffer.alloc(8 + b.length * 6);
  const end = escapeJsonInto(b, dst, 8);
  return end === undefined ? undefined : dst.subarray(8, end).toString('utf8');
}

describe('the native JSON escaper (asciicast event data)', () => {
  it('is built', () => {
    expect(nativeEscapeAvailable).toBe(true);
  });

  it('escapes every ASCII byte as JSON.stringify does', () => {
    const all = Uint8Array.from({ length: 128 }, (_, i) => i);
    expect(native(all)).toBe(reference(all));
    expect(native(Buffer.from('\x00\x1f"\\\x7f'))).toBe('\\u0000\\u001f\\"\\\\\x7f');
    expect(native(new Uint8Array(0))).toBe('');
  });

  it('agrees with the decoder on 20,000 random byte strings, valid UTF-8 or not', () => {
    // Random bytes weighted towards the edges of the UTF-8 tables (lead bytes, continuation ranges).
    const edges = [0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    let valid = 0;
    for (let k = 0; k < 20_000; k++) {
      const b = Uint8Array.from({ length: rand(12) }, () => (rand(3) === 0 ? edges[rand(edges.length)]! : rand(256)));
      const want = reference(b);
      if (want !== undefined) valid++;
      expect(native(b), Buffer.from(b).toString('hex')).toBe(want);
    }
    expect(valid).toBeGreaterThan(1000); // both outcomes were exercised
  });

  it('copies every valid character of every length, and refuses one cut short at the end', () => {
    const text = 'a é ─ 😀 \u{10ffff} \ud7ff \ue000 \uffff';
    expect(native(Buffer.from(text))).toBe(JSON.stringify(text).slice(1, -1));
    const cut = Buffer.from('ok 😀');
    for (let n = cut.length - 3; n < cut.length; n++) expect(native(cut.subarray(0, n))).toBeUndefined();
  });

  it('refuses a destination without room for the worst case, and arguments that are not bytes', () => {
    expect(escapeJsonInto(Buffer.from('ab'), Buffer.alloc(11), 0)).toBeUndefined();
    expect(escapeJsonInto(Buffer.from('ab'), Buffer.alloc(12), 0)).toBe(2);
    expect(escapeJsonInto(Buffer.from('ab'), Buffer.alloc(12), 1)).toBeUndefined();
    expect(escapeJsonInto(Buffer.from('ab'), Buffer.alloc(12), 13)).toBeUndefined();
    expect(escapeJsonInto('ab' as unknown as Uint8Array, Buffer.alloc(12), 0)).toBeUndefined();
  });
});
