import { describe, expect, it } from 'vitest';
import { TerminalFilter } from '../../player/terminal-filter.js';

const run = (...parts: string[]) => {
  const f = new TerminalFilter();
  return parts.map((p) => f.filter(Buffer.from(p)).toString()).join('');
};

describe('what a watched session may send to the reviewer\'s terminal', () => {
  it('keeps text, colours, cursor moves and modes', () => {
    const drawing = 'a\x1b[1;31mred\x1b[0m\x1b[5;10H\x1b[?1049h\x1b[2J\x1b7\x1b8\x1b(0q\x1b(B\r\n';
    expect(run(drawing)).toBe(drawing);
  });

  it('drops clipboard writes, titles, device queries and window operations, even split across frames', () => {
    expect(run('x\x1b]52;c;ZXZpbA==\x07y')).toBe('xy');
    expect(run('x\x1b]0;title\x1b\\y')).toBe('xy');
    expect(run('a\x1bP$q"p\x1b\\b')).toBe('ab');
    expect(run('a\x1b[6n\x1b[c\x1b[>0c\x1b[18t\x1b[?2026$pb')).toBe('ab');
    expect(run('a\x1b', ']52;c;', 'ZXZp', 'bA==\x07', 'b')).toBe('ab');
    expect(run('a\x1b[', '1;3', '1m', 'b\x1b[', '6', 'n')).toBe('a\x1b[1;31mb');
  });
});
