import { BastionError, describeError } from '../errors.js';

/**
 * Wraps command actions: known errors become one clear line (prefixed with the program's name)
 * and an exit code, never a stack trace. Config errors exit 2, other known errors 1, bugs 70.
 */
export function runner(programName: string) {
  return async function run(action: () => Promise<number | void> | number | void): Promise<void> {
    try {
      const code = await action();
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      if (err instanceof BastionError) {
        process.stderr.write(`${programName}: ${err.message}\n`);
        process.exitCode = err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_NOT_FOUND' ? 2 : 1;
      } else {
        process.stderr.write(`${programName}: unexpected error: ${describeError(err)}\n`);
        process.exitCode = 70;
      }
    }
  };
}
