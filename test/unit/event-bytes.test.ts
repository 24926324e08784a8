import { describe, expect, it } from 'vitest';
import { encodeEvent } from '../../src/recording/asciicast.js';
import { EventBytes, SLAB_BYTES, pooledSlabs } from '../../src/recording/event-bytes.js';

const joined = (b: EventBytes) => Buffer.concat(b.take()).toString('utf8');

describe('EventBytes (encoded asciicast lines in pooled slabs)', () => {
  it('gives the bytes encodeEvent gives, for events that fit a slab and ones many slabs long', () => {
    const b = new EventBytes();
    const small = Buffer.from('hello "world"\r\n\x1b[0m é ─ 😀');
    const nuls = Buffer.alloc(SLAB_BYTES, 0); // six times a slab once escaped
    const text = Buffer.from('─'.repeat(SLAB_BYTES / 2)); // 3 bytes a character, cut across slabs
    expect(b.event(1.5, 'o', small)).toBe(true);
    expect(b.event(2, 'o', nuls)).toBe(true);
    expect(b.event(2.25, 'i', text)).toBe(true);
    b.text(encodeEvent(3, 'm', 'done') + '\n');
    const want =
      [encodeEvent(1.5, 'o', small.toString('utf8')), encodeEvent(2, 'o', nuls.toString('utf8')), encodeEvent(2.25, 'i', text.toString('utf8')), encodeEvent(3, 'm', 'done')].join('\n') + '\n';
    expect(b.length).toBe(Buffer.byteLength(want));
    expect(joined(b)).toBe(want);
    expect(b.length).toBe(0);
  });

  it('splits data only before the first byte of a character, whatever the slab boundary', () => {
    // The first slab has room for 600-603 bytes of data at its worst escape (6 bytes a byte), so the
    // cut falls 0-3 bytes into a 4-byte character and has to step back as many; what room is left
    // then (under 6 x MIN_PIECE) sends the rest of the data to the next slab.
    const head = '[0.000000, "o", "'.length;
    for (let back = 0; back < 4; back++) {
      const b = new EventBytes();
      const before = 'x'.repeat(SLAB_BYTES - head - 6 * (600 + back));
      b.text(before);
      const data = Buffer.from('😀'.repeat(300) + 'é'.repeat(300));
      expect(b.event(0, 'o', data)).toBe(true);
      const pieces = b.take();
      expect(pieces.map((p) => p.length)[0]).toBe(before.length + head + 600); // 150 whole characters went into the first slab
      expect(Buffer.concat(pieces).toString('utf8')).toBe(before + encodeEvent(0, 'o', data.toString('utf8')) + '\n');
    }
  });

  it('takes back an event that is not whole UTF-8, even one already spread over several slabs', () => {
    const warm = new EventBytes();
    warm.event(0, 'o', Buffer.alloc(SLAB_BYTES, 0));
    warm.clear(); // slabs in the pool, for this event to take
    const b = new EventBytes();
    b.text('before\n');
    const bad = Buffer.concat([Buffer.alloc(SLAB_BYTES, 0x41), Buffer.from([0xff]), Buffer.alloc(100, 0x42)]);
    const pooled = pooledSlabs();
    expect(b.event(1, 'o', bad)).toBe(false);
    expect(pooledSlabs()).toBe(pooled); // the slabs it took went back
    const cut = Buffer.from('ok 😀').subarray(0, 5);
    expect(b.event(1, 'o', cut)).toBe(false);
    expect(b.length).toBe('before\n'.length);
    expect(joined(b)).toBe('before\n');
  });

  it('writes long text (the decoder path) across slabs', () => {
    const b = new EventBytes();
    const line = encodeEvent(0, 'o', 'ü'.repeat(SLAB_BYTES)) + '\n';
    b.text('a');
    b.text(line);
    expect(joined(b)).toBe('a' + line);
  });

  it('holds no slab with nothing pending, and serves the next events from the slabs written', () => {
    const b = new EventBytes();
    expect(b.take()).toEqual([]);
    b.event(0, 'o', Buffer.alloc(SLAB_BYTES, 0)); // seven slabs
    const taken = b.take();
    expect(taken.length).toBeGreaterThan(5);
    const before = pooledSlabs();
    b.reuse(taken);
    expect(pooledSlabs()).toBe(before + taken.length);
    const again = new EventBytes();
    again.text('x');
    expect(pooledSlabs()).toBe(before + taken.length - 1);
    again.clear();
    expect(again.length).toBe(0);
    expect(pooledSlabs()).toBe(before + taken.length);
  });
});
