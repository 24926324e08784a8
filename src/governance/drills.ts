import { join } from 'node:path';
import type { KvStore } from '../state/kv-store.js';

/** The outcome of one `bastion drill`, kept so the server can audit it (the CLI does not write the audit log). */
export interface DrillRecord {
  readonly id: string;
  readonly session_id?: string;
  readonly started_at: string;
  readonly ms: number;
  readonly ok: boolean;
  /** The controls that failed, by id. */
  readonly failed: readonly string[];
  /** Who ran it (OS login). */
  readonly by: string;
  readonly audited?: boolean;
}

export function drillsPath(dataDir: string): string {
  return join(dataDir, 'state', 'drills.json');
}

/** Drill outcomes by drill id, behind the shared KvStore port. */
export class DrillStore {
  constructor(private readonly kv: KvStore<DrillRecord>) {}

  async add(r: DrillRecord): Promise<void> {
    await this.kv.update(r.id, () => r);
  }

  async unaudited(): Promise<DrillRecord[]> {
    return (await this.kv.entries()).map(([, r]) => r).filter((r) => !r.audited);
  }

  async markAudited(id: string): Promise<void> {
    await this.kv.update(id, (r) => (r ? { ...r, audited: true } : r));
  }
}
