import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, ROOT, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { runSsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { readAudit, waitForAudit } from '../helpers/audit.js';
import { freePort } from '../helpers/net.js';

function bastion(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the bastion CLI, run as a user runs it', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bastion-cli-'));
  });

  it('runs as `npx bastion` and `npx bastion-player` in the repository, as the README shows', () => {
    for (const [bin, file] of [['bastion', 'dist/src/cli.js'], ['bastion-player', 'dist/player/cli.js']] as const) {
      // npx runs the package's own bins as programs: they must be executable after the build.
      expect(statSync(join(ROOT, file)).mode & 0o111, file).toBe(0o111);
      // `--` ends npx's own options: without it `--version` is npx's, and prints npm's version.
      const r = spawnSync('npx', ['--no', '--', bin, '--version'], { cwd: ROOT, encoding: 'utf8' });
      expect({ code: r.status, stdout: r.stdout.trim() }, r.stderr).toEqual({ code: 0, stdout: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version });
    }
  });

  it('rejects a bad config naming the file, the key path and what was expected, without a stack trace', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(
      cfg,
      stringify({
        host_keys: [join(ROOT, 'keys.example/ssh_host_ed25519_key')],
        recording: { signing_key: join(ROOT, 'keys.example/recording_ed25519.pem') },
        listen: { port: 'twenty-two' },
        targets: { shell: { type: 'local' } },
        users: { alice: { keys: ['/nonexistent/alice.pub'], roles: ['ghost'] } },
      }),
    );
    const r = bastion(['serve', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yaml: listen.port: ');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const cfg2 = join(dir, 'bad2.yaml');
    writeFileSync(cfg2, stringify({ host_keys: [join(ROOT, 'keys.example/ssh_host_ed25519_key')], recording: { signing_key: join(ROOT, 'keys.example/recording_ed25519.pem') },
        targets: { shell: { type: 'local' } }, users: { alice: { keys: ['/nonexistent/alice.pub'], roles: ['ghost'] } } }));
    const r2 = bastion(['serve', '--config', cfg2]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('bad2.yaml: users.alice.keys[0]: file not found: /nonexistent/alice.pub');
    expect(r2.stderr).toContain('bad2.yaml: users.alice.roles[0]: unknown role "ghost"');
    const missing = bastion(['serve', '--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml: cannot read config/);
  });

  it('enrolls TOTP: secret stored 0600 where the config says, URI and QR code printed, and the code works with oathtool', () => {
    const cfg = join(dir, 'enroll.yaml');
    writeFileSync(
      cfg,
      stringify({
        host_keys: [join(ROOT, 'keys.example/ssh_host_ed25519_key')],
        recording: { signing_key: join(ROOT, 'keys.example/recording_ed25519.pem') },
        data_dir: join(dir, 'data'),
        targets: { shell: { type: 'local', allow_bastion_user: true } },
        users: { alice: { keys: [join(ROOT, 'keys.example/demo_ed25519.pub')] } },
      }),
    );
    const r = bastion(['totp', 'enroll', 'alice', '--config', cfg]);
    expect(r.code).toBe(0);
    const path = join(dir, 'data', 'totp', 'alice.totp');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const secret = readFileSync(path, 'utf8').trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(r.stdout).toContain(`otpauth://totp/`);
    expect(r.stdout).toContain(`secret=${secret}`);
    expect(r.stdout).toMatch(/[█▀▄]/); // the QR code
    expect(oathtool(secret)).toMatch(/^\d{6}$/);
    const again = bastion(['totp', 'enroll', 'alice', '--config', cfg]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists; pass --force');
    expect(readFileSync(path, 'utf8').trim()).toBe(secret);
    const unknown = bastion(['totp', 'enroll', 'mallory', '--config', cfg]);
    expect(unknown.stderr).toContain('no user "mallory"');
  });

  it('generates a host key 0600 with keys init', () => {
    const r = bastion(['keys', 'init', join(dir, 'keys')]);
    expect(r.code).toBe(0);
    expect(statSync(join(dir, 'keys', 'ssh_host_ed25519_key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'keys', 'ssh_host_ed25519_key.pub'), 'utf8')).toMatch(/^ssh-ed25519 /);
  });
});

describe('audit verify and shutdown against a running bastion', () => {
  let b: TestBastion;
  beforeAll(async () => {
    b = await startTestBastion({ users: ['alice', 'bob'] });
  });
  afterAll(() => b?.cleanup());

  it('verifies an intact chain and names the first line of a tampered copy', async () => {
    const r = await runSsh(b, b.users.alice!, ['true'], { code: oathtool(b.users.alice!.secret) });
    expect(r.code).toBe(0);
    await waitForAudit(b.dataDir, (l) => l.type === 'session.end');
    const ok = bastion(['audit', 'verify', '--config', b.configPath]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: .* \d+ lines, hash chain intact/);

    const copy = join(b.dir, 'tampered.jsonl');
    copyFileSync(join(b.dataDir, 'audit', 'audit.jsonl'), copy);
    const lines = readFileSync(copy, 'utf8').split('\n');
    const idx = lines.findIndex((l) => l.includes('"login.success"'));
    lines[idx] = lines[idx]!.replace('"INC-4242"', '"INC-9999"');
    writeFileSync(copy, lines.join('\n'));
    const bad = bastion(['audit', 'verify', '--config', b.configPath, '--file', copy]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`line ${idx + 2}: hash chain broken`);
  });

  it('drains on SIGTERM: a running session finishes, then the process exits 0', async () => {
    const session = runSsh(b, b.users.bob!, ['sleep 1; echo finished'], { code: oathtool(b.users.bob!.secret) });
    await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === 'bob');
    const exit = b.stop('SIGTERM');
    const r = await session;
    expect(r.stdout).toBe('finished\n');
    expect(r.code).toBe(0);
    expect(await exit).toBe(0);
    const types = readAudit(b.dataDir).map((l) => l.type);
    expect(types.at(-1)).toBe('bastion.stop');
    expect(existsSync(b.configPath)).toBe(true);
  });
});

describe('npm start on the shipped demo config', () => {
  it('prints how to connect and how to get the code; the fire drill passes against it out of the box', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'bastion-demo-'));
    // The demo config with its own data dir and free ports, so a developer's running demo is left alone
    // (the HTTP port appears twice: the service, and the demo webhook that posts alerts to it).
    const httpPort = String(await freePort());
    const text = readFileSync(join(ROOT, 'config.example.yaml'), 'utf8').replace('port: 2222', 'port: 0').replace('port: 9000', 'port: 0').replaceAll('8022', httpPort).replace('data_dir: ./data', `data_dir: ${join(cfgDir, 'data')}`);
    const cfg = join(ROOT, `.test-demo-${process.pid}.yaml`);
    writeFileSync(cfg, text);
    const child = execFile(process.execPath, [CLI, 'serve', '--config', cfg], { cwd: ROOT });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(out)), 15_000);
        child.stdout!.on('data', () => {
          if (out.includes('Stop with Ctrl+C')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      expect(out).toMatch(/ssh -p \d+ -i keys\.example\/demo_ed25519 demo@127\.0\.0\.1/);
      expect(out).toContain('oathtool --totp -b $(cat keys.example/demo.totp)');
      expect(out).toContain(`npx bastion drill --config .test-demo-${process.pid}.yaml`);
      expect(out).not.toContain('-i keys.example/drill_ed25519'); // the drill user is for the drill, not for people
      const drill = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [CLI, 'drill', '--config', cfg], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr })),
      );
      expect(drill.code, drill.stdout + drill.stderr).toBe(0);
      expect(drill.stdout).toContain('Drill passed: all 7 controls');
      // The demo's own webhook receiver got the alert and logged it where the newcomer is looking.
      for (let i = 0; i < 50 && !out.includes('demo webhook received'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(out).toMatch(/"msg":"demo webhook received: \[DRILL\] BREAK-GLASS: drill on prod \(INC-1234\)"/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
      spawnSync('rm', ['-f', cfg]);
    }
  });
});
