import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT, startTestBastion, type TestBastion } from '../helpers/bastion.js';
import { startPtySsh, type PtySsh } from '../helpers/ssh.js';
import { oathtool } from '../helpers/tools.js';
import { waitForAudit } from '../helpers/audit.js';
import { Screen } from '../../src/recording/screen.js';
import { startTmux } from '../helpers/tmux.js';
import { s3cmd } from '../helpers/s3cmd.js';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { FileKvStore } from '../../src/state/file-kv-store.js';
import type { ViewerToken } from '../../src/live/tokens.js';

interface Viewer {
  ws: WebSocket;
  frames: (Record<string, unknown> | Buffer)[];
  output(): string;
  json(type: string): Record<string, unknown>[];
  waitFor(pred: () => boolean, ms?: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

describe('live shadowing: watch a session as it happens, and end it', () => {
  let b: TestBastion;
  let auditor: string;
  let moderator: string;
  const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args, '--config', b.configPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const url = (id: string) => `ws://127.0.0.1:${b.httpPort}/api/sessions/${id}/watch`;

  function watch(id: string, token: string | undefined, o: { origin?: string } = {}): Viewer {
    const ws = new WebSocket(url(id), ['bastion.v1'], { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(o.origin ? { Origin: o.origin } : {}) } });
    const frames: Viewer['frames'] = [];
    ws.on('message', (data, isBinary) => frames.push(isBinary ? (data as Buffer) : (JSON.parse(data.toString()) as Record<string, unknown>)));
    ws.on('error', () => undefined);
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    const v: Viewer = {
      ws,
      frames,
      closed,
      output: () => frames.filter((f): f is Buffer => Buffer.isBuffer(f)).map((f) => f.toString('utf8')).join(''),
      json: (type) => frames.filter((f): f is Record<string, unknown> => !Buffer.isBuffer(f) && f.type === type),
      waitFor: async (pred, ms = 10_000) => {
        for (let waited = 0; !pred() && waited < ms; waited += 20) await new Promise((r) => setTimeout(r, 20));
        if (!pred()) throw new Error(`viewer: condition not met; frames: ${JSON.stringify(frames.map((f) => (Buffer.isBuffer(f) ? f.toString() : f))).slice(0, 2000)}`);
      },
    };
    return v;
  }

  async function refused(id: string, token: string | undefined, o: { origin?: string } = {}): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url(id), ['bastion.v1'], { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(o.origin ? { Origin: o.origin } : {}) } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
  }

  /** The markers in a session's recording, fetched from the bucket with s3cmd once it is uploaded. */
  async function recordedMarkers(id: string): Promise<string[]> {
    const up = await waitForAudit(b.dataDir, (l) => l.type === 'recording.uploaded' && l.session_id === id, 20_000);
    const path = join(b.dir, `${id}.cast.gz`);
    await s3cmd(b.s3Endpoint!, ['get', '--force', String(up.object), path]);
    return gunzipSync(readFileSync(path)).toString('utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'm').map((e) => e[2]);
  }

  async function session(user: string): Promise<{ p: PtySsh; id: string }> {
    const p = startPtySsh(b, b.users[user]!, user, { code: oathtool(b.users[user]!.secret) }, { cols: 90, rows: 24 });
    p.write("PS1='READY> '\r");
    await p.waitFor(/READY> $/);
    const started = await waitForAudit(b.dataDir, (l) => l.type === 'session.start' && l.user === user);
    return { p, id: String(started.session_id) };
  }

  beforeAll(async () => {
    b = await startTestBastion({ users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan'] });
    auditor = cli('token', 'issue', 'carol', '--role', 'auditor', '--ttl', '1h');
    moderator = cli('token', 'issue', 'mallory', '--role', 'moderator', '--ttl', '1h');
    expect(auditor).toMatch(/^bvt_[\w-]{43}$/);
  });
  afterAll(() => b?.cleanup());

  it('a viewer joining late gets the current screen, then output, input (redacted like recordings) and resizes in order, then the exit status', async () => {
    const { p, id } = await session('alice');
    p.write('printf "\\033[2J\\033[HLATE-SCREEN-TEXT\\033[5;10Hat row five\\n"\r');
    await p.waitFor(/at row five/);
    const list = await (await fetch(`http://127.0.0.1:${b.httpPort}/api/sessions`, { headers: { Authorization: `Bearer ${auditor}` } })).json() as { sessions: Record<string, unknown>[] };
    expect(list.sessions).toEqual([expect.objectContaining({ id, user: 'alice', target: 'shell', ticket: 'INC-4242', break_glass: false, cols: 90, rows: 24, viewers: [] })]);

    const v = watch(id, auditor);
    await v.waitFor(() => v.json('hello').length === 1);
    const hello = v.json('hello')[0]!;
    expect(hello).toMatchObject({ cols: 90, rows: 24, session: { id, user: 'alice', target: 'shell', ticket: 'INC-4242', source_ip: '127.0.0.1' }, viewer: { name: 'carol', role: 'auditor' } });
    const s = new Screen(90, 24);
    await s.write(String(hello.screen));
    expect(s.text()[0]).toBe('LATE-SCREEN-TEXT');
    expect(s.text()[4]).toBe('         at row five');
    s.dispose();
    await p.waitFor(/\[bastion\] security: carol is watching this session/);

    p.write('echo first-$((1+1)); echo second-$((2+1))\r');
    await v.waitFor(() => /first-2\r\nsecond-3/.test(v.output()));
    expect(v.output().indexOf('first-2')).toBeLessThan(v.output().indexOf('second-3'));
    expect(v.json('input').map((f) => f.data).join('')).toContain('echo first-$((1+1)); echo second-$((2+1))\r');
    p.write('read -s -p "Password: " PW; echo "len=${#PW}"\r');
    await p.waitFor(/Password: $/);
    p.write('hunter2-secret\r');
    await v.waitFor(() => /len=14/.test(v.output()));
    expect(v.json('input')).toContainEqual({ type: 'input', redacted: 15 });
    expect(JSON.stringify(v.frames)).not.toContain('hunter2');
    p.resize(100, 30);
    await v.waitFor(() => v.json('resize').some((f) => f.cols === 100 && f.rows === 30));
    p.write('exit 7\r');
    expect(await p.exited).toBe(7);
    await v.waitFor(() => v.json('end').length === 1);
    expect(v.json('end')[0]).toMatchObject({ exit_code: 7, signal: null, reason: 'target exited' });
    expect((await v.closed).code).toBe(1000);
    await waitForAudit(b.dataDir, (l) => l.type === 'session.watch_started' && l.session_id === id && l.viewer === 'carol' && l.role === 'auditor');
    await waitForAudit(b.dataDir, (l) => l.type === 'session.watch_ended' && l.session_id === id && l.viewer === 'carol');
    expect(await recordedMarkers(id)).toContain('security: carol is watching this session');
  });

  it('refuses the upgrade before any data: no token, wrong token, expired, revoked, foreign Origin, unknown session', async () => {
    const { p, id } = await session('bob');
    const expired = cli('token', 'issue', 'eve', '--role', 'auditor', '--ttl', '1h');
    const revoked = cli('token', 'issue', 'trent', '--role', 'auditor', '--ttl', '1h');
    // Time is injected by moving the stored expiry into the past (the store is the bastion's own file).
    const store = new FileKvStore<ViewerToken>(join(b.dataDir, 'state', 'viewer-tokens.json'));
    for (const [key, t] of await store.entries()) if (t.name === 'eve') await store.update(key, (cur) => ({ ...cur!, expires_at: Date.now() - 1000 }));
    const trentId = cli('token', 'list').split('\n').find((l) => l.includes(' trent '))!.split(' ')[0]!;
    expect(cli('token', 'revoke', trentId)).toMatch(/^Revoked t-[0-9a-f]{12} \(trent, auditor\)/);
    expect(await refused(id, undefined)).toBe(401);
    expect(await refused(id, 'bvt_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxxxx')).toBe(401);
    expect(await refused(id, expired)).toBe(401);
    expect(await refused(id, revoked)).toBe(401);
    expect(await refused(id, auditor, { origin: 'https://evil.example' })).toBe(403);
    expect(await refused('s-20260101T000000Z-00000000', auditor)).toBe(404);
    expect(await refused(id, auditor, { origin: `http://127.0.0.1:${b.httpPort}` })).toBe(101);
    const r = await fetch(`http://127.0.0.1:${b.httpPort}/api/sessions`);
    expect(r.status).toBe(401);
    for (const reason of ['no token', 'unknown token', 'expired', 'revoked', 'origin']) {
      await waitForAudit(b.dataDir, (l) => l.type === 'live.refused' && l.reason === reason);
    }
    p.write('exit\r');
    await p.exited;
  });

  it('bad messages get a clear close code and the session goes on; an auditor cannot end a session', async () => {
    const { p, id } = await session('carol');
    const a = watch(id, auditor);
    await a.waitFor(() => a.json('hello').length === 1);
    a.ws.send('this is not json');
    expect(await a.closed).toEqual({ code: 1003, reason: 'messages must be JSON text' });
    const big = watch(id, auditor);
    await big.waitFor(() => big.json('hello').length === 1);
    big.ws.send(JSON.stringify({ type: 'terminate', reason: 'x'.repeat(10 * 1024 * 1024) }));
    expect((await big.closed).code).toBe(1009);
    const aud = watch(id, auditor);
    await aud.waitFor(() => aud.json('hello').length === 1);
    aud.ws.send(JSON.stringify({ type: 'terminate', reason: 'auditors only watch' }));
    expect(await aud.closed).toEqual({ code: 1008, reason: 'only a moderator can end a session' });
    p.write('echo still-alive\r');
    await p.waitFor(/still-alive\r\n/);
    p.write('exit\r');
    expect(await p.exited).toBe(0);
  });

  it('a moderator ends a session with a reason over the socket; bastion session kill does it from the CLI', async () => {
    const { p, id } = await session('dave');
    const m = watch(id, moderator);
    await m.waitFor(() => m.json('hello').length === 1);
    m.ws.send(JSON.stringify({ type: 'terminate', reason: 'dropping tables without a change ticket' }));
    await p.waitFor(/\[bastion\] security \(mallory\) ended this session: dropping tables without a change ticket/);
    await p.exited;
    await m.waitFor(() => m.json('end').length === 1);
    expect(m.json('end')[0]!.reason).toBe('terminated by mallory: dropping tables without a change ticket');
    await waitForAudit(b.dataDir, (l) => l.type === 'session.terminated' && l.session_id === id && l.by === 'mallory');
    expect(await recordedMarkers(id)).toEqual(expect.arrayContaining(['security: mallory is watching this session', 'terminated: security (mallory) ended this session: dropping tables without a change ticket']));

    const second = await session('erin');
    const out = cli('session', 'kill', second.id, '--reason', 'incident closed, access no longer needed', '--by', 'secops');
    expect(out).toBe(`Session ${second.id} was ended: "incident closed, access no longer needed".`);
    await second.p.waitFor(/\[bastion\] security \(cli:secops\) ended this session: incident closed, access no longer needed/);
    await second.p.exited;
    await waitForAudit(b.dataDir, (l) => l.type === 'session.terminated' && l.session_id === second.id && l.by === 'cli:secops');
    expect(() => cli('session', 'kill', second.id, '--reason', 'again')).toThrow(/no bastion answered for session/);
  });

  it('50 viewers on one session all get every frame in order', async () => {
    const { p, id } = await session('frank');
    const viewers = Array.from({ length: 50 }, () => watch(id, auditor));
    for (const v of viewers) await v.waitFor(() => v.json('hello').length === 1);
    p.write('for i in $(seq 1 2000); do echo "line-$i of the fan-out test"; done; echo FANOUT-$((6*7))\r');
    await p.waitFor(/FANOUT-42\r\n/, 20_000);
    p.write('exit 3\r');
    expect(await p.exited).toBe(3);
    for (const v of viewers) {
      await v.waitFor(() => v.json('end').length === 1);
      const out = v.output();
      const numbers = [...out.matchAll(/line-(\d+) of the fan-out test\r\n/g)].map((m) => Number(m[1]));
      expect(numbers).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
      expect(v.json('end')[0]).toMatchObject({ exit_code: 3 });
    }
  });

  it('a viewer that reads nothing never slows the session or the others, and gets a fresh screen when it catches up', async () => {
    const { p, id } = await session('grace');
    const stalled = watch(id, auditor);
    const healthy = watch(id, auditor);
    for (const v of [stalled, healthy]) await v.waitFor(() => v.json('hello').length === 1);
    (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const started = Date.now();
    p.write('head -c 30000000 /dev/zero | tr "\\0" "x" | fold -w 100; echo BULK-$((6*7))\r');
    await p.waitFor(/BULK-42\r\n/, 60_000);
    const bulkMs = Date.now() - started;
    expect(bulkMs).toBeLessThan(30_000);
    // A flood is followed as screens, a few a second, not byte by byte; the last one shows the end.
    const seen = (v: Viewer) => v.output() + v.json('screen').map((f) => String(f.screen)).join('');
    await healthy.waitFor(() => seen(healthy).includes('BULK-42'), 20_000);
    expect(healthy.json('screen').some((f) => f.reason === 'output too fast to follow byte by byte; this is the screen now')).toBe(true);
    expect(healthy.output().length).toBeLessThan(10_000_000);
    // The stalled one was cut off from output (bounded buffers), not the session.
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await stalled.waitFor(() => stalled.json('screen').length >= 1, 20_000);
    expect(stalled.json('screen').at(-1)).toMatchObject({ cols: 90, rows: 24 });
    expect(stalled.output().length).toBeLessThan(30_000_000);
    await new Promise((r) => setTimeout(r, 600)); // the flood is over: both go back to every byte
    p.write('echo after-resync-$((6*7))\r');
    for (const v of [stalled, healthy]) await v.waitFor(() => v.output().includes('after-resync-42'));
    p.write('exit\r');
    await p.exited;
    await stalled.waitFor(() => stalled.json('end').length === 1);
  });

  it('bastion-player watch shows the session in a terminal, live, until it ends', async () => {
    const { p, id } = await session('heidi');
    p.write('echo ALREADY-ON-SCREEN-$((40+2))\r');
    await p.waitFor(/ALREADY-ON-SCREEN-42\r\n/);
    const t = startTmux(`node ${join(ROOT, 'dist/player/cli.js')} watch ${id} --url http://127.0.0.1:${b.httpPort}; echo "watch exited $?"; sleep 30`, { cols: 90, rows: 26, env: { BASTION_VIEWER_TOKEN: auditor } });
    try {
      await t.waitFor(/ALREADY-ON-SCREEN-42/);
      p.write('echo LIVE-NOW-$((6*7))\r');
      await t.waitFor(/LIVE-NOW-42/);
      p.write('exit 5\r');
      await p.exited;
      await t.waitFor(/bastion-player: the session ended: target exited, exit status 5\s+watch exited 0/);
    } finally {
      t.kill();
    }
    const bad = startTmux(`node ${join(ROOT, 'dist/player/cli.js')} watch ${id} --url http://127.0.0.1:${b.httpPort} --token bvt_wrong-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; echo "watch exited $?"; sleep 30`);
    try {
      await bad.waitFor(/bastion-player: refused \(401\): the token is missing, wrong, expired or revoked[^]*watch exited 1/);
    } finally {
      bad.kill();
    }
  });

  it('a token revoked while its socket is open stops watching within seconds, and can end nothing', async () => {
    const { p, id } = await session('ivan');
    const temp = cli('token', 'issue', 'peggy', '--role', 'moderator', '--ttl', '1h');
    const v = watch(id, temp);
    await v.waitFor(() => v.json('hello').length === 1);
    const tokenId = cli('token', 'list').split('\n').find((l) => l.includes(' peggy '))!.split(' ')[0]!;
    cli('token', 'revoke', tokenId);
    v.ws.send(JSON.stringify({ type: 'terminate', reason: 'a revoked moderator tries' }));
    expect(await v.closed).toEqual({ code: 1008, reason: 'the viewer token is no longer valid (revoked)' });
    p.write('echo still-here-$((6*7))\r');
    await p.waitFor(/still-here-42\r\n/);
    expect(p.screen()).not.toContain('a revoked moderator tries');
    await p.waitFor(/security: peggy stopped watching this session/);
    p.write('exit\r');
    expect(await p.exited).toBe(0);
    expect(await recordedMarkers(id)).toEqual(expect.arrayContaining(['security: peggy is watching this session', 'security: peggy stopped watching this session']));
  });
});
