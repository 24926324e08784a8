import blessed from 'blessed';
import type { Opened } from './load.js';
import { Playback } from './playback.js';
import { formatKeys, typedLines, type TypedLine } from './keys.js';
import { findNext } from './search.js';
import { formatTime, progressBar, visible } from './format.js';

const FRAME_MS = 40;
const KEYS_PANEL_WIDTH = 36;

const HELP = [
  'space      play / pause',
  '← →        back / forward 5 s',
  'S-← S-→    back / forward 60 s (also PgUp / PgDn)',
  '0 … 9      jump to 0% … 90%',
  'Home End   start / end',
  '+ -        speed (0.25x … 16x)',
  '.          one event forward (while paused)',
  'm M        next / previous marker',
  '/ n        search output and typed input / next hit',
  'i          idle compression (pauses cut to 2 s)',
  'k          keystroke panel on / off',
  'd          session details and verification',
  '?          this help',
  'q          quit',
];

/** The interactive player: runs until the user quits. Resolves then; the caller exits or goes back to a list. */
export async function runPlayerUi(opened: Opened, o: { screen?: blessed.Widgets.Screen; speed?: number; paused?: boolean } = {}): Promise<void> {
  const pb = await Playback.open(opened.rec, opened.index!);
  for (let i = 0; i < 7 && o.speed !== undefined && pb.speed < o.speed; i++) pb.faster();
  for (let i = 0; i < 7 && o.speed !== undefined && pb.speed > o.speed; i++) pb.slower();
  const own = !o.screen;
  const screen = o.screen ?? blessed.screen({ smartCSR: true, fullUnicode: true, title: 'bastion-player', warnings: false });
  const lines: TypedLine[] = typedLines(opened.rec.events);
  let markers = pb.markers();
  const meta = opened.rec.header.bastion ?? {};

  const pane = blessed.box({ parent: screen, top: 0, left: 0, tags: false });
  const keysBox = blessed.box({ parent: screen, top: 0, right: 0, width: KEYS_PANEL_WIDTH, bottom: 2, border: { type: 'line' }, label: ' keystrokes ', tags: false });
  const status = blessed.box({ parent: screen, bottom: 1, left: 0, height: 1, width: '100%', tags: false, style: { fg: 'white', bg: 'blue' } });
  const hint = blessed.box({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', tags: false });
  const overlay = blessed.box({ parent: screen, top: 'center', left: 'center', width: '80%', height: '80%', border: { type: 'line' }, tags: false, hidden: true, scrollable: true, keys: false });

  let showKeys = true;
  let message = opened.warnings.length > 0 ? `note: ${opened.warnings[0]}${opened.warnings.length > 1 ? ` (+${opened.warnings.length - 1} more, see d)` : ''}` : '';
  let searching: string | undefined; // the query being typed, while the search prompt is open
  let lastQuery = '';

  const render = () => {
    const W = screen.width as number;
    const H = screen.height as number;
    const keysWidth = showKeys && W - KEYS_PANEL_WIDTH >= 20 ? KEYS_PANEL_WIDTH : 0;
    const availCols = Math.max(1, W - keysWidth);
    const availRows = Math.max(1, H - 2);
    const sc = pb.screen;
    const cols = Math.min(sc.cols, availCols);
    const rows = Math.min(sc.rows, availRows);
    const cur = sc.cursor();
    const top = Math.max(0, Math.min(cur.y - rows + 1, sc.rows - rows));
    pane.width = cols;
    pane.height = rows;
    pane.setContent(sc.styledLines({ width: cols, height: rows, top }).join('\n'));
    keysBox.hidden = keysWidth === 0;
    if (keysWidth) keysBox.setContent(keystrokePanel(lines, pb.currentIndex, Math.max(1, H - 4), keysWidth - 2, pb.duration >= 3600));
    const cropped = cols < sc.cols || rows < sc.rows ? `  cropped: recording is ${sc.cols}x${sc.rows}, showing ${cols}x${rows}` : '';
    const state = pb.ended && pb.paused ? '■' : pb.paused ? '❚❚' : '▶';
    const long = pb.duration >= 3600;
    const left = `${state} ${formatTime(pb.position, long)} / ${formatTime(pb.duration, long)} `;
    const right = ` ${pb.speed}x${pb.idleCompression ? ' idle≤2s' : ''}  ${visible(String(meta.user ?? '?'))} → ${visible(String(meta.target ?? '?'))}  ${visible(String(meta.ticket ?? ''))}${meta.break_glass ? '  BREAK-GLASS' : ''} `;
    const barWidth = Math.max(10, W - left.length - right.length);
    status.setContent(left + progressBar(pb.position, pb.duration, markers, barWidth) + right);
    status.style.bg = meta.break_glass ? 'red' : 'blue';
    if (searching !== undefined) hint.setContent(`/${searching}█  (Enter search, Esc cancel)`);
    else hint.setContent(message ? `${message}${cropped}` : `space play/pause  ←/→ 5s  / search  m marker  d details  ? help  q quit${cropped}`);
    screen.render();
  };

  // Every action runs after the previous one: a seek never overlaps a tick.
  let queue: Promise<void> = Promise.resolve();
  const act = (fn: () => Promise<void> | void) => {
    queue = queue.then(async () => {
      await fn();
      render();
    }).catch((err: unknown) => {
      message = `error: ${err instanceof Error ? err.message : String(err)}`;
    });
  };

  let last = Date.now();
  let ticking = false;
  const timer = setInterval(() => {
    const now = Date.now();
    const elapsed = now - last;
    last = now;
    if (pb.paused || ticking) return;
    ticking = true;
    act(async () => {
      await pb.tick(elapsed);
      ticking = false;
    });
  }, FRAME_MS);

  const jump = (t: number) => act(() => pb.seek(t));
  const search = (query: string, after: number) =>
    act(async () => {
      const hit = findNext(opened.rec.events, query, after);
      if (!hit) {
        message = `"${visible(query)}" not found`;
        return;
      }
      pb.pause();
      await pb.seekToEvent(hit.index);
      message = `"${visible(query)}" ${hit.inInput ? 'typed' : 'shown'} at ${formatTime(pb.timeOf(hit.index))}${hit.wrapped ? ' (search wrapped to the start)' : ''}  n: next`;
    });
  const details = () => {
    overlay.setLabel(' session details (d to close) ');
    overlay.setContent(detailLines(opened).join('\n'));
    overlay.hidden = !overlay.hidden;
  };
  const help = () => {
    overlay.setLabel(' keys (? to close) ');
    overlay.setContent(HELP.join('\n'));
    overlay.hidden = !overlay.hidden;
  };

  return new Promise<void>((resolve) => {
    const quit = () => {
      clearInterval(timer);
      screen.removeListener('keypress', onKey);
      screen.removeListener('resize', render);
      for (const el of [pane, keysBox, status, hint, overlay]) el.destroy();
      pb.screen.dispose();
      if (own) screen.destroy();
      resolve();
    };
    const onKey = (ch: string | undefined, key: { full?: string; name?: string }) => {
      const k = key.full ?? key.name ?? ch ?? '';
      if (searching !== undefined) {
        if (k === 'enter' || k === 'return') {
          lastQuery = searching;
          searching = undefined;
          if (lastQuery) search(lastQuery, pb.currentIndex);
        } else if (k === 'escape' || k === 'C-c') searching = undefined;
        else if (k === 'backspace') searching = searching.slice(0, -1);
        else if (ch && ch >= ' ' && ch !== '\x7f') searching += ch;
        render();
        return;
      }
      message = '';
      if (k === 'q' || k === 'C-c') return quit();
      if (k === 'space') act(() => pb.togglePause());
      else if (k === 'left') jump(pb.position - 5);
      else if (k === 'right') jump(pb.position + 5);
      else if (k === 'S-left' || k === 'pageup') jump(pb.position - 60);
      else if (k === 'S-right' || k === 'pagedown') jump(pb.position + 60);
      else if (k === 'home') jump(0);
      else if (k === 'end') jump(pb.duration);
      else if (ch && /^[0-9]$/.test(ch)) jump((pb.duration * Number(ch)) / 10);
      else if (ch === '+' || ch === '=') act(() => pb.faster());
      else if (ch === '-' || ch === '_') act(() => pb.slower());
      else if (ch === '.') act(async () => (pb.pause(), await pb.step()));
      else if (ch === 'm') jump(markers.find((m) => m > pb.position + 0.0005) ?? pb.position);
      else if (ch === 'M') jump([...markers].reverse().find((m) => m < pb.position - 0.0005) ?? 0);
      else if (ch === '/') searching = '';
      else if (ch === 'n') {
        if (lastQuery) search(lastQuery, pb.currentIndex);
        else message = 'no search yet: press / first';
      } else if (ch === 'i') {
        act(() => {
          pb.toggleIdleCompression();
          markers = pb.markers();
          message = pb.idleCompression ? 'idle compression on: pauses longer than 2 s are cut to 2 s' : 'idle compression off';
        });
      } else if (ch === 'k') showKeys = !showKeys;
      else if (ch === 'd') details();
      else if (ch === '?') help();
      else if (k === 'escape') overlay.hidden = true;
      render();
    };
    screen.on('keypress', onKey);
    screen.on('resize', render);
    if (o.paused) render();
    else act(() => pb.togglePause()); // starts playing, like asciinema
  });
}

/** The last keystroke lines up to the event on screen, newest at the bottom. */
function keystrokePanel(lines: readonly TypedLine[], current: number, height: number, width: number, long: boolean): string {
  let end = lines.length;
  while (end > 0 && lines[end - 1]!.index > current) end--;
  return lines
    .slice(Math.max(0, end - height), end)
    .map((l) => `${formatTime(l.t, long)} ${formatKeys(l.keys)}`.slice(0, width))
    .join('\n');
}

function detailLines(opened: Opened): string[] {
  const h = opened.rec.header;
  const m = h.bastion ?? {};
  const field = (name: string, v: unknown) => (v === undefined || v === '' ? [] : [`${name.padEnd(14)} ${visible(String(v))}`]);
  return [
    ...field('recording', opened.name),
    ...field('session', m.session_id),
    ...field('user', m.user),
    ...field('target', m.target),
    ...field('ticket', m.ticket),
    ...field('reason', m.reason),
    ...field('access via', m.via),
    ...field('break-glass', m.break_glass === undefined ? undefined : m.break_glass ? 'YES' : 'no'),
    ...field('mfa', m.mfa),
    ...field('source ip', m.source_ip),
    ...field('kind', m.kind),
    ...field('command', m.command),
    ...field('started', h.timestamp !== undefined ? new Date(h.timestamp * 1000).toISOString() : undefined),
    ...field('duration', formatTime(opened.rec.duration, true)),
    ...field('size', `${h.cols}x${h.rows}`),
    ...field('TERM', h.term),
    ...field('SHELL', h.shell),
    ...field('title', h.title),
    ...field('bastion', m.bastion_host ? `${m.bastion_host} ${m.bastion_version ?? ''}` : undefined),
    ...field('events', opened.rec.events.count),
    '',
    `verification   ${opened.verification.state.toUpperCase()}`,
    ...opened.verification.text.split('\n').map((l) => `               ${visible(l)}`),
    ...(opened.warnings.length ? ['', 'warnings', ...opened.warnings.map((w) => `  ${visible(w)}`)] : []),
  ];
}
