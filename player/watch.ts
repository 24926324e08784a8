import WebSocket from 'ws';
import { BastionError } from '../src/errors.js';
import { visible } from './format.js';
import { TerminalFilter } from './terminal-filter.js';

const REFUSED: Record<number, string> = {
  401: 'the token is missing, wrong, expired or revoked (bastion token issue NAME --role auditor)',
  403: 'the token may not do this (role), or this origin is not allowed',
  404: 'no live session with that id on this bastion (it may have ended)',
};

/**
 * `bastion-player watch ID --url URL --token T`: a live session in this terminal, read-only. The
 * first frame is the current screen; then the output as it happens. q or Ctrl-C stops watching.
 */
export async function watchMode(id: string, o: { url: string; token?: string }): Promise<number> {
  const token = o.token ?? process.env.BASTION_VIEWER_TOKEN;
  if (!token) throw new BastionError('CONFIG_INVALID', 'give --token, or set BASTION_VIEWER_TOKEN (keeps it out of shell history)');
  if (!process.stdout.isTTY) throw new BastionError('CONFIG_INVALID', 'watching needs a terminal');
  const base = o.url.replace(/\/+$/, '').replace(/^http/, 'ws');
  const ws = new WebSocket(`${base}/api/sessions/${encodeURIComponent(id)}/watch`, ['bastion.v1'], { headers: { Authorization: `Bearer ${token}` } });
  const out = process.stdout;
  let entered = false;
  let ending = '';
  return new Promise<number>((resolve) => {
    const finish = (code: number, message: string) => {
      if (entered) out.write('\x1b[?1049l\x1b[?25h');
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
      process.stdin.pause();
      process.stderr.write(`bastion-player: ${message}\n`);
      resolve(code);
    };
    ws.on('unexpected-response', (_req, res) => finish(1, `refused (${res.statusCode}): ${REFUSED[res.statusCode ?? 0] ?? 'unexpected answer'}`));
    ws.on('error', (err) => finish(1, `cannot reach ${o.url}: ${err.message}`));
    const filter = new TerminalFilter();
    ws.on('message', (data, isBinary) => {
      if (isBinary) return void out.write(filter.filter(data as Buffer));
      let m: Record<string, unknown> & { session?: Record<string, unknown> };
      try {
        m = JSON.parse(data.toString()) as typeof m;
      } catch {
        return ws.close(1003, 'the server sent a frame that is not JSON');
      }
      if (m.type === 'hello' || m.type === 'screen') {
        entered = true;
        const s = m.session ?? {};
        if (m.type === 'hello') out.write(`\x1b]2;watching ${visible(String(s.user))} on ${visible(String(s.target))} (${visible(String(s.ticket))})\x07`);
        out.write('\x1b[?1049h\x1b[H\x1b[2J\x1b[0m');
        out.write(new TerminalFilter().filter(Buffer.from(String(m.screen))));
      } else if (m.type === 'end') {
        ending = `the session ended: ${visible(String(m.reason))}${m.exit_code !== null ? `, exit status ${String(m.exit_code)}` : ''}`;
      }
    });
    ws.on('close', (code, reason) => finish(code === 1000 ? 0 : 1, ending || (code === 1000 ? 'stopped watching' : `disconnected (${code}${reason.length ? `: ${reason.toString()}` : ''})`)));
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (d: Buffer) => {
      if (d.includes(0x71) || d.includes(0x03)) ws.close(1000, 'viewer quit');
    });
  });
}
