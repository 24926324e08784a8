import type { KeyObject } from 'node:crypto';
import type { Config } from '../src/config/load.js';
import { checkSignature, type Manifest } from '../src/recording/manifest.js';
import { explainStoreError, storeForReading } from '../src/storage/recording-source.js';
import { BastionError } from '../src/errors.js';
import { formatTime, visible } from './format.js';

/** One recorded session, as its manifest in the bucket describes it. */
export interface SessionRow {
  readonly id: string;
  /** s3://bucket/key of the recording. */
  readonly url: string;
  readonly started: string;
  readonly seconds: number;
  readonly user: string;
  readonly target: string;
  readonly ticket: string;
  readonly reason: string;
  readonly breakGlass: boolean;
  /** A fire drill's session (`bastion drill`). */
  readonly drill: boolean;
  readonly incomplete: boolean;
  /** 'valid', or why the signature check failed. */
  readonly signature: string;
}

export interface ListFilter {
  readonly user?: string;
  readonly target?: string;
  /** Only sessions that started at or after this time (ms since the epoch). */
  readonly since?: number;
  readonly breakGlass?: boolean;
  /** Only break-glass sessions that no reviewer has acted on: not in this set of reviewed session ids. */
  readonly unreviewedAgainst?: ReadonlySet<string>;
}

const CONCURRENCY = 16;

/** Reads the manifests in the configured bucket (only the days in range when `since` is given), newest first. */
export async function listSessions(config: Config, trusted: readonly KeyObject[], filter: ListFilter, now: number): Promise<SessionRow[]> {
  const store = storeForReading(config, config.storage.bucket);
  const prefix = config.storage.prefix ? `${config.storage.prefix.replace(/\/+$/, '')}/` : '';
  try {
    const keys: string[] = [];
    for (const p of dayPrefixes(prefix, filter.since, now)) {
      for await (const k of store.list(p)) if (k.endsWith('.manifest.json')) keys.push(k);
    }
    const rows: SessionRow[] = [];
    for (let i = 0; i < keys.length; i += CONCURRENCY) {
      const batch = await Promise.all(keys.slice(i, i + CONCURRENCY).map(async (k) => ({ key: k, text: (await store.get(k)).toString('utf8') })));
      for (const { key, text } of batch) {
        const row = toRow(config.storage.bucket, key, text, trusted);
        if (row && matches(row, filter)) rows.push(row);
      }
    }
    return rows.sort((a, b) => b.started.localeCompare(a.started));
  } catch (err) {
    throw err instanceof BastionError ? err : explainStoreError(store, err);
  } finally {
    store.destroy();
  }
}

/** PREFIX/YYYY/MM/DD/ for each day from `since` to now (UTC), or the whole prefix. */
function dayPrefixes(prefix: string, since: number | undefined, now: number): string[] {
  if (since === undefined) return [prefix];
  const out: string[] = [];
  const day = 86_400_000;
  for (let t = Math.floor(since / day) * day; t <= now; t += day) {
    const d = new Date(t).toISOString();
    out.push(`${prefix}${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/`);
  }
  return out;
}

function toRow(bucket: string, key: string, text: string, trusted: readonly KeyObject[]): SessionRow | undefined {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    return undefined;
  }
  if (!m || typeof m !== 'object' || !m.metadata || typeof m.session_id !== 'string') return undefined;
  const checked = trusted.length > 0 ? checkSignature(text, trusted) : undefined;
  const started = Date.parse(m.started_at);
  const ended = Date.parse(m.ended_at);
  return {
    id: m.session_id,
    url: `s3://${bucket}/${key.replace(/\.manifest\.json$/, '.cast.gz')}`,
    started: m.started_at,
    seconds: Number.isFinite(ended - started) ? Math.max(0, (ended - started) / 1000) : 0,
    user: String(m.metadata.user),
    target: String(m.metadata.target),
    ticket: String(m.metadata.ticket ?? ''),
    reason: String(m.metadata.reason ?? ''),
    breakGlass: m.metadata.break_glass === true,
    drill: m.metadata.drill === true,
    incomplete: m.incomplete === true,
    signature: !checked ? 'not checked' : 'where' in checked ? checked.reason : 'valid',
  };
}

function matches(r: SessionRow, f: ListFilter): boolean {
  if (f.user !== undefined && r.user !== f.user) return false;
  if (f.target !== undefined && r.target !== f.target) return false;
  if (f.breakGlass && !r.breakGlass) return false;
  if (f.since !== undefined && Date.parse(r.started) < f.since) return false;
  if (f.unreviewedAgainst && (!r.breakGlass || f.unreviewedAgainst.has(r.id))) return false;
  return true;
}

const COLUMNS = ['STARTED (UTC)', 'DURATION', 'USER', 'TARGET', 'TICKET', 'BREAK-GLASS', 'SESSION', 'SIGNATURE'];

/** The table as lines of text, columns padded; the first line is the heading. */
export function formatTable(rows: readonly SessionRow[]): string[] {
  const cells = rows.map((r) => [
    r.started.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
    formatTime(r.seconds, true).replace(/\.\d$/, ''),
    r.user,
    r.target,
    r.ticket,
    r.breakGlass ? (r.drill ? 'DRILL' : 'YES') : '',
    r.id + (r.incomplete ? ' (incomplete)' : ''),
    r.signature,
  ].map((c) => visible(c)));
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(COLUMNS), ...cells.map(line)];
}
