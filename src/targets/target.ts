/** Something that can be undone: a listener registration. */
export interface Disposable {
  dispose(): void;
}

export interface PtySpec {
  readonly term: string;
  readonly cols: number;
  readonly rows: number;
}

export interface ExitInfo {
  readonly code: number | null;
  /** Signal name without "SIG" (e.g. "TERM") when the process died of a signal. */
  readonly signal?: string;
}

/** What a session asks a target for. */
export interface OpenRequest {
  /** `subsystem` with command "sftp" is the only subsystem offered. */
  readonly kind: 'shell' | 'exec' | 'subsystem';
  readonly command?: string;
  readonly pty?: PtySpec;
  /** Client environment, already filtered by the allow-list. */
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
}

/** A running program on a target: bytes in and out, size changes, and its end. */
export interface TargetStream {
  onData(listener: (chunk: Buffer) => void): Disposable;
  /** Standard error, kept apart when there is no pty. */
  onStderr(listener: (chunk: Buffer) => void): Disposable;
  /** Fires once, after all output has been delivered. */
  onExit(listener: (exit: ExitInfo) => void): Disposable;
  write(chunk: Buffer): void;
  /** The client closed its input (EOF). */
  endInput(): void;
  resize(cols: number, rows: number): void;
  /** Flow control: stop and resume reading output while the client is slow. */
  pause(): void;
  resume(): void;
  /**
   * Whether input right now goes to a hidden prompt (a password), read from the terminal mode;
   * undefined where the mode cannot be read (the session then falls back to prompt detection).
   */
  inputHidden?(): boolean | undefined;
  /** Delivers a signal the client sent (name without "SIG", already allow-listed). */
  signal(name: string): void;
  /** Ends the program (hang-up). */
  close(): void;
}

/** Opens programs on one kind of target. */
export interface TargetConnector {
  /** The program interactive sessions run, where known (recorded in the asciicast header). */
  readonly shell?: string;
  open(req: OpenRequest): Promise<TargetStream>;
  /**
   * A TCP connection to `host:port` as seen from the target (`ssh -L`), where the target kind can
   * offer one. Absent: port forwarding is not available on this kind of target.
   */
  forward?(host: string, port: number): Promise<import('node:stream').Duplex>;
}
