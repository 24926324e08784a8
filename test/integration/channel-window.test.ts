import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ServerChannel } from 'ssh2';
import { repairWindowWaits } from '../../src/ssh/channel-window.js';
import { sendExit } from '../../src/session/pump.js';
import { requireTool } from '../helpers/tools.js';

// ssh2 1.17 server channels lose or repeat bytes once stdout and stderr both had to wait for the
// client's window (see src/ssh/channel-window.ts). Here a bare ssh2 server, as the bastion's
// sessions use it, floods the real OpenSSH client through both streams; every byte must arrive once.

const MB = 1024 * 1024;
type Scenario = (channel: ServerChannel) => { stdout: Buffer; stderr: string; code: number };

/** 8 MB of stdout, far beyond the client's window, then one line on stderr and the exit. */
const tail: Scenario = (channel) => {
  const piece = Buffer.alloc(32 * 1024, 'x');
  for (let i = 0; i < 256; i++) channel.write(piece);
  channel.stderr.write('bastion: the last word\r\n');
  sendExit(channel, { code: 3 });
  return { stdout: Buffer.alloc(8 * MB, 'x'), stderr: 'bastion: the last word\r\n', code: 3 };
};

/** stdout and stderr taking turns, 300 times, each stdout piece numbered so a repeat shows. */
const interleaved: Scenario = (channel) => {
  const out: Buffer[] = [];
  let err = '';
  for (let i = 0; i < 300; i++) {
    const piece = Buffer.alloc(40_000, `[${i}]`);
    out.push(piece);
    channel.write(piece);
    const line = `error ${i}\n`;
    err += line;
    channel.stderr.write(line);
  }
  sendExit(channel, { code: 0 });
  return { stdout: Buffer.concat(out), stderr: err, code: 0 };
};

/**
 * stdout waits and drains first; then stderr alone floods past the window, and the channel stays
 * open a moment (unrepaired, the next window adjust sent the old stdout bytes again).
 */
const stderrAfter: Scenario = (channel) => {
  const out = Buffer.alloc(4 * MB, 'o');
  const err = Buffer.alloc(4 * MB, 'e');
  channel.write(out);
  channel.once('drain', () => {
    channel.stderr.write(err);
    setTimeout(() => sendExit(channel, { code: 0 }), 200);
  });
  return { stdout: out, stderr: err.toString(), code: 0 };
};

const SCENARIOS: Record<string, Scenario> = { tail, interleaved, stderrAfter };

describe('ssh2 server channels send stdout and stderr that waited for window space exactly once', () => {
  let dir: string;
  let server: InstanceType<typeof ssh2.Server>;
  let port: number;
  const expected = new Map<string, ReturnType<Scenario>>();
  let repaired: boolean[] = [];

  beforeAll(async () => {
    requireTool('ssh', 'openssh-client');
    requireTool('ssh-keygen', 'openssh-client');
    dir = mkdtempSync(join(tmpdir(), 'chanwin-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    server = new ssh2.Server({ hostKeys: [readFileSync(join(dir, 'host_key'))] }, (client) => {
      client.on('error', () => undefined);
      client.on('authentication', (ctx) => ctx.accept());
      client.on('ready', () => {
        client.on('session', (acceptSession) => {
          acceptSession().on('exec', (accept, _reject, info) => {
            const channel = accept();
            repaired.push(repairWindowWaits(channel));
            const [name, run] = info.command.split(' ');
            expected.set(run!, SCENARIOS[name!]!(channel));
          });
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  function runClient(command: string): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
    const args = ['-F', '/dev/null', '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', 'tester@127.0.0.1', command];
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A channel that is never closed must fail the test, not hang it.
    const timer = setTimeout(() => child.kill(), 30_000);
    return new Promise((resolve) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out), stderr: err, code });
      }),
    );
  }

  for (const name of Object.keys(SCENARIOS)) {
    it(`${name}: all stdout once, all stderr, the exit status (10 runs)`, async () => {
      repaired = [];
      for (let run = 0; run < 10; run++) {
        const got = await runClient(`${name} ${run}`);
        const want = expected.get(String(run))!;
        expect(got.stdout.length).toBe(want.stdout.length);
        expect(got.stdout.equals(want.stdout)).toBe(true);
        expect(got.stderr).toBe(want.stderr);
        expect(got.code).toBe(want.code);
      }
      // The installed ssh2 has the internals the repair was written for.
      expect(repaired).toEqual(Array(10).fill(true));
    }, 120_000);
  }
});
