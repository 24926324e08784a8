import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { runSsh, startPtySsh, startSsh } from '../helpers/ssh.js';
import { oathtool, requireTool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';

describe('interactive shell through the real OpenSSH client in a pty', () => {
  let b: TestBastion;
  beforeAll(async () => {
    requireTool('ssh', 'openssh-client');
    b = await startTestBastion({ users: ['alice', 'bob', 'carol', 'dave', 'erin'] });
  });
  afterAll(() => b?.cleanup());

  it('drives a login shell: commands, window changes, exit status', async () => {
    const p = startPtySsh(b, b.users.alice!, 'alice', { code: oathtool(b.users.alice!.secret) });
    const t = { waitFor: p.waitFor, text: p.screen };
    const exited = p.exited;
    p.write("PS1='READY> '\r");
    await t.waitFor(/READY> $/m);
    p.write('echo $((6*7)) $TERM\r');
    await t.waitFor(/42 xterm/);
    p.write('stty size\r');
    await t.waitFor(/30 100/);
    p.resize(120, 40);
    // ssh forwards SIGWINCH asynchronously: ask again until the new size has arrived.
    for (let i = 0; ; i++) {
      p.write('stty size\r');
      const seen = await p.sees(/40 120/, 500);
      if (seen) break;
      if (i === 20) throw new Error(`window change never arrived:\n${t.text()}`);
    }
    p.write('exit 3\r');
    expect(await exited).toBe(3);
    const end = await waitForAudit(b.dataDir, (l) => l.type === 'session.end' && l.user === 'alice');
    expect(end).toMatchObject({ exit_code: 3, reason: 'target exited' });
    const start = await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === 'alice');
    expect(start).toMatchObject({ kind: 'shell', pty: '100x30' });
  });

  it('passes only allow-listed environment variables', async () => {
    const r = await runSsh(
      b,
      b.users.bob!,
      ['-o', 'SetEnv=LANG=C.UTF-8 LC_TIME=C LD_PRELOAD=/tmp/evil.so BASH_ENV=/tmp/x FOO=bar', 'env'],
      { code: oathtool(b.users.bob!.secret) },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('LANG=C.UTF-8');
    expect(r.stdout).toContain('LC_TIME=C');
    expect(r.stdout).not.toContain('LD_PRELOAD');
    expect(r.stdout).not.toContain('BASH_ENV=/tmp');
    expect(r.stdout).not.toContain('FOO=bar');
  });

  it('reports a signal death as OpenSSH does (exit 255, signal in the audit log)', async () => {
    const r = await runSsh(b, b.users.carol!, ['kill -TERM $$'], { code: oathtool(b.users.carol!.secret) });
    expect(r.code).toBe(255);
    const end = await waitForAudit(b.dataDir, (l) => l.type === 'session.end' && l.user === 'carol');
    expect(end.signal).toBe('TERM');
  });

  it("gives a shell none of the bastion's descriptors: not another user's session, not the bastion's sockets", async () => {
    const other = startSsh(b, b.users.dave!, 'dave', ['-tt', 'echo holding; sleep 30'], { code: oathtool(b.users.dave!.secret) });
    await other.waitFor('holding');
    const r = await runSsh(b, b.users.erin!, ['-tt', 'ls -l /proc/self/fd'], { code: oathtool(b.users.erin!.secret) });
    other.kill();
    await other.closed;
    expect(r.code).toBe(0);
    const fds = [...r.stdout.matchAll(/ (\d+) -> (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
    // ls's own: its terminal as 0-2 and the directory it lists as 3.
    expect(fds).toHaveLength(4);
    expect(fds.slice(0, 3).every((f) => /^[012] \/dev\/pts\/\d+$/.test(f))).toBe(true);
    expect(fds[3]).toMatch(/^3 \/proc\/\d+\/fd$/);
  });
});
