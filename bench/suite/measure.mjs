// Runs the suite's items over the peers, interleaved (each round visits every peer, in a rotated
// order) so that drift on a shared machine hits all of them alike.
import { median } from '../lib.mjs';
import { ptyCat, execZero, execCat } from './bulk.mjs';
import { openEcho, summarize } from './keystroke.mjs';
import { loginProbe } from './login.mjs';
import { bastionCpuTicks } from './proc.mjs';

const r2 = (x) => Math.round(x * 100) / 100;

/**
 * Waits until PID (with its embedded S3 server) uses under 5% of a core over 200 ms (the bastion has sealed and uploaded), at
 * most 120 s (a 500 MB exec of NULs is 3 GB of asciicast to compress and upload).
 */
export async function quiet(pid) {
  for (let i = 0; i < 600; i++) {
    const a = bastionCpuTicks(pid);
    await new Promise((r) => setTimeout(r, 200));
    if (bastionCpuTicks(pid) - a <= 1) return;
  }
}

function rotated(list, k) {
  return list.map((_, i) => list[(i + k) % list.length]);
}

/** Runs FN(peer) for ROUNDS rounds over PEERS; collects values per peer; errors are kept per peer. */
async function rounds(peers, n, fn, { after } = {}) {
  const got = new Map(peers.map((p) => [p.name, { values: [], error: null }]));
  for (let k = 0; k < n; k++) {
    for (const peer of rotated(peers, k)) {
      const g = got.get(peer.name);
      if (g.error) continue;
      try {
        g.values.push(await fn(peer));
      } catch (err) {
        g.error = err.message.split('\n')[0].slice(0, 300);
      }
      if (after) await after(peer);
    }
  }
  return got;
}

/** Item 1: { [peer]: { pty_cat, exec_zero, exec_text } } plus errors. */
export async function bulk(peers, { file, fileSize, execSize, runs, settle, log }) {
  const out = Object.fromEntries(peers.map((p) => [p.name, { errors: {} }]));
  const items = [
    ['pty_cat', 'pty cat MB/s', (peer) => ptyCat(peer, file, fileSize)],
    ['exec_zero', 'exec /dev/zero MB/s', (peer) => execZero(peer, execSize)],
    ['exec_text', 'exec cat text MB/s', (peer) => execCat(peer, file, fileSize)],
  ];
  for (const [key, label, fn] of items) {
    const got = await rounds(peers, runs, fn, { after: settle });
    for (const [name, g] of got) {
      if (g.values.length) out[name][key] = { median_mb_s: r2(median(g.values.map((v) => v.mbs))), runs_mb_s: g.values.map((v) => r2(v.mbs)), bytes: g.values[0].bytes };
      if (g.error) out[name].errors[label] = g.error;
    }
    log(`${label}: ${peers.map((p) => `${p.name} ${out[p.name][key]?.median_mb_s ?? 'FAILED'}`).join(', ')}`);
  }
  return out;
}

/** Item 2: one echo session per peer, SAMPLES round trips in SLICES interleaved slices. */
export async function keystrokes(peers, { samples, slices, settle, log }) {
  const sessions = new Map();
  const xs = new Map(peers.map((p) => [p.name, []]));
  const errors = {};
  try {
    for (const peer of peers) {
      try {
        const s = await openEcho(peer);
        for (let i = 0; i < 20; i++) await s.echo(); // warm-up
        sessions.set(peer.name, s);
      } catch (err) {
        errors[peer.name] = err.message;
      }
    }
    const per = Math.ceil(samples / slices);
    for (let k = 0; k < slices; k++) {
      for (const peer of rotated(peers, k)) {
        const s = sessions.get(peer.name);
        if (!s) continue;
        for (let i = 0; i < per; i++) {
          xs.get(peer.name).push(await s.echo());
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
  } finally {
    for (const s of sessions.values()) await s.close();
  }
  for (const peer of peers) if (settle) await settle(peer);
  const out = {};
  for (const [name, v] of xs) out[name] = v.length ? summarize(v) : { error: errors[name] };
  log(`keystroke p50/p99: ${peers.map((p) => `${p.name} ${out[p.name].p50}/${out[p.name].p99}`).join(', ')}`);
  return out;
}

/** Item 3: RUNS logins per peer, interleaved. */
export async function logins(peers, { runs, settle, log }) {
  const probes = new Map();
  for (const peer of peers) probes.set(peer.name, await loginProbe(peer));
  try {
    const got = await rounds(peers, runs, (peer) => probes.get(peer.name).measure(), { after: settle });
    const out = {};
    for (const [name, g] of got) {
      out[name] = g.values.length
        ? {
            runs: g.values.length,
            median_wall_ms: r2(median(g.values.map((v) => v.wallMs))),
            median_server_ms: r2(median(g.values.map((v) => v.serverMs))),
            median_client_ms: r2(median(g.values.map((v) => v.clientMs))),
            server_ms_runs: g.values.map((v) => r2(v.serverMs)),
          }
        : { error: g.error };
    }
    log(`login wall/server ms: ${peers.map((p) => `${p.name} ${out[p.name].median_wall_ms}/${out[p.name].median_server_ms}`).join(', ')}`);
    return out;
  } finally {
    for (const p of probes.values()) await p.close();
  }
}
