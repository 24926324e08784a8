import { describe, expect, it } from 'vitest';
import { mkdtempSync, createReadStream, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Screen } from '../../src/recording/screen.js';
import { readRecording, type LoadedRecording } from '../../player/reader.js';
import { IndexBuilder, replay, type SeekIndex } from '../../player/seek-index.js';
import { lastAtOrBefore, Playback, timeline } from '../../player/playback.js';
import { generateRecording } from '../../bench/gen-recording.mjs';

async function load(src: AsyncIterable<Buffer>): Promise<{ rec: LoadedRecording; index: SeekIndex }> {
  let b: IndexBuilder | undefined;
  const rec = await readRecording(src, { onHeader: (h) => (b = new IndexBuilder(h.cols, h.rows)), onEvent: (i, _t, c, d) => b!.onEvent(i, c, d), onPiece: () => b!.catchUp() });
  return { rec, index: await b!.finish() };
}

/** The screen after events 0..k, fed from the start: what seeking must reproduce exactly. */
async function linear(rec: LoadedRecording, k: number): Promise<{ text: string[]; styled: string[]; cursor: unknown }> {
  const s = new Screen(rec.header.cols, rec.header.rows);
  await replay(s, rec.events, -1, k);
  const r = { text: s.text(), styled: s.styledLines(), cursor: s.cursor() };
  s.dispose();
  return r;
}

async function* text(s: string): AsyncIterable<Buffer> {
  yield Buffer.from(s);
}

// Terminal state that lives across a keyframe: scroll region, origin mode, alternate screen,
// line-drawing charset, hidden cursor, colours (256 and true colour), wide characters, resizes.
function trickyRecording(): string {
  const lines = [JSON.stringify({ version: 2, width: 40, height: 12 })];
  let t = 0;
  const o = (d: string) => lines.push(JSON.stringify([(t += 0.1), 'o', d]));
  o('\x1b[38;2;255;100;0mtrue colour\x1b[0m \x1b[48;5;22mpalette\x1b[0m 日本語 wide\r\n');
  o('\x1b[3;10r'); // scroll region rows 3-10, set before the keyframe below
  o('\x1b[10;1H');
  o('x'.repeat(300 * 1024)); // forces a keyframe while the region is set
  for (let i = 0; i < 30; i++) o(`\r\nscrolled ${i}`); // scrolls inside the region only
  o('\x1b[?6h\x1b[1;1Horigin-relative\x1b[?6l');
  o('\x1b[5;7H\x1b7\x1b[1;1H'); // cursor saved at 5;7, restored after the next keyframe
  o('\x1b(0lqqk\r\n'); // line drawing left on across the next keyframe
  o('y'.repeat(300 * 1024));
  o('xqx\x1b(B\x1b8saved-cursor\r\n');
  o('\x1b[?1049h\x1b[2J\x1b[Halt screen\x1b[?25l');
  o('z'.repeat(300 * 1024));
  lines.push(JSON.stringify([(t += 0.1), 'r', '30x8']));
  o('\r\nafter resize');
  o('\x1b[?25h\x1b[?1049l');
  o('\r\nback on the main screen');
  return lines.join('\n') + '\n';
}

describe('seeking reproduces exactly the screen of a linear replay', () => {
  it('on a recording with scroll regions, charsets, alternate screen, colours and resizes', async () => {
    const { rec, index } = await load(text(trickyRecording()));
    expect(index.keyframes.length).toBeGreaterThan(3);
    const pb = await Playback.open(rec, index);
    const order = Array.from({ length: rec.events.count }, (_, i) => i).reverse().concat([5, 2, 9, 0]);
    for (const k of order) {
      await pb.seek(timeline(rec, false)[k]!);
      const want = await linear(rec, k);
      expect({ k, text: pb.screen.text(), styled: pb.screen.styledLines(), cursor: pb.screen.cursor() }).toEqual({ k, ...want });
    }
  });

  it('on a generated incident session (full-screen redraws, floods, typing), at random moments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seek-'));
    try {
      const path = join(dir, 'gen.cast');
      await generateRecording(path, { bytes: 3_000_000 });
      const { rec, index } = await load(createReadStream(path));
      expect(index.keyframes.length).toBeGreaterThan(8);
      const pb = await Playback.open(rec, index);
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let n = 0; n < 25; n++) {
        const t = rand() * rec.duration;
        await pb.seek(t);
        const k = lastAtOrBefore(timeline(rec, false), rec.events.count, t);
        const want = await linear(rec, k);
        expect({ t, text: pb.screen.text(), styled: pb.screen.styledLines(), cursor: pb.screen.cursor() }).toEqual({ t, ...want });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
