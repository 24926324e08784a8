#!/usr/bin/env -S node --initial-old-space-size=128
import { Command } from 'commander';
import { BastionError, describeError } from './errors.js';
import { runner } from './cli/run.js';
import { VERSION } from './version.js';
import { recordingVerify } from './cli/recording.js';
import { sessionKill, tokenIssue, tokenList, tokenRevoke } from './cli/live.js';
import { reviewDecide, reviewList, reviewShow } from './cli/review.js';
import { report } from './cli/report.js';
import { drill } from './cli/drill.js';
import { auditVerify, grantCreate, grantList, grantRevoke, keysInit, serve, totpEnroll } from './cli/commands.js';

// The AWS SDK warns on every start that its 2027 releases will need Node 22; the operator cannot act on it here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const run = runner('bastion');

const program = new Command()
  .name('bastion')
  .description('SSH bastion for emergency access: publickey + TOTP + justification, audited')
  .version(VERSION)
  .showHelpAfterError();

program
  .command('serve')
  .description('run the bastion')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((o: { config: string }) => run(() => serve(o.config)));

const totp = program.command('totp').description('TOTP (MFA) secrets');
totp
  .command('enroll <user>')
  .description('create a TOTP secret for USER, store it 0600, print the otpauth URI and a QR code')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('--force', 'replace an existing secret', false)
  .action((user: string, o: { config: string; force: boolean }) => run(() => totpEnroll(o.config, user, o.force)));

const audit = program.command('audit').description('the audit log');
audit
  .command('verify')
  .description('check the hash chain of the audit log; names the first line that fails')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('-f, --file <path>', 'audit log file (default: <data_dir>/audit/audit.jsonl)')
  .action((o: { config: string; file?: string }) => run(() => auditVerify(o.config, o.file)));

program
  .command('grant')
  .description('just-in-time access: grant USER --target T --ttl 2h --ticket INC-42 --reason "..." | grant list [--all] | grant revoke ID')
  .argument('<user|list|revoke>', 'the user to grant access to, or "list", or "revoke"')
  .argument('[id]', 'with revoke: the grant id')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('-t, --target <name>', 'target to grant')
  .option('--ttl <duration>', 'how long, e.g. 30m, 2h')
  .option('--ticket <id>', 'incident ticket, e.g. INC-42')
  .option('--reason <text>', 'why the access is needed')
  .option('--by <name>', 'who grants or revokes (default: your OS user)')
  .option('--all', 'with list: include expired and revoked grants', false)
  .action((first: string, id: string | undefined, o: { config: string; target?: string; ttl?: string; ticket?: string; reason?: string; by?: string; all: boolean }) =>
    run(() => {
      if (first === 'list') return grantList(o.config, o.all);
      if (first === 'revoke') {
        if (!id) throw new BastionError('USER_UNKNOWN', 'usage: bastion grant revoke ID --config FILE');
        return grantRevoke(o.config, id, o.by);
      }
      return grantCreate(o.config, first, o);
    }),
  );

const recording = program.command('recording').description('session recordings');
recording
  .command('verify <file-or-s3-url>')
  .description('check a recording against its signed manifest: names the first chunk or offset that fails')
  .option('-c, --config <file>', 'config file: trusts its recording keys (and finds the embedded S3 for s3:// URLs)')
  .option('--public-key <pem...>', 'trust this recording public key (PEM) as well')
  .action((ref: string, o: { config?: string; publicKey?: string[] }) => run(() => recordingVerify(ref, o)));

const token = program.command('token').description('viewer tokens for the live view (watching and ending sessions)');
token
  .command('issue <name>')
  .description('issue a token for NAME; printed once, only its hash is stored')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .requiredOption('--role <role>', 'auditor (watch) or moderator (watch and end sessions)')
  .option('--ttl <duration>', 'how long it is valid (1m to 30d)', '8h')
  .action((name: string, o: { config: string; role: string; ttl: string }) => run(() => tokenIssue(o.config, name, o)));
token
  .command('list')
  .description('viewer tokens: id, name, role, validity (never the tokens)')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((o: { config: string }) => run(() => tokenList(o.config)));
token
  .command('revoke <id>')
  .description('revoke a viewer token by id')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((id: string, o: { config: string }) => run(() => tokenRevoke(o.config, id)));

const session = program.command('session').description('live sessions');
session
  .command('kill <id>')
  .description('end a live session; the user sees the reason; audited')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .requiredOption('--reason <text>', 'why (shown to the user)')
  .option('--by <name>', 'who is ending it (default: your login name)')
  .action((id: string, o: { config: string; reason: string; by?: string }) => run(() => sessionKill(o.config, id, o)));

const review = program.command('review').description('post-event review of break-glass sessions');
review
  .command('list')
  .description('review items: pending, overdue, approved, flagged')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('--pending', 'only pending ones')
  .option('--overdue', 'only overdue ones')
  .action((o: { config: string; pending?: boolean; overdue?: boolean }) => run(() => reviewList(o.config, o)));
review
  .command('show <session>')
  .description('the session, its typed input, the commands read off it, and the replay command')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((id: string, o: { config: string }) => run(() => reviewShow(o.config, id)));
for (const [verb, action] of [['approve', 'approved'], ['flag', 'flagged']] as const) {
  review
    .command(`${verb} <session>`)
    .description(verb === 'approve' ? 'close the review: the access was justified' : 'mark it for follow-up')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .requiredOption('--reviewer <name>', 'who is reviewing (never the session\'s own user)')
    .requiredOption('--note <text>', 'what was checked, or what must follow')
    .action((id: string, o: { config: string; reviewer?: string; note?: string }) => run(() => reviewDecide(o.config, action, id, o)));
}

program
  .command('report')
  .description('compliance report: break-glass use, reviews, logins, uploads, alerts (from the audit log)')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('--since <duration>', 'the period, back from now (30d, 12h)', '30d')
  .option('--format <format>', 'md, csv or json', 'md')
  .action((o: { config: string; since: string; format: string }) => run(() => report(o.config, o)));

program
  .command('drill')
  .description('fire drill: a synthetic break-glass session as the drill user, checking every control (login, alert, live view, recording, review, audit)')
  .requiredOption('-c, --config <file>', 'config file (YAML) with a drill section')
  .option('--timeout <duration>', 'how long to wait for each asynchronous control (default: drill.timeout, 60s)')
  .option('--json', 'print the report as JSON')
  .action((o: { config: string; timeout?: string; json?: boolean }) => run(() => drill(o.config, o)));

const keys = program.command('keys').description('key material');
keys
  .command('init <dir>')
  .description('generate a new Ed25519 host key in DIR')
  .option('--force', 'replace existing keys', false)
  .action((dir: string, o: { force: boolean }) => run(() => keysInit(dir, o.force)));

process.on('uncaughtException', (err) => {
  process.stderr.write(`bastion: internal error: ${describeError(err)}\n`);
  process.exit(70);
});

await program.parseAsync(process.argv);
