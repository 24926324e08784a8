import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditLine {
  seq: number;
  type: string;
  [k: string]: unknown;
}

/** The audit lines of a test bastion's data dir. */
export function readAudit(dataDir: string): AuditLine[] {
  return readFileSync(join(dataDir, 'audit', 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

/** Waits until an audit line matching `pred` exists (lines are fsynced before the client is answered, but session ends are async). */
export async function waitForAudit(dataDir: string, pred: (l: AuditLine) => boolean, ms = 10_000): Promise<AuditLine> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = readAudit(dataDir).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error('audit line not found; have:\n' + readAudit(dataDir).map((l) => JSON.stringify(l)).join('\n'));
    await new Promise((r) => setTimeout(r, 50));
  }
}
