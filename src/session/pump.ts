import { constants } from 'node:os';
import { finished } from 'node:stream';
import type { ServerChannel } from 'ssh2';
import { isWindowRepaired } from '../ssh/channel-window.js';
import type { ExitInfo, TargetStream } from '../targets/target.js';

/** Signal names RFC 4254 allows in exit-signal; others are reported as exit status 128+n, as shells do. */
const RFC_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/**
 * Moves bytes between the client's channel and the target until the target exits or the client
 * goes away. Output respects the channel's flow control (the target is paused while the client's
 * window is full). Resolves with how it ended.
 */
/** Sees every byte that passes (the recorder, the idle clock); must never block. */
export interface PumpTap {
  input(chunk: Buffer): void;
  output(chunk: Buffer): void;
  /** While a sink (the recording) is behind: resolves when it has caught up; the target waits. */
  backlog?(): Promise<void> | undefined;
}

export function pump(channel: ServerChannel, stream: TargetStream, tap: PumpTap): Promise<{ exit?: ExitInfo; clientClosed: boolean }> {
  return new Promise((resolve) => {
    let waiting = 0;
    let finished = false;
    const finish = (result: { exit?: ExitInfo; clientClosed: boolean }) => {
      if (finished) return;
      finished = true;
      for (const d of disposables) d.dispose();
      resolve(result);
    };
    // stdout and stderr share the channel window: pause the target until both have drained.
    // (waiting counts everything the target waits for: the client's window, the recording.)
    const backpressure = (writable: NodeJS.WritableStream, ok: boolean) => {
      if (ok) return;
      if (waiting++ === 0) stream.pause();
      writable.once('drain', () => {
        if (--waiting === 0) stream.resume();
      });
    };
    // The recording is never dropped to go faster: while it is behind, the target waits for it too.
    const recorderBehind = () => {
      const wait = tap.backlog?.();
      if (!wait) return;
      if (waiting++ === 0) stream.pause();
      void wait.then(() => {
        if (--waiting === 0) stream.resume();
      });
    };
    const disposables = [
      stream.onData((chunk) => {
        tap.output(chunk);
        recorderBehind();
        if (channel.writable) backpressure(channel, channel.write(chunk));
      }),
      stream.onStderr((chunk) => {
        tap.output(chunk);
        recorderBehind();
        if (channel.stderr.writable) backpressure(channel.stderr, channel.stderr.write(chunk));
      }),
      stream.onExit((exit) => {
        sendExit(channel, exit);
        finish({ exit, clientClosed: false });
      }),
    ];
    channel.on('data', (chunk: Buffer) => {
      // Recorded before it is written: a password prompt's mode is judged as the program set it.
      tap.input(chunk);
      stream.write(chunk);
    });
    channel.resume(); // the target menu may have paused it, holding early keystrokes
    channel.on('end', () => stream.endInput());
    channel.on('close', () => {
      stream.close();
      finish({ clientClosed: true });
    });
    channel.on('error', () => undefined); // a reset client is reported through 'close'
  });
}

/**
 * Reports the exit status (or signal; nothing when unknown) to the client, then closes the channel
 * once stderr has been sent: nothing may follow the channel's EOF, so stderr still waiting for the
 * client's window (a message after a flood) would otherwise be dropped.
 */
export function sendExit(channel: ServerChannel, exit: ExitInfo): void {
  try {
    if (exit.signal && RFC_SIGNALS.has(exit.signal)) channel.exit(exit.signal, false, '');
    else if (exit.signal) channel.exit(128 + (constants.signals[`SIG${exit.signal}` as NodeJS.Signals] ?? 0));
    else if (exit.code !== null) channel.exit(exit.code);
  } catch {
    // the client is already gone
  }
  const endChannel = () => {
    try {
      channel.end();
    } catch {
      // already closed
    }
  };
  const stderr = channel.stderr;
  // Without the repair ssh2 may never send stderr that waited: waiting for it would hang the client.
  if (!stderr.writable || !isWindowRepaired(channel)) return endChannel();
  finished(stderr, endChannel);
  stderr.end();
}
