import ssh2 from 'ssh2';
import type { Connection, ClientInfo } from 'ssh2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../audit/audit-log.js';
import { ConnectionLimiter } from '../auth/rate-limit.js';
import { handleConnection, type ConnectionDeps } from './connection.js';

const { Server } = ssh2;

export type SshServerDeps = Omit<ConnectionDeps, 'onSettled' | 'accepting'> & { readonly audit: AuditSink; readonly clock: Clock; readonly log: Logger };

/** The SSH listener: host keys, per-source limits, connection tracking and drain. */
export class SshServer {
  private readonly server: InstanceType<typeof Server>;
  private readonly limiter: ConnectionLimiter;
  private readonly connections = new Set<Connection>();
  private accepting = true;
  private readonly pruneTimer: NodeJS.Timeout;

  constructor(private readonly deps: SshServerDeps) {
    const { config } = deps;
    this.limiter = new ConnectionLimiter(config.auth.rate_limit);
    this.server = new Server(
      {
        hostKeys: config.host_keys.map((k) => k.pem),
        ident: 'Bastion',
        // Scanners and half-open handshakes must not hold resources for long.
        highWaterMark: 64 * 1024,
      },
      (client: Connection, info: ClientInfo) => this.onConnection(client, info),
    );
    this.server.on('error', (err: Error) => deps.log.error({ err: err.message }, 'ssh server error'));
    this.pruneTimer = setInterval(() => this.limiter.prune(deps.clock.now()), 60_000);
    this.pruneTimer.unref();
  }

  private onConnection(client: Connection, info: ClientInfo): void {
    // Attach an error handler first: a connection that sends garbage must never crash the process.
    client.on('error', () => undefined);
    if (!this.accepting) {
      client.end();
      return;
    }
    const admitted = this.limiter.admit(info.ip, this.deps.clock.now());
    if (!admitted.ok) {
      this.deps.log.warn({ ip: info.ip, reason: admitted.reason }, 'connection refused by rate limit');
      void this.deps.audit
        .record({ type: 'connection.refused', ip: info.ip, reason: admitted.reason === 'rate' ? 'too many connections per minute' : 'too many pending logins' })
        .catch(() => undefined);
      client.end();
      return;
    }
    this.connections.add(client);
    client.on('close', () => this.connections.delete(client));
    handleConnection(client, info, {
      ...this.deps,
      accepting: () => this.accepting,
      onSettled: () => this.limiter.settle(info.ip),
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting new connections and sessions; existing sessions go on. */
  stopAccepting(): void {
    this.accepting = false;
    clearInterval(this.pruneTimer);
    this.server.close();
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
