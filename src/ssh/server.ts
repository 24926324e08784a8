import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ClientInfo } from 'ssh2';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import { ConnectionLimiter } from '../auth/rate-limit.js';
import { handleConnection, type ConnectionDeps, type ConnectionHandle } from './connection.js';

const { Server } = ssh2;

export type SshServerDeps = Omit<ConnectionDeps, 'accepting' | 'onSettled'> & { readonly audit: AuditSink; readonly clock: Clock; readonly log: Logger };

/** A TCP connection not yet logged in: counted against its source and timed from its first byte. */
interface Pending {
  readonly ip: string;
  readonly socket: Socket;
  readonly timer: NodeJS.Timeout;
  handle?: ConnectionHandle;
  settled: boolean;
}

/**
 * The SSH listener. It owns the TCP server so that limits and the login timeout apply from the
 * first byte, before ssh2 has seen a protocol header (a client that never sends one must not hold a
 * socket forever), then hands each socket to ssh2.
 */
export class SshServer {
  private readonly ssh: InstanceType<typeof Server>;
  private readonly tcp: NetServer;
  private readonly limiter: ConnectionLimiter;
  private readonly pending = new Map<string, Pending>();
  private readonly connections = new Set<Connection>();
  private accepting = true;
  private readonly pruneTimer: NodeJS.Timeout;

  constructor(private readonly deps: SshServerDeps) {
    const { config } = deps;
    this.limiter = new ConnectionLimiter(config.auth.rate_limit);
    this.ssh = new Server({ hostKeys: config.host_keys.map((k) => k.pem), ident: 'Bastion' }, (client: Connection, info: ClientInfo) =>
      this.onConnection(client, info),
    );
    this.ssh.on('error', (err: Error) => deps.log.error({ err: err.message }, 'ssh server error'));
    this.tcp = createServer((socket) => this.onSocket(socket));
    this.tcp.on('error', (err) => deps.log.error({ err: err.message }, 'listener error'));
    this.pruneTimer = setInterval(() => this.limiter.prune(deps.clock.now()), 60_000);
    this.pruneTimer.unref();
  }

  private onSocket(socket: Socket): void {
    socket.on('error', () => undefined); // resets and garbage must never crash the process
    // SSH is request/answer during login and byte-at-a-time when typing: Nagle's algorithm would
    // hold small packets for the peer's delayed ACK (~40 ms a round trip at login).
    socket.setNoDelay(true);
    const ip = socket.remoteAddress ?? 'unknown';
    if (!this.accepting) return void socket.destroy();
    const admitted = this.limiter.admit(ip, this.deps.clock.now());
    if (!admitted.ok) {
      socket.destroy();
      const reason = admitted.reason === 'rate' ? 'too many connections per minute' : 'too many pending logins';
      this.deps.log.warn({ ip, reason }, 'connection refused');
      void recordOrLog(this.deps.audit, this.deps.log, { type: 'connection.refused', ip, reason });
      return;
    }
    const key = `${ip}:${socket.remotePort}`;
    const entry: Pending = {
      ip,
      socket,
      settled: false,
      timer: setTimeout(() => this.onLoginTimeout(key), this.deps.config.auth.login_timeout),
    };
    this.pending.set(key, entry);
    socket.once('close', () => this.settle(key));
    this.ssh.injectSocket(socket);
  }

  private onConnection(client: Connection, info: ClientInfo): void {
    client.on('error', () => undefined);
    const key = `${info.ip}:${info.port}`;
    const entry = this.pending.get(key);
    if (!entry || !this.accepting) return void client.end();
    this.connections.add(client);
    client.on('close', () => this.connections.delete(client));
    entry.handle = handleConnection(client, info, { ...this.deps, accepting: () => this.accepting, onSettled: () => this.settle(key) });
  }

  private settle(key: string): void {
    const entry = this.pending.get(key);
    if (!entry || entry.settled) return;
    entry.settled = true;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    this.limiter.settle(entry.ip);
  }

  private onLoginTimeout(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    if (entry.handle) entry.handle.loginTimedOut();
    else {
      void recordOrLog(this.deps.audit, this.deps.log, { type: 'login.failure', ip: entry.ip, method: 'connection', reason: 'login timed out before the SSH handshake' });
    }
    this.settle(key);
    entry.socket.destroy();
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.tcp.once('error', onError);
      this.tcp.listen(port, host, () => {
        this.tcp.off('error', onError);
        resolve(this.tcp.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting new connections and sessions; existing sessions go on. */
  stopAccepting(): void {
    this.accepting = false;
    clearInterval(this.pruneTimer);
    this.tcp.close();
    for (const key of [...this.pending.keys()]) {
      const entry = this.pending.get(key);
      if (entry && !entry.handle) entry.socket.destroy();
    }
  }

  /**
   * Waits up to `ms` for clients to leave by themselves (OpenSSH disconnects once its last channel
   * has closed; cutting earlier can cost it the exit status), then closes the rest.
   */
  async closeAll(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.end();
  }
}
