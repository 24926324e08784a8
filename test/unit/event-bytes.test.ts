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
    // Shift 4-byte characters across every position of a slab boundary.
    for (let shift = 0; shift < 8; shift++) {
      const b = new EventBytes();
      b.text('x'.repeat(SLAB_BYTES - 40 - shift));
      const data = Buffer.from('😀'.repeat(300) + 'é'.repeat(300));
      expect(b.event(0, 'o', data)).toBe(true);
      expect(joined(b)).toBe('x'.repeat(SLAB_BYTES - 40 - shift) + encodeEvent(0, 'o', data.toString('utf8')) + '\n');
    }
  });

  it('takes back an event that is not whole UTF-8, even one already spread over several slabs', () => {
    const b = new EventBytes();
    b.text('before\n');
    const bad = Buffer.concat([Buffer.alloc(SLAB_BYTES, 0x41), Buffer.from([0xff]), Buffer.alloc(100, 0x42)]);
    expect(b.event(1, 'o', bad)).toBe(false);
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
