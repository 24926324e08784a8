// The floor for a Node SSH relay on this machine, for `npm run bench -- --diagnose`: a bare ssh2
// server (the library the bastion is built on) that accepts any key and runs the command in a pty
// with node-pty (read in-process, as node-pty does) or with pipes, and copies the bytes to the
// channel with flow control. No login gate, no policy, no recording, no threads of its own.
// What the bastion reaches without its recorder, set against this, is what the bastion's own
// code costs; what this reaches, set against sshd, is what the platform costs.
// With UPSTREAM (JSON: host, port, username, keyFile), a login as user `up` runs the command on
// that SSH host instead, through an ssh2 client (the shape of the bastion's ssh target).
//
//   node bench/bare-relay.mjs HOST_KEY_FILE [UPSTREAM]  -> prints {"port":N}, serves until SIGTERM
import ssh2 from 'ssh2';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const pty = createRequire(import.meta.url)('node-pty');
const hostKey = readFileSync(process.argv[2]);
const upstream = process.argv[3] ? JSON.parse(process.argv[3]) : null;

/** Runs COMMAND on the upstream host and relays it to CHANNEL, both ways. */
function viaUpstream(channel, command, ptyInfo) {
  const c = new ssh2.Client();
  c.on('error', () => channel.close());
  c.on('ready', () => {
    const opts = ptyInfo ? { pty: { term: ptyInfo.term, cols: ptyInfo.cols, rows: ptyInfo.rows } } : {};
    c.exec(command, opts, (err, up) => {
      if (err) return channel.close();
      up.on('data', relay(channel, up));
      up.stderr.on('data', (d) => channel.stderr.write(d));
      channel.on('data', (d) => up.write(d));
      channel.on('end', () => up.end());
      let code = 1;
      up.on('exit', (n) => (code = n ?? 1));
      up.on('close', () => {
        channel.exit(code);
        channel.end();
        c.end();
      });
    });
  });
  c.connect({ host: upstream.host, port: upstream.port, username: upstream.username, privateKey: readFileSync(upstream.keyFile) });
  c.setNoDelay(true);
}

/** Writes to the channel; while its window is full the source waits. */
function relay(channel, source) {
  return (chunk) => {
    if (channel.write(chunk)) return;
    source.pause();
    channel.once('drain', () => source.resume());
  };
}

const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
  let user = '';
  client.on('authentication', (ctx) => {
    user = ctx.username;
    if (ctx.method === 'publickey') ctx.accept();
    else ctx.reject(['publickey']);
  });
  client.on('ready', () => {
    client.on('session', (accept) => {
      const session = accept();
      let ptyInfo = null;
      session.on('pty', (ok, _no, info) => {
        ptyInfo = info;
        ok?.();
      });
      session.on('env', (ok) => ok?.());
      session.on('exec', (ok, _no, info) => {
        const channel = ok();
        client.setNoDelay?.(true);
        if (upstream && user === 'up') viaUpstream(channel, info.command, ptyInfo);
        else if (ptyInfo) {
          const p = pty.spawn('/bin/bash', ['-c', info.command], { name: ptyInfo.term, cols: ptyInfo.cols, rows: ptyInfo.rows, encoding: null });
          const out = relay(channel, { pause: () => p.pause(), resume: () => p.resume() });
          p.onData((d) => out(d));
          channel.on('data', (d) => p.write(d));
          p.onExit(({ exitCode }) => {
            channel.exit(exitCode);
            channel.end();
          });
        } else {
          const child = spawn('/bin/bash', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
          const out = relay(channel, { pause: () => child.stdout.pause(), resume: () => child.stdout.resume() });
          child.stdout.on('data', (d) => out(d));
          child.stderr.on('data', (d) => channel.stderr.write(d));
          channel.on('data', (d) => child.stdin.write(d));
          channel.on('end', () => child.stdin.end());
          child.on('close', (code) => {
            channel.exit(code ?? 1);
            channel.end();
          });
        }
      });
    });
  });
  client.on('error', () => undefined);
});

server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
