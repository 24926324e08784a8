import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { Code, readRecording } from '../../player/reader.js';
import { decode } from '../../src/storage/recording-source.js';

const header = JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1795420800, env: { TERM: 'xterm-256color' } });
const ev = (t: number, code: string, data: string) => JSON.stringify([t, code, data]);

async function* pieces(...parts: (string | Buffer)[]): AsyncIterable<Buffer> {
  for (const p of parts) yield Buffer.isBuffer(p) ? p : Buffer.from(p);
}

describe('reading asciicast recordings', () => {
  it('reads a v2 recording: header, events in order, data decoded on demand', async () => {
    const r = await readRecording(pieces([header, ev(0.5, 'o', 'hi\r\n'), ev(1.25, 'i', 'ls\r'), ev(2, 'r', '100x30'), ev(3, 'm', 'login')].join('\n') + '\n'));
    expect(r.header).toMatchObject({ version: 2, cols: 80, rows: 24, term: 'xterm-256color', timestamp: 1795420800 });
    expect(r.events.count).toBe(4);
    expect([0, 1, 2, 3].map((i) => r.events.code(i))).toEqual([Code.output, Code.input, Code.resize, Code.marker]);
    expect(r.events.data(1)).toBe('ls\r');
    expect(r.duration).toBe(3);
    expect(r.warnings).toEqual([]);
  });

  it('joins lines split across pieces, wherever the split falls', async () => {
    const text = [header, ev(0.1, 'o', 'é and ✓ and 日本'), ev(0.2, 'o', 'second')].join('\n') + '\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const r = await readRecording(pieces(bytes.subarray(0, cut), bytes.subarray(cut)));
      expect(r.events.count).toBe(2);
      expect(r.events.data(0)).toBe('é and ✓ and 日本');
    }
  });

  it('reads asciicast v3 (intervals, term object) as well', async () => {
    const h3 = JSON.stringify({ version: 3, term: { cols: 90, rows: 20, type: 'xterm' } });
    const r = await readRecording(pieces([h3, '[0.5, "o", "a"]', '[0.25, "o", "b"]', '[1, "x", "0"]'].join('\n')));
    expect(r.header).toMatchObject({ version: 3, cols: 90, rows: 20, term: 'xterm' });
    expect([0, 1, 2].map((i) => r.events.time(i))).toEqual([0.5, 0.75, 1.75]);
    expect(r.events.code(2)).toBe(Code.exit);
  });

  it('skips lines that are not events, says which, and plays the rest', async () => {
    const r = await readRecording(pieces([header, ev(1, 'o', 'a'), 'not json at all', '{"an":"object"}', ev(2, 'o', 'b'), '[1, 2]'].join('\n')));
    expect(r.events.count).toBe(2);
    expect(r.warnings).toEqual(['line 3: not JSON; skipped', 'line 4: not a [time, code, data] event; skipped', 'line 6: not a [time, code, data] event; skipped']);
  });

  it('a cut-off last line is reported as truncation, the events before it kept', async () => {
    const r = await readRecording(pieces([header, ev(1, 'o', 'kept'), '[2.0, "o", "cut off mid-wr'].join('\n')));
    expect(r.events.count).toBe(1);
    expect(r.warnings).toEqual(['the last line (line 3) is cut off: the recording ends early or was truncated']);
  });

  it('never lets time run backwards (a damaged timestamp cannot break seeking)', async () => {
    const r = await readRecording(pieces([header, ev(5, 'o', 'a'), ev(2, 'o', 'b'), ev(6, 'o', 'c')].join('\n')));
    expect([0, 1, 2].map((i) => r.events.time(i))).toEqual([5, 5, 6]);
  });

  it('skips an over-long line without keeping it in memory, and reads on', async () => {
    const long = ev(1, 'o', 'x'.repeat(50_000));
    const r = await readRecording(pieces(header + '\n' + ev(0.5, 'o', 'before') + '\n', long.slice(0, 20_000), long.slice(20_000), '\n' + ev(2, 'o', 'after') + '\n'), { maxLine: 10_000 });
    expect(r.events.count).toBe(2);
    expect(r.events.data(1)).toBe('after');
    expect(r.warnings[0]).toMatch(/^line 3: .* long, over the 9.8 KiB line limit; skipped$/);
  });

  it.each([
    ['an empty file', '', 'the recording is empty'],
    ['a header that is not JSON', 'hello\n', 'the first line is not JSON: this is not an asciicast recording'],
    ['a header from the future', JSON.stringify({ version: 4, width: 80, height: 24 }) + '\n', 'asciicast version 4 is not supported (this player reads versions 2 and 3)'],
    ['a v1 recording (one JSON document)', JSON.stringify({ version: 1, width: 80, height: 24, stdout: [] }) + '\n', 'asciicast version 1 is not supported (this player reads versions 2 and 3)'],
    ['a header without a size', JSON.stringify({ version: 2 }) + '\n', 'the header has no valid terminal size'],
  ])('refuses %s with a clear message', async (_name, text, message) => {
    await expect(readRecording(pieces(text))).rejects.toThrow(message);
  });
});

describe('decompression limits', () => {
  const collect = async (src: AsyncIterable<Buffer>) => {
    const out: Buffer[] = [];
    for await (const b of src) out.push(b);
    return Buffer.concat(out);
  };

  it('gunzips by content (magic bytes), passes plain bytes through', async () => {
    const text = Buffer.from(header + '\n');
    expect(await collect(decode(pieces(gzipSync(text)), 1 << 20, () => undefined))).toEqual(text);
    expect(await collect(decode(pieces(text), 1 << 20, () => undefined))).toEqual(text);
  });

  it('stops a gzip bomb at the limit with an error that says what to do', async () => {
    const member = gzipSync(Buffer.alloc(8 << 20, 0x61)); // 8 MiB of "a" in a few KB
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member)); // 512 MiB decompressed
    expect(bomb.length).toBeLessThan(1 << 20);
    await expect(collect(decode(pieces(bomb), 32 << 20, () => undefined))).rejects.toThrow(/larger than 32 MiB once decompressed \(a gzip bomb, or an extremely long session\); pass --max-bytes/);
  });

  it('a cut-off gzip yields what it holds and a warning, not an error', async () => {
    const gz = gzipSync(Buffer.from(header + '\n' + ev(1, 'o', 'x'.repeat(100_000)) + '\n'));
    const warnings: string[] = [];
    const out = await collect(decode(pieces(gz.subarray(0, gz.length - 40)), 1 << 20, (w) => warnings.push(w)));
    expect(out.length).toBeGreaterThan(0);
    expect(warnings).toEqual([expect.stringMatching(/^the gzip data ends early \(the file was cut off\) after \d+ bytes: playing what comes before$/)]);
  });
});
