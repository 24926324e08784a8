import { userInfo } from 'node:os';
import { loadConfig, type Config } from '../config/load.js';
import { BastionError, describeError } from '../errors.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { checkReasonText } from '../auth/justification.js';
import { isOverdue, ReviewStore, reviewsPath, type ReviewItem } from '../governance/reviews.js';
import { VIEWER_NAME } from '../live/tokens.js';
import { trustedKeys } from './recording.js';
import { openForPlayback } from '../../player/load.js';
import { formatKeys, typedLines } from '../../player/keys.js';
import { formatStamp } from '../../player/format.js';

function storeFor(config: Config): ReviewStore {
  return new ReviewStore(new FileKvStore<ReviewItem>(reviewsPath(config.data_dir)));
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function state(r: ReviewItem, now: number): string {
  if (r.status !== 'pending') return r.status.toUpperCase();
  return isOverdue(r, now) ? 'OVERDUE' : 'pending';
}

/** `bastion review list [--pending|--overdue]`. */
export async function reviewList(configFile: string, o: { pending?: boolean; overdue?: boolean }): Promise<number> {
  const config = loadConfig(configFile);
  const now = Date.now();
  const rows = (await storeFor(config).list()).filter((r) => (!o.pending || r.status === 'pending') && (!o.overdue || isOverdue(r, now)));
  if (rows.length === 0) {
    process.stdout.write(o.overdue ? 'No overdue reviews.\n' : o.pending ? 'No pending reviews.\n' : 'No reviews.\n');
    return 0;
  }
  for (const r of rows) {
    process.stdout.write(`${r.session_id}  ${state(r, now).padEnd(8)}  ${r.drill ? '[DRILL] ' : ''}${r.user} -> ${r.target}  ${r.ticket}  opened ${iso(r.opened_at)}  due ${iso(r.due_at)}${r.history.length ? `  last: ${r.history.at(-1)!.action} by ${r.history.at(-1)!.by}` : ''}\n`);
  }
  return 0;
}

/** `bastion review show ID`: the session, what was typed, the commands read off it, how to replay it. */
export async function reviewShow(configFile: string, id: string): Promise<number> {
  const config = loadConfig(configFile);
  const r = await storeFor(config).get(id);
  if (!r) throw new BastionError('STATE_IO', `no review for session ${id.slice(0, 64)} (bastion review list shows them)`);
  const now = Date.now();
  const out: string[] = [
    `Review of ${r.session_id}: ${state(r, now)}${r.drill ? ' (a fire drill: bastion drill)' : ''}`,
    `  user        ${r.user}`,
    `  target      ${r.target}  (break-glass)`,
    `  ticket      ${r.ticket}`,
    `  reason      ${r.reason}`,
    `  from        ${r.source_ip}`,
    `  started     ${iso(r.opened_at)}`,
    `  due         ${iso(r.due_at)}`,
  ];
  for (const h of r.history) out.push(`  ${h.action.padEnd(11)} by ${h.by} at ${iso(h.at)}: ${h.note}`);
  try {
    const opened = await openForPlayback(id, { config, trusted: trustedKeys(config) });
    const lines = typedLines(opened.rec.events);
    out.push(`  duration    ${Math.round(opened.rec.duration)} s`, `  recording   ${opened.verification.text.split('\n')[0]}`, '', 'Typed input:');
    for (const l of lines) out.push(`  ${formatStamp(l.t)}  ${formatKeys(l.keys)}`);
    const commands = lines.filter((l) => !opened.rec.events.inAltScreen(l.index) && l.redacted === undefined && l.keys.some((k) => 'key' in k && k.key === '⏎')).map((l) => formatKeys(l.keys).replace(/⏎$/, ''));
    out.push('', 'Commands (typed at the shell, ended with Enter; edits with arrows or tab completion may differ):');
    for (const c of commands) out.push(`  $ ${c}`);
    for (const w of opened.warnings) out.push(`  note: ${w}`);
  } catch (err) {
    out.push('', `The recording could not be read: ${describeError(err)}`);
  }
  out.push('', `Replay: bastion-player ${r.session_id} --config ${config.file}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** `bastion review approve|flag ID --reviewer NAME --note "..."`. */
export async function reviewDecide(configFile: string, action: 'approved' | 'flagged', id: string, o: { reviewer?: string; note?: string }): Promise<number> {
  const config = loadConfig(configFile);
  const reviewer = o.reviewer ?? '';
  if (!VIEWER_NAME.test(reviewer)) throw new BastionError('CONFIG_INVALID', '--reviewer NAME is required: letters, digits and . _ @ -');
  const note = checkReasonText(o.note, 2000);
  if (!note.ok) throw new BastionError('CONFIG_INVALID', `--note: ${note.message}`);
  // The login running the command must not be the reviewed user either, whatever --reviewer says.
  const login = userInfo().username;
  const item = await storeFor(config).get(id);
  if (item && login.toLowerCase() === item.user.toLowerCase()) {
    process.stderr.write(`bastion: refused: you are logged in as ${login}, whose session this is; nobody reviews their own session\n`);
    return 1;
  }
  const r = await storeFor(config).decide(id, action, reviewer, note.text, Date.now());
  if (!r.ok) {
    process.stderr.write(`bastion: refused: ${r.reason}\n`);
    return 1;
  }
  process.stdout.write(`Review of ${id} ${action} by ${reviewer}.\n`);
  return 0;
}
