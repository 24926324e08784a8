// Writes a synthetic asciicast v2 recording of a long incident session, deterministically:
// typed commands with echo, coloured log floods, full-screen redraws (alternate screen, scroll
// regions, cursor addressing), resizes, markers and a password prompt with redacted input.
// Used by the player benchmark (100 MB) and available to tests (small sizes).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const ev = (t, code, data) => `[${t.toFixed(6)}, "${code}", ${JSON.stringify(data)}]\n`;

/**
 * @param {string} path
 * @param {{ bytes: number, cols?: number, rows?: number, needle?: string }} o
 * @returns {Promise<{ bytes: number, events: number, duration: number, lastScreenLine: string }>}
 */
export async function generateRecording(path, o) {
  const cols = o.cols ?? 120;
  const rows = o.rows ?? 40;
  const rand = rng(42);
  const out = createWriteStream(path);
  let bytes = 0;
  let events = 0;
  let t = 0;
  const write = async (line) => {
    bytes += Buffer.byteLength(line);
    events++;
    if (!out.write(line)) await once(out, 'drain');
  };
  const header = {
    version: 2,
    width: cols,
    height: rows,
    timestamp: 1795420800,
    title: 'synthetic incident session',
    env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
    bastion: { session_id: 's-20261123T000000Z-0000bench', user: 'alice', target: 'db1', source_ip: '127.0.0.1', ticket: 'INC-4242', reason: 'benchmark recording for the player', break_glass: true, via: 'break-glass', mfa: 'totp', kind: 'shell', bastion_host: 'bench', bastion_version: 'bench' },
  };
  await write(JSON.stringify(header) + '\n');
  await write(ev(0, 'm', 'login: alice to db1 via break-glass, ticket INC-4242'));
  const prompt = '\x1b[1;32malice@db1\x1b[0m:\x1b[1;34m~\x1b[0m$ ';
  const type = async (text) => {
    for (const ch of text) {
      t += 0.05 + rand() * 0.15;
      await write(ev(t, 'i', ch));
      await write(ev(t + 0.002, 'o', ch));
    }
    t += 0.1;
    await write(ev(t, 'i', '\r'));
    await write(ev(t + 0.002, 'o', '\r\n'));
  };
  let round = 0;
  const target = o.bytes;
  while (bytes < target) {
    round++;
    t += 1 + rand() * 20;
    await write(ev(t, 'o', prompt));
    const kind = round % 7;
    if (kind === 3) {
      // a full-screen program: alternate screen, a scroll region, redraws with colours
      await type('top -d 1');
      await write(ev((t += 0.05), 'o', '\x1b[?1049h\x1b[?1h\x1b[H\x1b[2J'));
      for (let f = 0; f < 40 && bytes < target; f++) {
        t += 1;
        let frame = `\x1b[H\x1b[1mtop - ${String(f).padStart(2, '0')}:00 up 12 days, load average: ${(rand() * 4).toFixed(2)}\x1b[0m\x1b[K\r\n`;
        frame += `\x1b[2;${rows}r`;
        for (let r = 3; r <= rows; r++) {
          const pid = 1000 + Math.floor(rand() * 9000);
          frame += `\x1b[${r};1H\x1b[${rand() < 0.2 ? '7' : '0'}m${String(pid).padStart(6)} postgres  20   0 ${(rand() * 100).toFixed(1).padStart(5)}% \x1b[38;5;${Math.floor(rand() * 255)}m${'█'.repeat(Math.floor(rand() * 20))}\x1b[0m\x1b[K`;
        }
        frame += '\x1b[r';
        await write(ev(t, 'o', frame));
      }
      await write(ev((t += 0.3), 'i', 'q'));
      await write(ev((t += 0.01), 'o', '\x1b[?1l\x1b[?1049l'));
    } else if (kind === 5) {
      // a password prompt: input hidden, recorded as a marker only
      await type('psql -U admin');
      await write(ev((t += 0.1), 'o', 'Password for user admin: '));
      await write(ev((t += 2), 'm', '[redacted input: 13 bytes typed with echo off]'));
      await write(ev((t += 0.01), 'o', '\r\npsql (16.2)\r\nadmin=# '));
      await type('\\q');
    } else if (kind === 6) {
      const c = rand() < 0.5 ? cols : cols - 20;
      await write(ev((t += 0.5), 'r', `${c}x${rows}`));
      await write(ev((t += 0.01), 'm', `notice: round ${round}`));
    } else {
      // a flood of coloured log lines, in pieces like a pty delivers them
      await type(`journalctl -u api --since -${round}h`);
      const lines = 200 + Math.floor(rand() * 3000);
      let piece = '';
      for (let l = 0; l < lines; l++) {
        const lvl = rand() < 0.1 ? '\x1b[31mERROR\x1b[0m' : '\x1b[32mINFO\x1b[0m ';
        piece += `\x1b[2m2026-11-23T${String(l % 24).padStart(2, '0')}:00:00Z\x1b[0m ${lvl} api[${1000 + (l % 97)}]: request ${round}-${l} path=/v1/items/${Math.floor(rand() * 1e6)} status=${rand() < 0.1 ? 500 : 200} dur=${Math.floor(rand() * 900)}ms\r\n`;
        if (piece.length > 4000) {
          await write(ev((t += 0.001), 'o', piece));
          piece = '';
        }
      }
      if (piece) await write(ev((t += 0.001), 'o', piece));
    }
  }
  const lastScreenLine = o.needle ?? 'end of the synthetic session';
  await type(`echo ${lastScreenLine}`);
  await write(ev((t += 0.01), 'o', `${lastScreenLine}\r\n${prompt}`));
  out.end();
  await once(out, 'finish');
  return { bytes, events, duration: t, lastScreenLine };
}
