#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../src/config/load.js';
import { FileKvStore } from '../src/state/file-kv-store.js';
import { ReviewStore, reviewsPath, type ReviewItem } from '../src/governance/reviews.js';
import { parseDuration } from '../src/config/duration.js';
import { BastionError } from '../src/errors.js';
import { runner } from '../src/cli/run.js';
import { trustedKeys } from '../src/cli/recording.js';
import { VERSION } from '../src/version.js';
import { openForPlayback } from './load.js';
import { catMode, keystrokesMode, screenAtMode, verifyMode } from './modes.js';
import { formatTable, listSessions } from './list.js';
import { runListUi } from './list-ui.js';
import { runPlayerUi } from './ui.js';
import { watchMode } from './watch.js';
import { parseTime } from './format.js';
import { SPEEDS } from './playback.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const run = runner('bastion-player');

interface PlayOptions {
  config?: string;
  publicKey?: string[];
  cat?: boolean;
  screenAt?: number;
  keystrokes?: boolean;
  verify?: boolean;
  speed?: number;
  maxBytes?: number;
}

const seconds = (v: string) => {
  const t = parseTime(v);
  if (t === undefined) throw new InvalidArgumentError('expected seconds (75.5) or a time (1:15.5, 1:02:03)');
  return t;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};
const megabytes = (v: string) => positive(v) * 1024 * 1024;

function needTerminal(): void {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new BastionError('CONFIG_INVALID', 'the interactive player needs a terminal; in scripts use --cat, --screen-at, --keystrokes or --verify');
  }
}

async function play(ref: string, o: PlayOptions): Promise<number> {
  const config = o.config ? loadConfig(o.config) : undefined;
  const common = { ...(config ? { config } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}), trusted: trustedKeys(config, o.publicKey) };
  const modes = [o.cat, o.screenAt !== undefined, o.keystrokes, o.verify].filter(Boolean).length;
  if (modes > 1) throw new BastionError('CONFIG_INVALID', 'choose one of --cat, --screen-at, --keystrokes and --verify');
  if (o.cat) return catMode(ref, common);
  if (o.screenAt !== undefined) return screenAtMode(ref, o.screenAt, common);
  if (o.keystrokes) return keystrokesMode(ref, common);
  if (o.verify) return verifyMode(ref, common);
  needTerminal();
  process.stderr.write(`opening ${ref}…\n`);
  const opened = await openForPlayback(ref, { ...common, index: true });
  await runPlayerUi(opened, o.speed !== undefined ? { speed: o.speed } : {});
  return 0;
}

interface ListOptions {
  config: string;
  publicKey?: string[];
  user?: string;
  target?: string;
  since?: number;
  breakGlass?: boolean;
  unreviewed?: boolean;
  json?: boolean;
  maxBytes?: number;
}

/** Sessions a reviewer has acted on (approved or flagged), from the bastion's data dir. */
async function reviewedSessions(config: Config): Promise<Set<string>> {
  if (!existsSync(config.data_dir)) {
    throw new BastionError('STATE_IO', `--unreviewed reads the review queue in ${config.data_dir} (data_dir), which is not on this machine: run it on the bastion host`);
  }
  const path = reviewsPath(config.data_dir);
  if (!existsSync(path)) return new Set();
  const items = await new ReviewStore(new FileKvStore<ReviewItem>(path)).list();
  return new Set(items.filter((r) => r.status !== 'pending').map((r) => r.session_id));
}

async function list(o: ListOptions): Promise<number> {
  const config: Config = loadConfig(o.config);
  const trusted = trustedKeys(config, o.publicKey);
  const now = Date.now();
  const rows = await listSessions(config, trusted, {
    ...(o.user ? { user: o.user } : {}),
    ...(o.target ? { target: o.target } : {}),
    ...(o.since !== undefined ? { since: now - o.since } : {}),
    ...(o.breakGlass ? { breakGlass: true } : {}),
    ...(o.unreviewed ? { unreviewedAgainst: await reviewedSessions(config) } : {}),
  }, now);
  if (o.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (!process.stdout.isTTY || !process.stdin.isTTY || rows.length === 0) {
    process.stdout.write(rows.length === 0 ? 'no recorded sessions match\n' : formatTable(rows).join('\n') + '\n');
    return 0;
  }
  const common = { config, trusted, index: true, ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}) };
  await runListUi(rows, (row) => openForPlayback(row.url, common));
  return 0;
}

const program = new Command()
  .name('bastion-player')
  .description('replay bastion session recordings (and any asciicast v2/v3 file): seek, speed, search, keystrokes')
  .version(VERSION)
  .showHelpAfterError()
  .enablePositionalOptions() // `list --config X`: options after a subcommand are the subcommand's
  .argument('[recording]', 'FILE.cast[.gz], s3://bucket/key, or a session id (with --config)')
  .option('-c, --config <file>', 'bastion config: finds session ids in its bucket and trusts its recording keys')
  .option('--public-key <pem...>', 'trust this recording public key (PEM) when checking signatures')
  .option('--cat', 'print the output as the terminal received it, then exit')
  .option('--screen-at <seconds>', 'print the screen text at that moment (75.5 or 1:15.5), then exit', seconds)
  .option('--keystrokes', 'print what was typed, line by line with times, then exit')
  .option('--verify', 'check the recording against its signed manifest, then exit (status 1 when it fails)')
  .option('--speed <x>', `start at this speed (${SPEEDS.join(', ')})`, positive)
  .option('--max-bytes <MiB>', 'refuse recordings larger than this once decompressed (default 1024)', megabytes)
  .action((ref: string | undefined, o: PlayOptions) =>
    run(() => {
      if (!ref) {
        program.outputHelp();
        return 2;
      }
      return play(ref, o);
    }),
  );

program
  .command('list')
  .description('recorded sessions in the configured bucket, newest first; in a terminal, choose one to play')
  .requiredOption('-c, --config <file>', 'bastion config (its bucket and recording keys)')
  .option('--public-key <pem...>', 'also trust this recording public key (PEM)')
  .option('--user <name>', 'only this user')
  .option('--target <name>', 'only this target')
  .option('--since <duration>', 'only sessions that started within this long (7d, 12h)', (v) => {
    const ms = parseDuration(v);
    if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 7d, 12h or 30m');
    return ms;
  })
  .option('--break-glass', 'only break-glass sessions')
  .option('--unreviewed', 'only break-glass sessions whose review is still pending (reads the data dir: run on the bastion host)')
  .option('--json', 'print JSON instead of a table')
  .option('--max-bytes <MiB>', 'refuse recordings larger than this once decompressed', megabytes)
  .action((o: ListOptions) => run(() => list(o)));

// A reader that went away (`bastion-player --keystrokes … | head`) ends the output, not in an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

program
  .command('watch')
  .description('watch a live session in this terminal (read-only; q stops watching)')
  .argument('<session>', 'the live session id (see GET /api/sessions or the web page)')
  .requiredOption('--url <url>', 'the bastion\'s live service, e.g. http://127.0.0.1:8022')
  .option('--token <token>', 'viewer token (or BASTION_VIEWER_TOKEN)')
  .action((id: string, o: { url: string; token?: string }) => run(() => watchMode(id, o)));

process.on('uncaughtException', (err) => {
  process.stderr.write(`bastion-player: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(70);
});

await program.parseAsync(process.argv);
