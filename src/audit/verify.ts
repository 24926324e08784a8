import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { GENESIS_HASH, sha256Hex } from './audit-log.js';

export type AuditVerifyResult =
  | { ok: true; lines: number; lastHash: string }
  | { ok: false; line: number; reason: string };

/** Walks the chain from the first line; names the first line that does not follow from the one before. */
export async function verifyAuditLog(path: string): Promise<AuditVerifyResult> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let prev = GENESIS_HASH;
  let n = 0;
  for await (const line of rl) {
    n += 1;
    let rec: { seq?: unknown; prev?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      return { ok: false, line: n, reason: 'not valid JSON (edited or truncated)' };
    }
    if (rec.prev !== prev) return { ok: false, line: n, reason: 'hash chain broken: "prev" does not match the line before (a line was changed, removed or inserted)' };
    if (rec.seq !== n) return { ok: false, line: n, reason: `sequence number ${String(rec.seq)} where ${n} was expected` };
    prev = sha256Hex(line);
  }
  return { ok: true, lines: n, lastHash: prev };
}
