import blessed from 'blessed';
import { formatTable, type SessionRow } from './list.js';
import type { Opened } from './load.js';
import { runPlayerUi } from './ui.js';

/**
 * The interactive session list: Enter plays the selected session, q in the player comes back
 * here, q here quits. `open` loads a session for playback (errors are shown, not fatal).
 */
export async function runListUi(rows: readonly SessionRow[], open: (row: SessionRow) => Promise<Opened>): Promise<void> {
  const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'bastion-player: sessions', warnings: false });
  const [heading, ...lines] = formatTable(rows);
  const head = blessed.box({ parent: screen, top: 0, left: 0, height: 1, width: '100%', content: ` ${heading}`, style: { bold: true } });
  const list = blessed.list({
    parent: screen,
    top: 1,
    left: 0,
    bottom: 1,
    width: '100%',
    items: lines.map((l) => ` ${l}`),
    keys: true,
    vi: true,
    tags: false,
    style: { selected: { inverse: true } },
  });
  const hint = blessed.box({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', content: `${rows.length} session${rows.length === 1 ? '' : 's'}  ↑/↓ choose  Enter play  q quit` });
  list.focus();
  screen.render();
  await new Promise<void>((resolve) => {
    let busy = false;
    const quit = () => {
      if (busy) return;
      screen.destroy();
      resolve();
    };
    screen.key(['q', 'C-c'], quit);
    list.on('select', (_item: unknown, index: number) => {
      const row = rows[index];
      if (!row || busy) return;
      busy = true;
      hint.setContent(`opening ${row.id}…`);
      screen.render();
      void open(row)
        .then(async (opened) => {
          for (const el of [head, list, hint]) el.hide();
          await runPlayerUi(opened, { screen });
          for (const el of [head, list, hint]) el.show();
          hint.setContent(`${rows.length} sessions  ↑/↓ choose  Enter play  q quit`);
        })
        .catch((err: unknown) => hint.setContent(`cannot open ${row.id}: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => {
          busy = false;
          list.focus();
          screen.render();
        });
    });
  });
}
