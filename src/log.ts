import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that could ever carry a secret. Secrets are also typed (`Secret` prints as [redacted]),
 * this is the second belt: a field with one of these names is never written out.
 */
const REDACT_PATHS = [
  'password',
  'passphrase',
  'secret',
  'token',
  'code',
  'answers',
  'privateKey',
  '*.password',
  '*.passphrase',
  '*.secret',
  '*.token',
  '*.code',
  '*.answers',
  '*.privateKey',
];

export interface LogOptions {
  level: string;
  destination?: NodeJS.WritableStream;
}

/** The logger factory: JSON lines on stdout (or the given stream), with redaction. */
export function createLogger(opts: LogOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'bastion' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** A logger that writes nothing (tests, CLI subcommands). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
