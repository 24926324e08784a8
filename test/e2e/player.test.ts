import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ROOT, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { runSsh, startPtySsh } from '../helpers/ssh.js';
import { FileKvStore } from '../../src/state/file-kv-store.js';
import type { ReviewItem } from '../../src/governance/reviews.js';
import { oathtool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';
import { s3cmd } from '../helpers/s3cmd.js';
import { startTmux, type Tmux } from '../helpers/tmux.js';

const PLAYER = join(ROOT, 'dist/player/cli.js');

/** The built player as a user runs it. */
function player(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PLAYER, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('bastion-player on a session recorded through the bastion', () => {
  let b: TestBastion;
  let sessionId: string;
  let cast: string; // the recording's text
  let castPath: string;
  let env: Record<string, string>;
  const tmuxes: Tmux[] = [];

  beforeAll(async () => {
    b = await startTestBastion({
      users: ['alice', 'bob'],
      targets: { prod: { type: 'local', shell: '/bin/bash' } },
      roles: { oncall: { standing: ['shell'], break_glass: ['prod'] } },
    });
    env = { BASTION_S3_ENDPOINT: b.s3Endpoint! };
    const report = join(b.dir, 'report.txt');
    writeFileSync(report, Array.from({ length: 200 }, (_, i) => `row ${i + 1} of the report`).join('\n') + '\n');
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: oathtool(b.users.alice!.secret) }, { cols: 100, rows: 30 });
    p.write("PS1='READY> '\r");
    await p.waitFor(/READY> $/);
    p.write("printf '\\033[1;31mRED-ALERT\\033[0m in colour\\n'\r");
    await p.waitFor(/RED-ALERT\x1b\[0m in colour/);
    p.write('read -s -p "Password: " PW; echo; echo "got ${#PW} chars"\r');
    await p.waitFor(/Password: $/);
    p.write('hunter2-secret\r');
    await p.waitFor(/got 14 chars/);
    p.write(`less ${report}\r`);
    await p.waitFor(/row 29 of the report/);
    await new Promise((r) => setTimeout(r, 1500)); // the full-screen program stays up a while
    p.write('q');
    await p.waitFor(/READY> $/);
    p.resize(120, 40);
    await new Promise((r) => setTimeout(r, 300));
    p.write('echo "cols=$(tput cols) rows=$(tput lines)"\r');
    await p.waitFor(/cols=120 rows=40/);
    p.write('exit 0\r');
    expect(await p.exited).toBe(0);
    const uploaded = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded', 20_000);
    sessionId = String(uploaded.session_id);
    const key = String(uploaded.object).replace('s3://bastion-recordings/', '');
    castPath = join(b.dir, `${sessionId}.cast.gz`);
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key}`, castPath]);
    await s3cmd(b.s3Endpoint!, ['get', '--force', `s3://bastion-recordings/${key.replace('.cast.gz', '.manifest.json')}`, join(b.dir, `${sessionId}.manifest.json`)]);
    cast = gunzipSync(readFileSync(castPath)).toString('utf8');
  });
  afterAll(() => {
    for (const t of tmuxes) t.kill();
    b?.cleanup();
  });

  /** The time of the first output event containing `text`. */
  const timeOf = (text: string) => {
    const line = cast.split('\n').find((l) => l.includes('"o"') && l.includes(text));
    return (JSON.parse(line!) as [number])[0];
  };

  it('--keystrokes: the typed commands with times, the password as redacted, less and its q', async () => {
    const r = await player([sessionId, '--config', b.configPath, '--keystrokes'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3}  /);
    const typed = lines.map((l) => l.slice(14));
    expect(typed).toEqual(expect.arrayContaining([
      "PS1='READY> '⏎",
      'read -s -p "Password: " PW; echo; echo "got ${#PW} chars"⏎',
      expect.stringMatching(/^\[redacted: 1[45] bytes\]$/),
      expect.stringMatching(/^less .*report\.txt⏎$/),
      'q', // typed in less: a line of its own
      'exit 0⏎',
    ]));
    expect(r.stdout).not.toContain('hunter2');
  });

  it('--screen-at: the full-screen program while it ran, and the main screen after it (with the resize)', async () => {
    const during = await player([castPath, '--screen-at', String(timeOf('row 1 of the report') + 0.5)]);
    expect(during.code).toBe(0);
    const rows = during.stdout.split('\n');
    expect(rows[0]).toBe('row 1 of the report');
    expect(rows[28]).toBe('row 29 of the report');
    expect(during.stdout).not.toContain('READY>');
    const after = await player([castPath, '--screen-at', '9999']);
    expect(after.stdout).toContain('RED-ALERT in colour');
    expect(after.stdout).toContain('cols=120 rows=40');
    expect(after.stdout).not.toContain('row 1 of the report'); // less restored the main screen
    expect(after.stderr).toMatch(/note: the recording ends at 0:00:\d\d\.\d; this is its last screen/);
  });

  it('--cat prints the output stream; --verify checks the signature, and fails on a changed byte', async () => {
    const cat = await player([castPath, '--cat']);
    expect(cat.stdout).toContain('\x1b[1;31mRED-ALERT\x1b[0m in colour');
    const ok = await player([sessionId, '--config', b.configPath, '--verify'], env);
    expect(ok.stdout).toMatch(/^OK: s3:\/\/bastion-recordings\/.*signature and hash chain valid/);
    expect(ok.code).toBe(0);
    const tampered = cast.replace('in colour', 'in kolour');
    writeFileSync(join(b.dir, `${sessionId}.cast`), tampered);
    const bad = await player([join(b.dir, `${sessionId}.cast`), '--config', b.configPath, '--verify']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAILED: .*: chunk \d+ \(bytes \d+-\d+\): content changed/);
  });

  it('list: sessions from the bucket\'s manifests, filtered; --unreviewed follows the review queue', async () => {
    // A break-glass session (bob on prod) opens a review item at once.
    const bg = await runSsh(b, b.users.bob!, ['echo break-glass-work'], { code: oathtool(b.users.bob!.secret) }, { login: 'bob:prod' });
    expect(bg.stdout).toBe('break-glass-work\n');
    const opened = await waitForAudit(b.dataDir, (l) => l.type === 'review.opened' && l.user === 'bob');
    const bgId = String(opened.session_id);
    await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded' && l.session_id === bgId, 20_000);

    const r = await player(['list', '--config', b.configPath], env);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const [heading, ...rows] = r.stdout.trim().split('\n');
    expect(heading).toMatch(/^STARTED \(UTC\)\s+DURATION\s+USER\s+TARGET\s+TICKET\s+BREAK-GLASS\s+SESSION\s+SIGNATURE$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+0:00:\\d\\d\\s+bob\\s+prod\\s+INC-4242\\s+YES\\s+${bgId}\\s+valid$`)); // newest first
    expect(rows[1]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+0:00:\\d\\d\\s+alice\\s+shell\\s+INC-4242\\s+${sessionId}\\s+valid$`));
    const ids = async (...args: string[]) => (JSON.parse((await player(['list', '--config', b.configPath, '--json', ...args], env)).stdout) as { id: string }[]).map((s) => s.id);
    expect(await ids('--user', 'alice')).toEqual([sessionId]);
    expect(await ids('--target', 'prod')).toEqual([bgId]);
    expect(await ids('--break-glass')).toEqual([bgId]);
    expect(await ids('--since', '1d')).toEqual([bgId, sessionId]);
    expect(await ids('--unreviewed')).toEqual([bgId]);
    // A reviewer approves it (written to the review store as \`bastion review approve\` does): no longer unreviewed.
    await new FileKvStore<ReviewItem>(join(b.dataDir, 'state', 'reviews.json')).update(bgId, (cur) => ({ ...cur!, status: 'approved', history: [{ at: Date.now(), by: 'carol', action: 'approved', note: 'ok' }] }));
    expect(await ids('--unreviewed')).toEqual([]);
    expect((await player(['list', '--config', b.configPath, '--user', 'nobody'], env)).stdout).toBe('no recorded sessions match\n');
  });

  it('the TUI in tmux: plays, pauses, seeks, searches, changes speed, shows details, quits', async () => {
    const t = startTmux(`node ${PLAYER} ${sessionId} --config ${b.configPath}; echo "player exited $?"; sleep 30`, { env });
    tmuxes.push(t);
    // It starts playing and stops at the end (the session is a few seconds long).
    let screen = await t.waitFor(/■ (\d\d:\d\d\.\d) \/ \1 \[[=|]*>\] 1x {2}alice → shell {2}INC-4242/, 20_000);
    expect(screen).toContain('cols=120 rows=40');
    expect(screen).toContain('exit 0⏎'); // the keystroke panel
    expect(screen).toContain('[redacted: 15 bytes]');
    // The recording was resized to 120x40, more than fits beside the keystroke panel.
    expect(screen).toMatch(/cropped: recording is 120x40, showing 84x38/);

    t.send('Home');
    screen = await t.waitFor(/❚❚ 00:00\.0 \//);
    expect(screen).not.toContain('RED-ALERT in colour');

    t.send('/');
    t.type('red-alert');
    await t.waitFor(/\/red-alert█/);
    t.send('Enter');
    await t.waitFor(/"red-alert" typed at \d\d:\d\d\.\d/); // first the printf command as it was typed
    // `n` goes on to where it was shown: the shell's echo of the command line, then printf's output.
    for (let i = 0; i < 4 && !/RED-ALERT in colour/.test(screen); i++) {
      t.send('n');
      await t.waitFor(/"red-alert" shown at \d\d:\d\d\.\d/);
      await new Promise((r) => setTimeout(r, 200));
      screen = t.capture();
    }
    expect(screen).toContain('RED-ALERT in colour');
    expect(screen).not.toContain('Password:');

    t.send('+', '+', '+', '+');
    await t.waitFor(/ 16x /);
    t.send('-', '-', '-', '-', '-', '-');
    await t.waitFor(/ 0\.25x /);
    t.send('Space');
    await t.waitFor(/▶ \d\d:\d\d\.\d \//);
    t.send('Space');
    await t.waitFor(/❚❚ \d\d:\d\d\.\d \//);

    t.send('End');
    screen = await t.waitFor(/■ (\d\d:\d\d\.\d) \/ \1/);
    expect(screen).toContain('cols=120 rows=40');
    t.send('Left');
    screen = await t.waitFor(/❚❚ 00:00\.0 \//); // 5 s back from a 3 s session
    t.send('5');
    await t.waitFor(/❚❚ 00:0\d\.\d \//);

    t.send('d');
    screen = await t.waitFor(/verification {3}VERIFIED/);
    expect(screen).toContain(sessionId);
    expect(screen).toMatch(/ticket +INC-4242/);
    t.send('d', '?');
    await t.waitFor(/\/ n {8}search output and typed input \/ next hit/);
    t.send('?', 'q');
    await t.waitFor(/player exited 0/);
  });
});
