import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { runSsh, GOOD_REASON } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';

// The built CLI (`node dist/src/cli.js serve`) as a child process, the real OpenSSH client, codes from oathtool.
describe('login through the real OpenSSH client', () => {
  let b: TestBastion;
  beforeAll(async () => {
    b = await startTestBastion({ users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'] });
  });
  afterAll(() => b?.cleanup());

  const code = (u: string) => oathtool(b.users[u]!.secret);

  it('runs an exec command, keeps stdout and stderr apart and propagates the exit status', async () => {
    const r = await runSsh(b, b.users.alice!, ['echo out-$BASTION_TARGET; echo err-line >&2; exit 7'], { code: code('alice') });
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('out-shell\n');
    expect(r.stderr).toContain('err-line');
    expect(r.stdout).not.toContain('err-line');
    expect(r.prompts).toEqual([
      '(alice@127.0.0.1) Verification code (6 digits from your authenticator app): ',
      '(alice@127.0.0.1) Incident ticket (e.g. INC-1234): ',
      '(alice@127.0.0.1) Reason for access: ',
    ]);
    const ok = await waitForAudit(b.dataDir, (l) => l.type === 'login.success' && l.user === 'alice');
    expect(ok).toMatchObject({ target: 'shell', ticket: 'INC-4242', reason: GOOD_REASON, mfa: 'totp', ip: '127.0.0.1' });
    const end = await waitForAudit(b.dataDir, (l) => l.type === 'session.end' && l.user === 'alice');
    expect(end.exit_code).toBe(7);
  });

  it('passes stdin through and runs exec with a pty', async () => {
    const r = await runSsh(b, b.users.bob!, ['-tt', 'tty >/dev/null && echo has-tty; read line; echo got:$line'], { code: code('bob') }, { input: 'hello\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('has-tty');
    expect(r.stdout).toContain('got:hello');
  });

  it('refuses a wrong code and audits it', async () => {
    const wrong = String((Number(code('carol')) + 1) % 1_000_000).padStart(6, '0');
    const r = await runSsh(b, b.users.carol!, ['echo should-not-run'], { code: [wrong, wrong] }, {});
    expect(r.code).toBe(255);
    expect(r.stdout).not.toContain('should-not-run');
    expect(r.stderr).toContain('That code is not valid');
    await waitForAudit(b.dataDir, (l) => l.type === 'login.failure' && l.user === 'carol' && l.reason === 'invalid');
  });

  it('refuses a code that was already used (replay)', async () => {
    const c = code('dave');
    const first = await runSsh(b, b.users.dave!, ['echo first'], { code: c });
    expect(first.stdout).toBe('first\n');
    const again = await runSsh(b, b.users.dave!, ['echo second'], { code: [c] });
    expect(again.code).toBe(255);
    expect(again.stdout).not.toContain('second');
    expect(again.stderr).toContain('That code was already used');
    await waitForAudit(b.dataDir, (l) => l.type === 'login.failure' && l.user === 'dave' && l.reason === 'replayed');
  });

  it('refuses a reason that is too short, with a message saying why', async () => {
    const r = await runSsh(b, b.users.erin!, ['echo nope'], { code: code('erin'), reason: 'fixing' });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('the reason is too short');
    const fail = await waitForAudit(b.dataDir, (l) => l.type === 'login.failure' && l.user === 'erin' && l.method === 'justification');
    expect(fail.field).toBe('reason');
  });

  it('refuses a malformed ticket', async () => {
    const r = await runSsh(b, b.users.erin!, ['echo nope'], { code: oathtool(b.users.erin!.secret, new Date(Date.now() + 30_000)), ticket: 'whatever' });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('is not a ticket id');
  });

  it('locks a user out after repeated wrong codes, even for a correct code afterwards', async () => {
    const bad = ['000000', 'abcdef', '1234567']; // wrong, letters, seven digits: all count as failures
    const r1 = await runSsh(b, b.users.frank!, ['true'], { code: bad });
    expect(r1.code).toBe(255);
    expect(r1.stderr).toContain('is locked for 15m');
    const r2 = await runSsh(b, b.users.frank!, ['echo in'], { code: code('frank') });
    expect(r2.code).toBe(255);
    expect(r2.stdout).toBe('');
    expect(r2.stderr).toContain('This account is locked');
    const locked = readAudit(b.dataDir).filter((l) => l.type === 'login.locked' && l.user === 'frank');
    expect(locked.length).toBe(2);
  });

  it('refuses malformed answers (empty, letters, 7 digits, 1 MB) without crashing, then still serves', async () => {
    const huge = '9'.repeat(1024 * 1024);
    for (const answer of ['', 'letters', '12345678'.slice(0, 7)]) {
      const r = await runSsh(b, b.users.grace!, ['true'], { code: [answer] });
      expect(r.code).toBe(255);
    }
    const hugeRun = await runSsh(b, b.users.heidi!, ['true'], { code: [huge] });
    expect(hugeRun.code).toBe(255);
    expect(b.proc.exitCode).toBeNull();
    const after = await runSsh(b, b.users.ivan!, ['echo still-serving'], { code: code('ivan') });
    expect(after.stdout).toBe('still-serving\n');
    const malformed = readAudit(b.dataDir).filter((l) => l.type === 'login.failure' && l.user === 'grace' && l.reason === 'malformed');
    expect(malformed.length).toBe(3);
  });

  it('gives unknown users and unknown keys the same answer', async () => {
    const unknownUser = await runSsh(b, b.users.judy!, ['true'], {}, { login: 'nobody' });
    const wrongKey = await runSsh(b, b.users.judy!, ['true'], {}, { login: 'alice' });
    expect(unknownUser.code).toBe(255);
    expect(wrongKey.code).toBe(255);
    const msg = (s: string) => s.replace(/\S+@127\.0\.0\.1/, 'X').trim();
    expect(msg(unknownUser.stderr)).toBe(msg(wrongKey.stderr));
    expect(unknownUser.prompts).toEqual([]);
    expect(wrongKey.prompts).toEqual([]);
  });

  it('refuses a target the user may not reach, and one that does not exist, and audits both', async () => {
    const notAllowed = await runSsh(b, b.users.judy!, ['true'], { code: code('judy') }, { login: 'judy:other' });
    expect(notAllowed.code).toBe(255);
    expect(notAllowed.stderr).toContain('You may not open target "other"');
    const unknown = await runSsh(b, b.users.judy!, ['true'], { code: oathtool(b.users.judy!.secret, new Date(Date.now() + 30_000)) }, { login: 'judy:../../etc' });
    expect(unknown.code).toBe(255);
    const refused = readAudit(b.dataDir).filter((l) => l.type === 'access.refused' && l.user === 'judy');
    expect(refused.map((l) => l.reason)).toEqual(['not-allowed', 'unknown-target']);
  });

  it('never writes a TOTP code into the audit log, and the chain verifies', async () => {
    const text = readAudit(b.dataDir).map((l) => JSON.stringify(l)).join('\n');
    for (const u of Object.values(b.users)) expect(text).not.toContain(u.secret);
    expect(text).not.toMatch(/"code"\s*:/);
  });
});
