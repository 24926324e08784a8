import { userInfo } from 'node:os';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { BastionError } from '../errors.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { runDrill } from '../drill/drill.js';
import { formatChecklist } from '../drill/checklist.js';
import { DrillStore, drillsPath, type DrillRecord } from '../governance/drills.js';

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
  const report = await runDrill(config, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), progress: (line) => process.stderr.write(`${line}\n`) });
  const record: DrillRecord = {
    id: report.drill_id,
    ...(report.session_id ? { session_id: report.session_id } : {}),
    started_at: report.started_at,
    ms: report.ms,
    ok: report.ok,
    failed: report.controls.filter((c) => !c.ok).map((c) => c.id),
    by: userInfo().username,
  };
  await new DrillStore(new FileKvStore<DrillRecord>(drillsPath(config.data_dir))).add(record);
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatChecklist(report));
  return report.ok ? 0 : 1;
}
