/** Pure text helpers for the player: times, the progress bar, header fields. */

/** 75.2 → "01:15.2"; with hours when the recording is that long: "1:02:03". */
export function formatTime(t: number, withHours = t >= 3600): string {
  const tenths = Math.round(Math.max(0, t) * 10); // rounded once, so 59.96 s is 01:00.0, never 00:60.0
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const ss = ((tenths % 600) / 10).toFixed(1).padStart(4, '0');
  const mm = String(withHours ? m : m + h * 60).padStart(2, '0');
  return withHours ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** For the keystroke timeline: always hours, millisecond precision. */
export function formatStamp(t: number): string {
  const ms = Math.round(Math.max(0, t) * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = ((ms % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${sec}`;
}

/** `[=====>----|----|--]`: position, and a `|` where each marker is. */
export function progressBar(position: number, duration: number, markers: readonly number[], width: number): string {
  const inner = Math.max(1, width - 2);
  const at = duration > 0 ? Math.min(inner - 1, Math.floor((position / duration) * inner)) : 0;
  const cells: string[] = [];
  for (let i = 0; i < inner; i++) cells.push(i < at ? '=' : '-');
  for (const m of markers) {
    const i = duration > 0 ? Math.min(inner - 1, Math.floor((m / duration) * inner)) : 0;
    if (i !== at) cells[i] = '|';
  }
  cells[at] = '>';
  return `[${cells.join('')}]`;
}

/** "12.5" → 12.5; "1:02" → 62; "1:02:03.5" → 3723.5. Undefined when it is not a time. */
export function parseTime(s: string): number | undefined {
  const parts = s.trim().split(':');
  if (parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

/** Text from a recording, safe to put on the viewer's terminal: control characters shown, not obeyed. */
export function visible(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
