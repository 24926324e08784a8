import { userInfo } from 'node:os';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { BastionError } from '../errors.js';
import { FileKvStore } from '../state/file-kv-store.js';
import { checkReasonText } from '../auth/justification.js';
import { isSessionId } from '../storage/recording-source.js';
import { VIEWER_NAME, VIEWER_ROLES, ViewerTokens, viewerTokensPath, type ViewerRole, type ViewerToken } from '../live/tokens.js';
import { killRequestsPath, newKillRequest, type KillRequest } from '../live/control.js';

const MAX_TOKEN_TTL = 30 * 86_400_000;

function tokensFor(configFile: string): ViewerTokens {
  return new ViewerTokens(new FileKvStore<ViewerToken>(viewerTokensPath(loadConfig(configFile).data_dir)));
}

/** `bastion token issue NAME --role auditor|moderator --ttl 8h`: prints the token once; only its hash is kept. */
export async function tokenIssue(configFile: string, name: string, o: { role: string; ttl: string }): Promise<number> {
  if (!VIEWER_NAME.test(name)) throw new BastionError('CONFIG_INVALID', `"${name.slice(0, 64)}" is not a name: letters, digits and . _ @ - (the viewer's name, shown to the watched user)`);
  if (!VIEWER_ROLES.includes(o.role as ViewerRole)) throw new BastionError('CONFIG_INVALID', `--role must be auditor (watch) or moderator (watch and end sessions), not "${o.role.slice(0, 32)}"`);
  const ttl = parseDuration(o.ttl);
  if (ttl === undefined || ttl < 60_000 || ttl > MAX_TOKEN_TTL) throw new BastionError('CONFIG_INVALID', `--ttl must be a duration from 1m to 30d, such as 8h`);
  const { token, record } = await tokensFor(configFile).issue(name, o.role as ViewerRole, ttl, Date.now());
  process.stderr.write(`Issued ${record.role} token ${record.id} for ${record.name}, valid until ${new Date(record.expires_at).toISOString()}. It is shown once:\n`);
  process.stdout.write(`${token}\n`);
  return 0;
}

export async function tokenList(configFile: string): Promise<number> {
  const now = Date.now();
  const rows = await tokensFor(configFile).list();
  if (rows.length === 0) process.stdout.write('No viewer tokens.\n');
  for (const t of rows) {
    const state = t.revoked_at !== undefined ? 'revoked' : t.expires_at <= now ? 'expired' : `until ${new Date(t.expires_at).toISOString()}`;
    process.stdout.write(`${t.id}  ${t.name}  ${t.role}  ${state}\n`);
  }
  return 0;
}

export async function tokenRevoke(configFile: string, id: string): Promise<number> {
  const t = await tokensFor(configFile).revoke(id, Date.now());
  if (!t) {
    process.stderr.write(`bastion: no viewer token ${id.slice(0, 32)} (bastion token list shows them)\n`);
    return 1;
  }
  process.stdout.write(`Revoked ${t.id} (${t.name}, ${t.role}); sockets opened with it are not closed, new ones are refused.\n`);
  return 0;
}

/**
 * `bastion session kill ID --reason R`: asks the bastion running the session to end it (through
 * the shared state), then waits for it to say it did.
 */
export async function sessionKill(configFile: string, id: string, o: { reason?: string; by?: string; wait?: number }): Promise<number> {
  const config = loadConfig(configFile);
  const reason = checkReasonText(o.reason);
  if (!reason.ok) throw new BastionError('CONFIG_INVALID', `--reason: ${reason.message} (the user is shown it)`);
  const by = o.by ?? userInfo().username;
  if (!VIEWER_NAME.test(by)) throw new BastionError('CONFIG_INVALID', `--by: "${by.slice(0, 64)}" is not a name: letters, digits and . _ @ - (the user is shown it)`);
  if (!isSessionId(id)) throw new BastionError('CONFIG_INVALID', `"${id.slice(0, 64)}" is not a session id (s-YYYYMMDDTHHMMSSZ-xxxxxxxx)`);
  const kills = new FileKvStore<KillRequest>(killRequestsPath(config.data_dir));
  const req = newKillRequest(id, reason.text, `cli:${by}`, Date.now());
  await kills.update(req.id, () => req);
  const deadline = Date.now() + (o.wait ?? 5_000);
  while (Date.now() < deadline) {
    if ((await kills.get(req.id))?.done_at !== undefined) {
      process.stdout.write(`Session ${id} was ended: "${reason.text}".\n`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await kills.update(req.id, () => undefined);
  process.stderr.write(`bastion: no bastion answered for session ${id} within ${Math.round((o.wait ?? 5_000) / 1000)} s: it is not running, or it has already ended\n`);
  return 1;
}
