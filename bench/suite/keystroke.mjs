// Item 2, keystroke latency: the round trip of one byte through a raw-mode `cat` in a pty session
// (`ssh -tt HOST 'stty raw -echo; cat'`), measured from this process: write one byte to the
// client's stdin, time until it comes back on its stdout. The client's own stdin/stdout are pipes
// (-tt forces the remote pty), so nothing on this side buffers or echoes.
import { spawn } from 'node:child_process';

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const r3 = (x) => Math.round(x * 1000) / 1000;

export function summarize(samples) {
  return { samples: samples.length, p50: r3(pct(samples, 50)), p99: r3(pct(samples, 99)), max: r3(Math.max(...samples)) };
}

/** An open echo session on PEER: echo() resolves with one round trip in ms; close() ends it. */
export async function openEcho(peer, { timeoutMs = 60_000 } = {}) {
  const { args, env } = await peer.open('stty raw -echo; echo READY; exec cat', { tty: true });
  const child = spawn('ssh', args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let waiter = null;
  let seen = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${peer.name}: no READY from the echo session: ${stderr}`)), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      reject(new Error(`${peer.name}: the echo session ended (${code}): ${stderr}`));
    });
    const onReady = (d) => {
      seen += d.toString('latin1');
      if (seen.includes('READY')) {
        clearTimeout(t);
        child.stdout.off('data', onReady);
        resolve();
      }
    };
    child.stdout.on('data', onReady);
  });
  child.removeAllListeners('close');
  // Let the rest of READY's line (\r\n) arrive before the first sample.
  await new Promise((r) => setTimeout(r, 50));
  child.stdout.on('data', () => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(process.hrtime.bigint());
    }
  });
  return {
    pid: child.pid,
    echo() {
      return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const timer = setTimeout(() => reject(new Error(`${peer.name}: a keystroke did not come back in 5 s`)), 5_000);
        waiter = (t1) => {
          clearTimeout(timer);
          resolve(Number(t1 - t0) / 1e6);
        };
        child.stdin.write('x');
      });
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** SAMPLES round trips (after 20 unrecorded warm-up ones), 1 ms apart: { samples, p50, p99, max }. */
export async function keystrokeLatency(peer, samples, session) {
  const s = session ?? (await openEcho(peer));
  try {
    for (let i = 0; i < 20; i++) await s.echo();
    const xs = [];
    for (let i = 0; i < samples; i++) {
      xs.push(await s.echo());
      await new Promise((r) => setTimeout(r, 1));
    }
    return summarize(xs);
  } finally {
    if (!session) await s.close();
  }
}
