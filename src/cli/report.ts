import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { BastionError, describeError } from '../errors.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { verifyAuditLog } from '../audit/verify.js';
import { ReviewStore, reviewsPath, type ReviewItem } from '../governance/reviews.js';
import { buildReport, reportCsv, reportMarkdown, type AuditRecord, type ManifestSummary } from '../governance/report.js';
import { trustedKeys } from './recording.js';
import { listSessions } from '../../player/list.js';

/** `bastion report --since 30d [--format md|csv|json]`: counted from the audit log, the review store and the bucket's manifests. */
export async function report(configFile: string, o: { since: string; format: string; file?: string }): Promise<number> {
  const config = loadConfig(configFile);
  const sinceMs = parseDuration(o.since);
  if (sinceMs === undefined) throw new BastionError('CONFIG_INVALID', `--since: expected a duration such as 30d or 12h, not "${o.since.slice(0, 32)}"`);
  if (!['md', 'csv', 'json'].includes(o.format)) throw new BastionError('CONFIG_INVALID', `--format must be md, csv or json, not "${o.format.slice(0, 16)}"`);
  const path = o.file ?? join(config.data_dir, 'audit', 'audit.jsonl');
  if (!existsSync(path)) throw new BastionError('STATE_IO', `${path}: no audit log (has the bastion run with this config?)`);
  const chain = await verifyAuditLog(path);
  const lines: AuditRecord[] = [];
  for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    try {
      lines.push(JSON.parse(line) as AuditRecord);
    } catch {
      // a torn or edited line: the chain check above reports it
    }
  }
  const reviews = existsSync(reviewsPath(config.data_dir)) ? await new ReviewStore(new FileKvStore<ReviewItem>(reviewsPath(config.data_dir))).list() : [];
  const now = Date.now();
  const manifests: ManifestSummary = await listSessions(config, trustedKeys(config), { since: now - sinceMs }, now).then(
    (rows) => ({ ok: true as const, manifests: rows.map((row) => ({ session_id: row.id, incomplete: row.incomplete, signature: row.signature })) }),
    (err: unknown) => ({ ok: false as const, error: describeError(err) }),
  );
  const r = buildReport(lines, reviews, now - sinceMs, now, chain.ok ? { ok: true, lines: chain.lines, detail: `${chain.lines} lines, last hash ${chain.lastHash.slice(0, 16)}…` } : { ok: false, lines: chain.line, detail: `line ${chain.line}: ${chain.reason}` }, manifests);
  process.stdout.write(o.format === 'json' ? JSON.stringify(r, null, 2) + '\n' : o.format === 'csv' ? reportCsv(r) : reportMarkdown(r));
  return r.audit_chain.ok ? 0 : 1;
}
