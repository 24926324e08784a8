// Item 3, login time: from spawning `ssh -tt HOST 'echo READY'` to the first byte of READY,
// including publickey, and for the bastion TOTP and the justification (answered by an
// SSH_ASKPASS script).
//
// "Server side" is measured, not estimated: the client connects through a TCP relay in this
// process that timestamps every chunk in each direction. A gap that ends with a server->client
// chunk is the server's; one that ends with a client->server chunk is the client's (its key
// exchange and signature work, the askpass script runs); the client's start-up before it
// connects is the client's too. The relay adds one
// loopback hop per packet (~0.05 ms) to both the bastion and sshd.
import { appendFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { runSsh } from './bulk.mjs';

/** A relay to 127.0.0.1:TARGET that records, per connection, [ns, 'c'|'s'] for each chunk. */
async function startRelay(target) {
  const conns = [];
  const server = createServer((c) => {
    const log = { accepted: process.hrtime.bigint(), events: [] };
    conns.push(log);
    const up = connect(target, '127.0.0.1');
    c.setNoDelay(true);
    up.setNoDelay(true);
    c.on('data', (d) => {
      log.events.push([process.hrtime.bigint(), 'c']);
      up.write(d);
    });
    up.on('data', (d) => {
      log.events.push([process.hrtime.bigint(), 's']);
      c.write(d);
    });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, conns, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Splits [accepted, until] between the server and the client: each gap between two chunks is
 * charged to whoever sent the chunk that ends it (the other side was waiting for it). The
 * server's version banner, sent unasked, ends the first gap; its later messages that come
 * without a new client message in between (the bastion's upstream login, prompts, the session's
 * output) are the server's too.
 */
export function serverTime(log, until) {
  let server = 0n;
  let at = log.accepted;
  for (const [t, dir] of log.events) {
    if (t > until) break;
    if (dir === 's') server += t - at;
    at = t;
  }
  return Number(server) / 1e6;
}

/** One login through a relay in front of PEER's entry point: { wallMs, serverMs, clientMs }. */
async function oneLogin(peer, relay) {
  const before = relay.conns.length;
  const r = await runSsh(await peer.open('echo READY', { tty: true, port: relay.port }), { marker: 'READY', timeoutMs: 30_000 });
  if (r.code !== 0 || r.firstMs === null) throw new Error(`${peer.name}: login failed (${r.code}): ${r.stderr.trim()}`);
  const log = relay.conns[before];
  if (!log) throw new Error(`${peer.name}: the login did not go through the relay`);
  const seenAt = r.firstAt;
  const t0 = r.startedAt;
  const serverMs = serverTime(log, seenAt);
  if (process.env.BENCH_LOGIN_TRACE) {
    let prev = log.accepted;
    console.error(peer.name, `spawn->accept ${(Number(log.accepted - t0) / 1e6).toFixed(1)}`, log.events.filter(([t]) => t <= seenAt).map(([t, d]) => { const g = `${d}+${(Number(t - prev) / 1e6).toFixed(1)}`; prev = t; return g; }).join(' '));
  }
  return { wallMs: r.firstMs, serverMs, clientMs: r.firstMs - serverMs };
}

/** A login-time measurer for PEER: call measure() once per sample (interleave peers), then close(). */
export async function loginProbe(peer) {
  const relay = await startRelay(peer.entry.port);
  appendFileSync(peer.entry.knownHosts, `[127.0.0.1]:${relay.port} ${peer.entry.hostKeyLine}\n`);
  return { measure: () => oneLogin(peer, relay), close: () => relay.close() };
}
