import type { ServerChannel } from 'ssh2';
import type { ExitInfo, TargetStream } from '../targets/target.js';

/**
 * Moves bytes between the client's channel and the target until the target exits or the client
 * goes away. Output respects the channel's flow control (the target is paused while the client's
 * window is full). Resolves with how it ended.
 */
export function pump(channel: ServerChannel, stream: TargetStream, onInput: () => void = () => undefined): Promise<{ exit?: ExitInfo; clientClosed: boolean }> {
  return new Promise((resolve) => {
    let waitingForDrain = false;
    let finished = false;
    const finish = (result: { exit?: ExitInfo; clientClosed: boolean }) => {
      if (finished) return;
      finished = true;
      for (const d of disposables) d.dispose();
      resolve(result);
    };
    const onDrain = () => {
      waitingForDrain = false;
      stream.resume();
    };
    const disposables = [
      stream.onData((chunk) => {
        if (!channel.write(chunk) && !waitingForDrain) {
          waitingForDrain = true;
          stream.pause();
          channel.once('drain', onDrain);
        }
      }),
      stream.onStderr((chunk) => {
        channel.stderr.write(chunk);
      }),
      stream.onExit((exit) => {
        sendExit(channel, exit);
        finish({ exit, clientClosed: false });
      }),
    ];
    channel.on('data', (chunk: Buffer) => {
      onInput();
      stream.write(chunk);
    });
    channel.on('end', () => stream.endInput());
    channel.on('close', () => {
      stream.close();
      finish({ clientClosed: true });
    });
    channel.on('error', () => undefined); // a reset client is reported through 'close'
  });
}

/** Reports the exit status (or signal; nothing when unknown) to the client, then closes the channel. */
export function sendExit(channel: ServerChannel, exit: ExitInfo): void {
  try {
    if (exit.signal) channel.exit(exit.signal, false, '');
    else if (exit.code !== null) channel.exit(exit.code);
    channel.end();
  } catch {
    // the client is already gone
  }
}
