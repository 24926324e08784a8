/** Machine-readable error codes; the message always says what to do next. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'KEY_INVALID'
  | 'USER_UNKNOWN'
  | 'FILE_EXISTS'
  | 'AUDIT_IO'
  | 'STATE_IO'
  | 'TARGET_FAILED'
  | 'BAD_RECORDING';

/** The one error class of the project: a code, a message for humans, and the underlying cause. */
export class BastionError extends Error {
  override readonly name = 'BastionError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Exhaustiveness guard for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/** A short, single-line description of any thrown value (no stack). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout...) is its cause.
    const cause = err.cause instanceof Error ? ((err.cause as NodeJS.ErrnoException).code ?? err.cause.message) : undefined;
    return err.message === 'fetch failed' && cause ? `${err.message}: ${cause}` : err.message;
  }
  return String(err);
}
