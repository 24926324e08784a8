import type { ServerChannel } from 'ssh2';

/**
 * The parts of an ssh2 1.x server channel that hold writes waiting for window space
 * (lib/Channel.js; lib/server.js resumes them on CHANNEL_WINDOW_ADJUST).
 */
interface WindowInternals {
  _write(data: Buffer, encoding: BufferEncoding | null, cb: (err?: Error | null) => void): void;
  _chunk?: Buffer;
  _chunkcb?: (err?: Error | null) => void;
  _chunkErr?: Buffer;
  _chunkcbErr?: (err?: Error | null) => void;
  outgoing: { window: number };
  stderr: { _write: WindowInternals['_write'] };
}

const REPAIRED = Symbol('bastion.windowRepaired');

/**
 * Repairs how an ssh2 1.17 server channel sends stdout and stderr that had to wait for the
 * client's window. Two flaws there lose or repeat bytes once the client stops reading for a while
 * (any flood does that):
 * - a waiting write, once sent, is never forgotten: the next time stderr waits, a window adjust
 *   sends the old stdout bytes again (the client sees them twice) instead of stderr;
 * - an adjust resumes stdout or stderr, never both: when both waited, stderr is left behind for
 *   good, and closing the channel drops it (a program's last error, the bastion's own notice).
 *
 * The repair forgets a waiting write as soon as it is resumed, and lets the other stream go on
 * while window space remains. Returns false, changing nothing, when the channel does not have the
 * internals this was written against (another ssh2 version); a test pins the one installed.
 */
export function repairWindowWaits(channel: ServerChannel): boolean {
  const ch = channel as unknown as WindowInternals & { [REPAIRED]?: true };
  if (ch[REPAIRED]) return true;
  if (!hasInternals(ch)) return false;
  const writeOut = ch._write;
  const writeErr = ch.stderr._write;
  /** After one stream finished sending: the other's waiting write goes now if the window allows. */
  const resumeWaiting = () => {
    if (ch.outgoing.window <= 0) return;
    if (ch._chunk && ch._chunkcb) ch._write(ch._chunk, null, ch._chunkcb);
    else if (ch._chunkErr && ch._chunkcbErr) ch.stderr._write(ch._chunkErr, null, ch._chunkcbErr);
  };
  ch._write = (data, encoding, cb) => {
    ch._chunk = undefined;
    ch._chunkcb = undefined;
    writeOut.call(ch, data, encoding, cb);
    resumeWaiting();
  };
  ch.stderr._write = (data, encoding, cb) => {
    ch._chunkErr = undefined;
    ch._chunkcbErr = undefined;
    writeErr.call(ch.stderr, data, encoding, cb);
    resumeWaiting();
  };
  ch[REPAIRED] = true;
  return true;
}

/** True once `repairWindowWaits` has repaired the channel: stderr that waits is then always sent. */
export function isWindowRepaired(channel: ServerChannel): boolean {
  return (channel as unknown as { [REPAIRED]?: true })[REPAIRED] === true;
}

function hasInternals(ch: Partial<WindowInternals>): ch is WindowInternals {
  return (
    typeof ch._write === 'function' &&
    typeof ch.stderr?._write === 'function' &&
    typeof ch.outgoing?.window === 'number' &&
    '_chunk' in ch &&
    '_chunkcb' in ch &&
    '_chunkErr' in ch &&
    '_chunkcbErr' in ch
  );
}
