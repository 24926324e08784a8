import { loadAddon } from '../native/load-addon.js';

interface TermiosAddon {
  inputHidden(fd: number): boolean | null;
  pending?(fd: number): number;
  dup?(fd: number): number;
}

/** The small native addon in src/native/termios. */
const addon = loadAddon<TermiosAddon>('termios');

/** True when the native termios check is available (it is built on every supported platform). */
export const termiosAvailable = addon !== undefined;

/** Whether the program behind this pty master is reading a hidden line (a password); undefined if unknown. */
export function inputHidden(fd: number): boolean | undefined {
  const r = addon?.inputHidden(fd);
  return r === null ? undefined : r;
}

/** Bytes waiting to be read on fd (FIONREAD); undefined when unknown. */
export function pendingBytes(fd: number): number | undefined {
  const n = addon?.pending?.(fd);
  return n === undefined || n < 0 ? undefined : n;
}

/** A second descriptor for fd's open file (close-on-exec); undefined when it cannot be made. */
export function dupFd(fd: number): number | undefined {
  const n = addon?.dup?.(fd);
  return n === undefined || n < 0 ? undefined : n;
}
