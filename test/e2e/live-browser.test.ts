import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { CLI, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startPtySsh } from '../helpers/ssh.js';
import { oathtool, requireTool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';

// The live page in a real browser: Debian's Chromium driven by playwright-core (never a downloaded browser).
describe('the live view in Chromium', () => {
  let b: TestBastion;
  let browser: Browser;
  beforeAll(async () => {
    const executablePath = requireTool('chromium', 'chromium');
    b = await startTestBastion({ users: ['alice'] });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  });
  afterAll(async () => {
    await browser?.close();
    b?.cleanup();
  });

  it('signs in with a token, lists the live session and shows its terminal as it happens', async () => {
    const token = execFileSync(process.execPath, [CLI, 'token', 'issue', 'carol', '--role', 'moderator', '--ttl', '1h', '--config', b.configPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: oathtool(b.users.alice!.secret) }, { cols: 80, rows: 24 });
    p.write("PS1='READY> '\r");
    await p.waitFor(/READY> $/);
    p.write('echo BEFORE-THE-VIEWER-$((20+22))\r');
    await p.waitFor(/BEFORE-THE-VIEWER-42\r\n/);
    const started = await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === 'alice');

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${b.httpPort}/`);
    await page.fill('#token', token);
    await page.click('#login button');
    const row = page.locator(`tr.session[data-id="${String(started.session_id)}"]`);
    await row.waitFor();
    expect(await row.innerText()).toMatch(/alice\s+shell\s+INC-4242/);
    await row.click();
    // The current screen on joining, then live output.
    await page.locator('.xterm-rows', { hasText: 'BEFORE-THE-VIEWER-42' }).waitFor();
    await p.waitFor(/security: carol is watching this session/);
    p.write('echo LIVE-IN-THE-BROWSER-$((6*7))\r');
    await page.locator('.xterm-rows', { hasText: 'LIVE-IN-THE-BROWSER-42' }).waitFor();
    expect(await page.locator('#meta').innerText()).toMatch(/ticket\s+INC-4242/);
    expect(await page.locator('#keys').innerText()).toContain('echo LIVE-IN-THE-BROWSER-$((6*7))⏎');
    // A moderator ends it from the page.
    page.once('dialog', (d) => void d.accept('ending this from the browser'));
    await page.click('#end');
    await p.waitFor(/ended this session: ending this from the browser/);
    await page.locator('#status', { hasText: 'ended: terminated by carol: ending this from the browser' }).waitFor();
    expect(errors).toEqual([]);
    await p.exited;
  });
});
