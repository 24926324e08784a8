import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, PseudoTtyOptions } from 'ssh2';
import type { Duplex } from 'node:stream';
import type { ResolvedSshTarget } from '../config/targets.js';
import { BastionError } from '../errors.js';
import { Emitter } from './emitter.js';
import type { ExitInfo, OpenRequest, TargetConnector, TargetStream } from './target.js';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

/**
 * Opens sessions on an upstream SSH host with the credential the bastion holds. The upstream host
 * key must be one of the pinned keys; anything else refuses the connection (no trust on first use).
 */
export class SshTargetConnector implements TargetConnector {
  constructor(private readonly target: ResolvedSshTarget) {}

  async open(req: OpenRequest): Promise<TargetStream> {
    const client = await this.connect();
    try {
      const channel = await openChannel(client, req);
      return new UpstreamStream(client, channel);
    } catch (err) {
      client.end();
      throw new BastionError('TARGET_FAILED', `${this.target.name} refused the session: ${(err as Error).message}`, { cause: err });
    }
  }

  /** `ssh -L` through the target: the upstream host opens the connection, as with a direct login there. */
  async forward(host: string, port: number): Promise<Duplex> {
    const client = await this.connect();
    try {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      channel.on('close', () => client.end());
      return channel;
    } catch (err) {
      client.end();
      throw new BastionError('TARGET_FAILED', `${this.target.name} refused the forward to ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async connect(): Promise<SshClient> {
    const t = this.target;
    const client = new Client();
    let hostKeyMismatch = false;
    const config: ConnectConfig = {
      host: t.host,
      port: t.port,
      username: t.user,
      readyTimeout: t.connect_timeout,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        const ok = t.hostKeys.some((k) => k.equals(key));
        hostKeyMismatch = !ok;
        return ok;
      },
      ...(t.privateKey ? { privateKey: t.privateKey.reveal() } : {}),
      ...(t.password ? { password: t.password.reveal() } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (err: Error) => {
        reject(
          hostKeyMismatch
            ? new BastionError('TARGET_FAILED', `the host key of ${t.name} (${t.host}:${t.port}) does not match the pinned key; refusing to connect. Security has been told.`)
            : new BastionError('TARGET_FAILED', `cannot reach ${t.name} (${t.host}:${t.port}): ${err.message}`, { cause: err }),
        );
      });
      client.connect(config);
      client.setNoDelay(true); // as on the client side: no Nagle delay on logins and keystrokes
    });
    client.on('error', () => undefined); // later errors surface as 'close' on the channels
    return client;
  }
}

function openChannel(client: SshClient, req: OpenRequest): Promise<ClientChannel> {
  const pty: PseudoTtyOptions | undefined = req.pty ? { term: req.pty.term, cols: req.pty.cols, rows: req.pty.rows } : undefined;
  const env = { ...req.env };
  return new Promise((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve(ch));
    if (req.kind === 'subsystem') client.subsys(req.command ?? 'sftp', cb);
    else if (req.kind === 'exec') client.exec(req.command ?? '', { ...(pty ? { pty } : {}), env }, cb);
    else if (pty) client.shell(pty, { env }, cb);
    else client.shell(false, { env }, cb);
  });
}

class UpstreamStream implements TargetStream {
  private readonly data = new Emitter<Buffer>();
  private readonly stderr = new Emitter<Buffer>();
  private readonly exit = new Emitter<ExitInfo>();
  private status: ExitInfo = { code: null };
  private done = false;

  constructor(
    private readonly client: SshClient,
    private readonly channel: ClientChannel,
  ) {
    channel.on('data', (d: Buffer) => this.data.emit(d));
    channel.stderr.on('data', (d: Buffer) => this.stderr.emit(d));
    channel.on('exit', (code: number | null, signal?: string) => {
      this.status = signal ? { code: null, signal: signal.replace(/^SIG/, '') } : { code };
    });
    // 'close' comes after all data: only then is the session over.
    channel.on('close', () => this.finish());
    client.on('close', () => {
      if (!this.done) this.stderr.emit(Buffer.from('\r\nbastion: the connection to the upstream host was lost\r\n'));
      this.finish();
    });
    client.on('error', () => undefined);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.exit.emit(this.status);
    this.client.end();
  }

  onData = (l: (b: Buffer) => void) => this.data.on(l);
  onStderr = (l: (b: Buffer) => void) => this.stderr.on(l);
  onExit = (l: (e: ExitInfo) => void) => this.exit.on(l);
  write(chunk: Buffer): void {
    if (!this.done) this.channel.write(chunk);
  }
  endInput(): void {
    if (!this.done) this.channel.end();
  }
  resize(cols: number, rows: number): void {
    if (!this.done) this.channel.setWindow(rows, cols, 0, 0);
  }
  pause(): void {
    this.channel.pause();
  }
  resume(): void {
    this.channel.resume();
  }
  signal(name: string): void {
    try {
      this.channel.signal(name);
    } catch {
      // not all servers take signals
    }
  }
  close(): void {
    try {
      this.channel.signal('HUP');
    } catch {
      // not all servers take signals
    }
    this.client.end();
  }
}
