import { describe, expect, it } from 'vitest';
import { formatKeys, readableKeys, typedLines } from '../../player/keys.js';
import { readRecording, type LoadedRecording } from '../../player/reader.js';
import { findNext, plainText } from '../../player/search.js';
import { Playback, timeline } from '../../player/playback.js';
import { IndexBuilder } from '../../player/seek-index.js';
import { formatTime, parseTime, progressBar } from '../../player/format.js';

async function rec(events: [number, string, string][]): Promise<LoadedRecording> {
  const text = [JSON.stringify({ version: 2, width: 40, height: 5 }), ...events.map((e) => JSON.stringify(e))].join('\n');
  return readRecording((async function* () {
    yield Buffer.from(text);
  })());
}

describe('keystrokes a reviewer can read', () => {
  it.each([
    ['ls -la\r', 'ls -la⏎'],
    ['\x03', '‹^C›'],
    ['\x1b[A\x1b[B\x1b[C\x1b[D', '‹↑›‹↓›‹→›‹←›'],
    ['\x1bOA', '‹↑›'],
    ['\t\x7f', '‹Tab›‹⌫›'],
    ['\x1b', '‹Esc›'],
    ['\x1bb', '‹M-b›'],
    ['\x1b[3~\x1b[5~\x1b[6~\x1b[H\x1b[F', '‹Del›‹PgUp›‹PgDn›‹Home›‹End›'],
    ['\x1bOP\x1b[24~', '‹F1›‹F12›'],
    ['\x1b[200~rm -rf /tmp/x\ny\x1b[201~', '[paste: rm -rf /tmp/x⏎y]'],
    ['\x9b31m', '‹U+009B›31m'],
    ['vim\r\x1b:wq\r', 'vim⏎‹M-:›wq⏎'],
  ])('%j reads as %s', (input, shown) => {
    expect(formatKeys(readableKeys(input))).toBe(shown);
  });

  it('groups keys into lines: Enter, ^C or a pause ends a line; redacted input stands alone', async () => {
    const r = await rec([
      [1, 'i', 'l'], [1.1, 'i', 's'], [1.2, 'i', '\r'], [1.25, 'o', 'file\r\n'],
      [2, 'i', 'sleep 9'], [2.5, 'i', '\x03'],
      [3, 'i', 'q'], [10, 'i', 'psql\r'],
      [11, 'm', '[redacted input: 9 bytes typed with echo off]'],
      [12, 'm', 'notice: something else'], [13, 'i', '\\q\r'],
    ]);
    expect(typedLines(r.events).map((l) => [l.t, formatKeys(l.keys)])).toEqual([
      [1, 'ls⏎'], [2, 'sleep 9‹^C›'], [3, 'q'], [10, 'psql⏎'], [11, '[redacted: 9 bytes]'], [13, '\\q⏎'],
    ]);
  });
});

describe('search', () => {
  it('finds text in output, across escape sequences and across events, and in typed input', async () => {
    const r = await rec([
      [1, 'o', 'hello \x1b[31mwor'], [2, 'o', 'ld\x1b[0m\r\n'], [3, 'i', 'sec'], [4, 'i', 'ret-cmd'], [5, 'o', 'WORLD again'],
    ]);
    expect(plainText('a\x1b[1;31mb\x1b]0;title\x07c\r\n')).toBe('abc\n');
    expect(findNext(r.events, 'world', -1)).toEqual({ index: 1, inInput: false, wrapped: false });
    expect(findNext(r.events, 'world', 1)).toEqual({ index: 4, inInput: false, wrapped: false });
    expect(findNext(r.events, 'world', 4)).toEqual({ index: 1, inInput: false, wrapped: true });
    expect(findNext(r.events, 'secret-cmd', -1)).toEqual({ index: 3, inInput: true, wrapped: false });
    expect(findNext(r.events, 'absent', -1)).toBeUndefined();
  });
});

describe('playback', () => {
  it('plays at speed, pauses at the end, steps, compresses idle time, finds markers', async () => {
    const r = await rec([[0.5, 'o', 'a'], [1, 'm', 'login'], [61, 'o', 'b'], [62, 'm', '[redacted input: 3 bytes typed with echo off]'], [63, 'o', 'c']]);
    const b = new IndexBuilder(40, 5);
    for (let i = 0; i < r.events.count; i++) b.onEvent(i, r.events.code(i), r.events.data(i));
    const pb = await Playback.open(r, await b.finish());
    expect(pb.duration).toBe(63);
    await pb.togglePause();
    pb.faster();
    await pb.tick(1000); // 2x: 2 s in
    expect(pb.position).toBe(2);
    expect(pb.screen.text()[0]).toBe('a');
    await pb.tick(60_000);
    expect(pb.ended && pb.paused).toBe(true);
    expect(pb.screen.text()[0]).toBe('abc');
    await pb.seek(0);
    await pb.step();
    expect(pb.screen.text()[0]).toBe('a');
    expect(pb.markers()).toEqual([1]); // the redaction is a keystroke, not a marker

    pb.toggleIdleCompression();
    expect(pb.duration).toBe(5); // the 60 s pause is cut to 2 s
    expect(Array.from(timeline(r, true))).toEqual([0.5, 1, 3, 4, 5]);
  });
});

describe('search hits land on their own event', () => {
  it('even when later events share its timestamp (a time seek would land past it, and `n` would skip them)', async () => {
    const r = await rec([[1, 'i', 'echo x\r'], [1, 'o', 'echo x\r\n'], [1, 'o', 'x\r\n'], [2, 'o', 'done']]);
    const b = new IndexBuilder(40, 5);
    for (let i = 0; i < r.events.count; i++) b.onEvent(i, r.events.code(i), r.events.data(i));
    const pb = await Playback.open(r, await b.finish());
    await pb.seek(1);
    expect(pb.currentIndex).toBe(2);
    await pb.seekToEvent(0);
    expect(pb.currentIndex).toBe(0);
    expect(findNext(r.events, 'x', pb.currentIndex)).toEqual({ index: 1, inInput: false, wrapped: false });
  });
});

describe('formatting', () => {
  it('times, the progress bar and parsing', () => {
    expect(formatTime(59.96)).toBe('01:00.0');
    expect(formatTime(3723.5, true)).toBe('1:02:03.5');
    expect(parseTime('1:02:03.5')).toBe(3723.5);
    expect(parseTime('75')).toBe(75);
    expect(parseTime('-1')).toBeUndefined();
    expect(progressBar(5, 10, [2, 8], 12)).toBe('[==|==>--|-]');
  });
});
