import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { KvStore } from '../state/kv-store.js';

/**
 * One `bastion drill`. The CLI registers it before logging in; the bastion lets the drill user in
 * only while a registered drill is open, and marks the session as a drill only when its reason
 * names that drill (claimed once). The drill user's key and code alone are no way in, and
 * whatever they do outside a drill is not hidden behind a drill mark.
 */
export interface DrillRecord {
  readonly id: string;
  readonly by: string;
  readonly started_at: string;
  /** The drill's login must claim it before this (ms since the epoch). */
  readonly login_by: number;
  readonly claimed_at?: number;
  readonly outcome?: {
    readonly session_id?: string;
    readonly ms: number;
    readonly ok: boolean;
    /** The controls that failed, by id. */
    readonly failed: readonly string[];
  };
  /** Set by the server once it has written the outcome to the audit log (the CLI does not write it). */
  readonly audited?: boolean;
}

/** How long a registered drill waits for its login. */
export const DRILL_LOGIN_WINDOW_MS = 120_000;
/** Drill ids, as the drill puts them in its reason: d-<time36>-<6 hex>. */
const DRILL_ID = /\bd-[0-9a-z]{6,12}-[0-9a-f]{6}\b/;

export function newDrillId(now: number): string {
  return `d-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function drillsPath(dataDir: string): string {
  return join(dataDir, 'state', 'drills.json');
}

const open = (r: DrillRecord, now: number) => r.claimed_at === undefined && r.outcome === undefined && r.login_by > now;

/** Drills by id, behind the shared KvStore port (a file on one node, Redis for a fleet). */
export class DrillStore {
  constructor(private readonly kv: KvStore<DrillRecord>) {}

  async register(id: string, by: string, now: number): Promise<void> {
    await this.kv.update(id, () => ({ id, by, started_at: new Date(now).toISOString(), login_by: now + DRILL_LOGIN_WINDOW_MS }));
  }

  /** Is a registered drill waiting for its login? */
  async anyOpen(now: number): Promise<boolean> {
    return (await this.kv.entries()).some(([, r]) => open(r, now));
  }

  /** The drill named in a login's reason, if it is open: claimed atomically, once. */
  async claim(reason: string, now: number): Promise<string | undefined> {
    const id = DRILL_ID.exec(reason)?.[0];
    if (!id) return undefined;
    let claimed = false;
    await this.kv.update(id, (r) => {
      if (!r || !open(r, now)) return r;
      claimed = true;
      return { ...r, claimed_at: now };
    });
    return claimed ? id : undefined;
  }

  async finish(id: string, outcome: NonNullable<DrillRecord['outcome']>): Promise<void> {
    await this.kv.update(id, (r) => (r ? { ...r, outcome } : r));
  }

  async unaudited(): Promise<DrillRecord[]> {
    return (await this.kv.entries()).map(([, r]) => r).filter((r) => r.outcome !== undefined && !r.audited);
  }

  async markAudited(id: string): Promise<void> {
    await this.kv.update(id, (r) => (r ? { ...r, audited: true } : r));
  }
}
