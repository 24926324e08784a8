import { homedir, userInfo } from 'node:os';
import type { ResolvedLocalTarget } from '../config/targets.js';
import { BastionError } from '../errors.js';
import { spawnPiped, type PipedChild, type SpawnOptions } from './child-spawn.js';
import { Emitter } from './emitter.js';
import { hangUpGroup, signalGroup } from './process-group.js';
import { PtyStream } from './pty-stream.js';
import type { ExitInfo, OpenRequest, TargetConnector, TargetStream } from './target.js';

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Runs the target's shell on this host: in a pty (node-pty) when the client asked for one, else with pipes. */
export class LocalTargetConnector implements TargetConnector {
  readonly shell: string;

  constructor(private readonly target: ResolvedLocalTarget) {
    this.shell = target.command?.[0] ?? target.shell;
  }

  async open(req: OpenRequest): Promise<TargetStream> {
    const t = this.target;
    let file = t.shell;
    let args: string[];
    if (req.kind === 'subsystem') {
      if (t.command) throw new BastionError('TARGET_FAILED', `target ${t.name} runs a fixed program and offers no file transfer`);
      const env = this.environment(req);
      const ids = t.run_as ? { uid: t.run_as.uid, gid: t.run_as.gid } : {};
      return new PipeStream(t.sftp_server, [], { cwd: t.cwd ?? t.run_as?.home ?? homedir(), env, ...ids });
    }
    if (t.command) {
      // A fixed-program target (psql, kubectl exec -it ...) is interactive only: no arbitrary commands.
      if (req.kind === 'exec') throw new BastionError('TARGET_FAILED', `target ${t.name} runs a fixed program and does not accept commands; connect without one`);
      [file, ...args] = t.command as [string, ...string[]];
    } else {
      args = req.kind === 'exec' ? ['-c', req.command ?? ''] : req.pty ? ['-l'] : [];
    }
    const env = this.environment(req);
    const ids = t.run_as ? { uid: t.run_as.uid, gid: t.run_as.gid } : {};
    const cwd = t.cwd ?? t.run_as?.home ?? homedir();
    return req.pty ? new PtyStream(file, args, { ...req.pty, cwd, env, ...ids }) : new PipeStream(file, args, { cwd, env, ...ids });
  }

  /** A minimal base, then the client's allow-listed variables, then the target's own (which win). */
  private environment(req: OpenRequest): Record<string, string> {
    const name = this.target.run_as?.name ?? userInfo().username;
    return {
      PATH: SAFE_PATH,
      HOME: this.target.run_as?.home ?? homedir(),
      USER: name,
      LOGNAME: name,
      SHELL: this.target.shell,
      ...(req.pty ? { TERM: req.pty.term } : {}),
      ...req.env,
      BASTION_USER: req.user,
      BASTION_TARGET: this.target.name,
      ...this.target.env,
    };
  }
}

class PipeStream implements TargetStream {
  private readonly data = new Emitter<Buffer>();
  private readonly stderr = new Emitter<Buffer>();
  private readonly exit = new Emitter<ExitInfo>();
  private readonly child: PipedChild;
  private exited = false;

  constructor(file: string, args: string[], o: SpawnOptions) {
    this.child = spawnPiped(file, args, o);
    this.child.stdout.on('data', (d: Buffer) => this.data.emit(d));
    this.child.stderr.on('data', (d: Buffer) => this.stderr.emit(d));
    this.child.stdin.on('error', () => undefined); // EPIPE when the program exits before reading its input
    void this.child.done.then((r) => {
      if ('exit' in r) return this.finish(r.exit);
      this.stderr.emit(Buffer.from(`bastion: ${r.error.message}\n`));
      this.finish({ code: 127 });
    });
  }

  private finish(info: ExitInfo): void {
    if (this.exited) return;
    this.exited = true;
    this.exit.emit(info);
  }

  onData = (l: (b: Buffer) => void) => this.data.on(l);
  onStderr = (l: (b: Buffer) => void) => this.stderr.on(l);
  onExit = (l: (e: ExitInfo) => void) => this.exit.on(l);
  write(chunk: Buffer): void {
    if (this.child.stdin.writable) this.child.stdin.write(chunk);
  }
  endInput(): void {
    this.child.stdin.end();
  }
  resize(): void {
    // no terminal to resize
  }
  pause(): void {
    this.child.stdout.pause();
    this.child.stderr.pause();
  }
  resume(): void {
    this.child.stdout.resume();
    this.child.stderr.resume();
  }
  signal(name: string): void {
    signalGroup(this.child.pid, `SIG${name}` as NodeJS.Signals);
  }
  close(): void {
    hangUpGroup(this.child.pid, () => this.exited);
  }
}
