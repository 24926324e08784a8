import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../helpers/bastion.js';
import { startTmux, type Tmux } from '../helpers/tmux.js';

const PLAYER = join(ROOT, 'dist/player/cli.js');

function player(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PLAYER, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

const header = JSON.stringify({ version: 2, width: 80, height: 24 });
const ev = (t: number, code: string, data: string) => JSON.stringify([t, code, data]);

/** Never a stack trace, never a crash code: a clear line on stderr. */
function expectClean(r: { code: number | null; stderr: string }): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr).not.toContain('unexpected error');
  expect([0, 1]).toContain(r.code);
}

describe('bastion-player on bad input: a clear error or a best-effort play, never a hang or a stack trace', () => {
  let dir: string;
  const file = (name: string, content: string | Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const tmuxes: Tmux[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'player-bad-'));
  });
  afterAll(() => {
    for (const t of tmuxes) t.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a truncated file plays up to the cut, with a warning', async () => {
    const p = file('truncated.cast', [header, ev(1, 'o', 'before the cut\r\n'), '[2.0, "o", "lost in the mid'].join('\n'));
    const r = await player([p, '--cat']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('before the cut\r\n');
    expect(r.stderr).toBe('bastion-player: warning: the last line (line 3) is cut off: the recording ends early or was truncated\n');
  });

  it('a line that is not JSON is skipped and named; the rest plays', async () => {
    const p = file('garbled.cast', [header, ev(1, 'o', 'one '), '{{{ not json', ev(2, 'o', 'two')].join('\n') + '\n');
    const r = await player([p, '--screen-at', '5']);
    expectClean(r);
    expect(r.stdout).toBe('one two\n');
    expect(r.stderr).toContain('bastion-player: warning: line 3: not JSON; skipped\n');
  });

  it('a version 3 header (the newer asciicast) plays; an unknown version is refused by name', async () => {
    const v3 = file('v3.cast', [JSON.stringify({ version: 3, term: { cols: 80, rows: 24 } }), '[0.5, "o", "from v3 "]', '[0.5, "o", "intervals"]'].join('\n') + '\n');
    const ok = await player([v3, '--screen-at', '1']);
    expectClean(ok);
    expect(ok.stdout).toBe('from v3 intervals\n');
    const v9 = file('v9.cast', JSON.stringify({ version: 9, width: 80, height: 24 }) + '\n' + ev(1, 'o', 'x') + '\n');
    const bad = await player([v9, '--cat']);
    expectClean(bad);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('bastion-player: asciicast version 9 is not supported (this player reads versions 2 and 3)\n');
  });

  it('--cat into a slow reader: all of a 40 MB recording, and nothing on stderr', async () => {
    // The player waits for the pipe to drain many times: no listener may pile up (Node would warn).
    const p = join(dir, 'big.cast');
    const fd = openSync(p, 'w');
    writeSync(fd, `${header}\n`);
    const piece = 'y'.repeat(20_000);
    for (let i = 0; i < 2000; i++) writeSync(fd, `${ev(i / 100, 'o', piece)}\n`);
    closeSync(fd);
    const r = await new Promise<{ code: number | null; count: string; stderr: string }>((resolve) => {
      const child = spawn('sh', ['-c', `"${process.execPath}" "${PLAYER}" "${p}" --cat | (sleep 1; wc -c)`], { env: { ...process.env, NODE_OPTIONS: '' } });
      let count = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (count += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, count: count.trim(), stderr }));
    });
    expect(r).toEqual({ code: 0, count: String(2000 * 20_000), stderr: '' });
  });

  it('a 1 GB line is skipped without being held in memory; the events around it play', async () => {
    const p = join(dir, 'huge-line.cast');
    const fd = openSync(p, 'w');
    writeSync(fd, `${header}\n${ev(1, 'o', 'before ')}\n[2, "o", "`);
    const block = Buffer.alloc(16 * 1024 * 1024, 0x61);
    for (let i = 0; i < 64; i++) writeSync(fd, block); // 1 GiB inside one JSON string
    writeSync(fd, `"]\n${ev(3, 'o', 'after')}\n`);
    closeSync(fd);
    const r = await player([p, '--cat']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('before after');
    expect(r.stderr).toBe('bastion-player: warning: line 3: 1.0 GiB long, over the 64.0 MiB line limit; skipped\n');
  });

  it('a gzip bomb stops at the size limit with an error that says what to do', async () => {
    const line = Buffer.from(ev(1, 'o', 'z'.repeat(60_000)) + '\n');
    const member = gzipSync(Buffer.concat(Array.from({ length: 1100 }, () => line))); // ~64 MiB → a few hundred KB
    const bomb = Buffer.concat([gzipSync(Buffer.from(header + '\n')), ...Array.from({ length: 40 }, () => member)]); // 2.5 GiB decompressed
    const p = file('bomb.cast.gz', bomb);
    const r = await player([p, '--screen-at', '0']);
    expectClean(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('bastion-player: the recording is larger than 1024 MiB once decompressed (a gzip bomb, or an extremely long session); pass --max-bytes to allow more\n');
    const small = await player([p, '--screen-at', '0', '--max-bytes', '16']);
    expect(small.stderr).toContain('larger than 16 MiB once decompressed');
  });

  it('binary garbage, a missing file, a directory, an empty file: one clear line each', async () => {
    const cases: [string[], string][] = [
      [[file('garbage.bin', Buffer.from([0, 159, 146, 150, 10, 255]))], 'bastion-player: the first line is not JSON: this is not an asciicast recording\n'],
      [[join(dir, 'nope.cast')], `bastion-player: ${join(dir, 'nope.cast')}: no such file\n`],
      [[dir], `bastion-player: ${dir}: not a file\n`],
      [[file('empty.cast', '')], 'bastion-player: the recording is empty\n'],
      [[file('fine.cast', header + '\n'), '--screen-at', 'soon'], "error: option '--screen-at <seconds>' argument 'soon' is invalid. expected seconds (75.5) or a time (1:15.5, 1:02:03)\n"],
    ];
    for (const [args, message] of cases) {
      const r = await player([...args, ...(args.length === 1 ? ['--cat'] : [])]);
      expectClean(r);
      expect(r.stderr.split('\n\n')[0]!.trimEnd() + '\n').toBe(message);
    }
  });

  it('without a terminal the interactive player says what to use instead', async () => {
    const r = await player([file('ok.cast', header + '\n' + ev(1, 'o', 'x') + '\n')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('bastion-player: the interactive player needs a terminal; in scripts use --cat, --screen-at, --keystrokes or --verify\n');
  });

  it('the TUI opens a damaged recording, plays what is valid and shows why', async () => {
    const p = file('damaged.cast', [header, ev(0.2, 'o', 'VALID-PART\r\n'), 'garbage line', '[9, "o", "cut'].join('\n'));
    const t = startTmux(`node ${PLAYER} ${p}; echo "player exited $?"; sleep 30`);
    tmuxes.push(t);
    await t.waitFor(/note: line 3: not JSON; skipped \(\+1 more, see d\)/);
    await t.waitFor(/VALID-PART[^]*■ 00:00\.2 \/ 00:00\.2/);
    t.send('d');
    await t.waitFor(/the last line \(line 4\) is cut off/);
    t.send('q');
    await t.waitFor(/player exited 0/);
  });
});
