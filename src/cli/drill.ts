import { userInfo } from 'node:os';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { BastionError } from '../errors.js';
import { runDrill } from '../drill/drill.js';
import { formatChecklist } from '../drill/checklist.js';

/** The OS login of whoever runs the drill; containers may run a uid with no passwd entry. */
function whoami(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * `bastion drill --config FILE [--timeout 60s] [--json]`: a synthetic break-glass session against
 * the running bastion; prints the checklist, exits 1 when a control failed. The outcome is kept
 * for the bastion to audit (drill.completed), so reports show when drills last passed.
 */
export async function drill(configFile: string, o: { timeout?: string; json?: boolean }): Promise<number> {
  const config = loadConfig(configFile);
  const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
  if (o.timeout !== undefined && (timeoutMs === undefined || timeoutMs < 1000 || timeoutMs > 600_000)) {
    throw new BastionError('CONFIG_INVALID', `--timeout: expected a duration from 1s to 10m, such as 30s, not "${String(o.timeout).slice(0, 32)}"`);
  }
  const report = await runDrill(config, { by: whoami(), ...(timeoutMs !== undefined ? { timeoutMs } : {}), progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatChecklist(report));
  return report.ok ? 0 : 1;
}
