import { ptyReader } from './targets/pty-reader.js';
import { join } from 'node:path';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Config } from './config/load.js';
import type { Logger } from './log.js';
import { systemClock, type Clock } from './clock.js';
import { AuditLog } from './audit/audit-log.js';
import { FileKvStore } from './state/file-kv-store.js';
import { Lockouts, type LockoutRecord } from './auth/lockout.js';
import { TotpVerifier } from './auth/totp.js';
import { SessionRegistry } from './session/registry.js';
import { LocalTargetConnector } from './targets/local.js';
import { SshTargetConnector } from './targets/ssh-upstream.js';
import { KvGrantStore, type Grant } from './policy/grants.js';
import { LiveHub } from './live/hub.js';
import { LiveControl, killRequestsPath, type KillRequest } from './live/control.js';
import { ViewerTokens, viewerTokensPath, type ViewerToken } from './live/tokens.js';
import { AlertDispatcher, alertingAudit, alertOnBreakGlass } from './governance/alerts.js';
import { GovernanceWatchdog } from './governance/watchdog.js';
import { DrillStore, drillsPath, type DrillRecord } from './governance/drills.js';
import { openReviewsForBreakGlass, ReviewStore, reviewsPath, type ReviewItem } from './governance/reviews.js';
import type { TargetConnector } from './targets/target.js';
import { SshServer } from './ssh/server.js';
import { termiosAvailable } from './targets/termios.js';
import { Spool } from './storage/spool.js';
import { Uploader } from './storage/uploader.js';
import { RecordingService } from './recording/service.js';
import { openStorage } from './storage/open.js';
import { LimitEnforcer } from './session/enforcer.js';
import { createApiServer, listenApi } from './http/api.js';
import { createMetrics } from './http/metrics.js';
import { VERSION } from './version.js';
import { reachableHost, removeRunFile, writeRunFile } from './state/run-file.js';

export interface RunningBastion {
  readonly ssh: { host: string; port: number };
  readonly http: { host: string; port: number };
  readonly registry: SessionRegistry;
  readonly enforcer: LimitEnforcer;
  readonly uploader: Uploader;
  /** The embedded S3 server's endpoint, when it runs. */
  readonly s3Endpoint?: string;
  /** Drains: stops accepting, waits up to the grace period for sessions, then ends the rest. */
  stop(reason: string): Promise<void>;
}

export interface StartOptions {
  /**
   * Benchmarks only (bench/recording.mjs): sessions run without a recorder, to measure what
   * recording costs. Not reachable from the config or the CLI: a real bastion always records.
   */
  readonly benchmarkWithoutRecording?: boolean;
}

/** The composition root: the one place that knows every adapter. */
export async function startBastion(config: Config, log: Logger, clock: Clock = systemClock, options: StartOptions = {}): Promise<RunningBastion> {
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const auditLog = await AuditLog.open(join(config.data_dir, 'audit', 'audit.jsonl'), clock);
  // Alerts go out in the background; some audited facts (lockouts, terminations) raise one too.
  const alerts = new AlertDispatcher({ hooks: config.alert_webhooks, audit: auditLog, log, clock, maxRetryMs: config.alerts.max_retry_interval, giveUpMs: config.alerts.give_up_after });
  const audit = alertingAudit(auditLog, alerts);
  const lockouts = new Lockouts(new FileKvStore<LockoutRecord>(join(config.data_dir, 'state', 'lockouts.json')), config.auth.lockout);
  const totp = new TotpVerifier(new FileKvStore<number>(join(config.data_dir, 'state', 'totp-steps.json')));
  const registry = new SessionRegistry();
  const grants = new KvGrantStore(new FileKvStore<Grant>(join(config.data_dir, 'state', 'grants.json')));
  const liveHub = new LiveHub({ audit, log, clock });
  const viewerTokens = new ViewerTokens(new FileKvStore<ViewerToken>(viewerTokensPath(config.data_dir)));
  const liveControl = new LiveControl({ hub: liveHub, kills: new FileKvStore<KillRequest>(killRequestsPath(config.data_dir)), tokens: viewerTokens, audit, log, clock, intervalMs: config.session.check_interval });
  const reviews = new ReviewStore(new FileKvStore<ReviewItem>(reviewsPath(config.data_dir)));
  openReviewsForBreakGlass({ registry, reviews, audit, log, clock, dueAfterMs: config.reviews.due_after });
  const scheme = config.http.tls_cert_file ? 'https' : 'http';
  let httpUrl = `${scheme}://${reachableHost(config.http.host)}:${config.http.port}`; // the actual port once listening
  alertOnBreakGlass(registry, alerts, { watchUrl: () => `${httpUrl}/`, configPath: config.file });

  const connectors = new Map<string, TargetConnector>();
  for (const [name, target] of Object.entries(config.targets)) {
    connectors.set(name, target.type === 'local' ? new LocalTargetConnector(target) : new SshTargetConnector(target));
  }

  warnAboutOpenSecrets(config, log);
  if (config.http.demo_alert_receiver) log.warn('http.demo_alert_receiver is on: POST /demo/alerts accepts alerts from anyone who can reach the HTTP port (a demo feature)');
  if (!termiosAvailable) {
    log.warn('the termios addon is not built (npm install builds it): typed secrets on local targets are only recognised by their prompt');
  }
  const storage = await openStorage(config, log);
  const spool = new Spool(join(config.data_dir, 'spool'));
  const uploader = new Uploader({ spool, store: storage.store, prefix: config.storage.prefix, clock, log, audit, intervalMs: 1_000, maxBackoffMs: config.storage.max_retry_interval });
  const recordings = new RecordingService({
    spool,
    key: config.recording_key,
    clock,
    log,
    settings: { flushMs: config.recording.flush_interval, chunkMs: config.recording.chunk_interval, chunkBytes: 32 * 1024 * 1024 },
    onWork: (id, dueAt) => uploader.kick(id, dueAt),
    onSealing: (id, on) => uploader.sealing(id, on),
  });
  // Recordings of sessions that were running when the bastion last stopped (kill -9, power loss).
  const recovered = await recordings.recoverAll();
  if (recovered > 0) log.warn({ recovered }, 'sealed recordings left by an earlier run; they are marked incomplete');
  uploader.start();
  liveControl.start();
  const drills = new DrillStore(new FileKvStore<DrillRecord>(drillsPath(config.data_dir)));
  const watchdog = new GovernanceWatchdog({ alerts, audit, reviews, drills, uploadHealth: () => uploader.getHealth(), clock, log, uploadFailingAfterMs: config.alerts.upload_failing_after, intervalMs: 5_000 });
  watchdog.start();

  const enforcer = new LimitEnforcer({ registry, grants, clock, audit, log, noticeMs: config.session.expiry_notice, intervalMs: config.session.check_interval });
  const server = new SshServer({
    config,
    clock,
    audit,
    log,
    totp,
    lockouts,
    grants,
    drills,
    registry,
    connectors,
    recordings: options.benchmarkWithoutRecording ? unrecorded : recordings,
    live: liveHub,
  });
  const address = await server.listen(config.listen.host, config.listen.port);
  const metrics = createMetrics({ registry, uploader, clock });
  const tls = config.http.tls_cert_file && config.http.tls_key_file ? { cert: readFileSync(config.http.tls_cert_file), key: readFileSync(config.http.tls_key_file) } : undefined;
  const apiService = createApiServer({
    config,
    grants,
    clock,
    log,
    audit,
    metrics,
    onGrantsChanged: () => enforcer.checkNow(),
    live: { hub: liveHub, tokens: viewerTokens, audit, log, clock, allowedOrigins: config.http.allowed_origins },
    ...(tls ? { tls } : {}),
  });
  const api = { server: apiService.server, address: await listenApi(apiService.server, config.http.host, config.http.port) };
  httpUrl = `${scheme}://${urlHost(reachableHost(api.address.address))}:${api.address.port}`;
  writeRunFile(config.data_dir, {
    pid: process.pid,
    started_at: new Date(clock.now()).toISOString(),
    ssh: { host: reachableHost(address.address), port: address.port },
    http: httpUrl,
    ...(storage.embeddedEndpoint ? { s3_endpoint: storage.embeddedEndpoint } : {}),
  });
  log.info({ host: api.address.address, port: api.address.port, grants_api: config.grant_tokens.length > 0 }, 'http api listening');
  enforcer.start();
  await audit.record({ type: 'bastion.start', version: VERSION, listen: `${address.address}:${address.port}`, pid: process.pid });
  log.info({ host: address.address, port: address.port, version: VERSION }, 'ssh listening');

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ reason, sessions: registry.size, grace_ms: config.shutdown_grace }, 'draining');
      server.stopAccepting();
      api.server.close();
      apiService.close();
      const empty = await registry.waitEmpty(config.shutdown_grace);
      if (!empty) {
        log.warn({ sessions: registry.size }, 'grace period over; ending remaining sessions');
        registry.terminateAll('The bastion is shutting down for maintenance; this session is being closed.', 'bastion shutting down');
        await registry.waitEmpty(5_000);
      }
      await server.closeAll(2_000);
      enforcer.stop();
      liveControl.stop();
      alerts.stop();
      watchdog.stop();
      // Whatever the sessions left in the spool: upload it now if the store is reachable (else the next start does).
      const uploaded = await uploader.drain(5_000);
      if (!uploaded) log.warn({ pending: uploader.getHealth().pending }, 'recordings left in the spool; they are uploaded at the next start');
      uploader.stop();
      await recordings.stop();
      await ptyReader.stop();
      await storage.close();
      await audit.record({ type: 'bastion.stop', reason, ended_sessions: empty ? 0 : 'remaining' });
      await auditLog.close();
      removeRunFile(config.data_dir);
      log.info('stopped');
    })());

  return {
    ssh: { host: address.address, port: address.port },
    http: { host: api.address.address, port: api.address.port },
    registry,
    enforcer,
    uploader,
    ...(storage.embeddedEndpoint ? { s3Endpoint: storage.embeddedEndpoint } : {}),
    stop,
  };
}

/** Secrets others can read are worth a loud warning at start-up (git checkouts are 0644, for one). */
function warnAboutOpenSecrets(config: Config, log: Logger): void {
  const files = [...config.host_keys.map((k) => k.path), ...Object.values(config.users).map((u) => u.totp_secret_file), ...(config.drill ? [config.drill.private_key_file] : [])];
  for (const file of files) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) log.warn({ file }, 'secret file is readable by group or others; run chmod 600 on it');
    } catch {
      // a user who has not enrolled yet has no secret file
    }
  }
}

const urlHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** Benchmarks only: a recording service that records nothing (see StartOptions). */
const unrecorded = {
  start: async () => ({ output() {}, input() {}, resize() {}, marker() {}, backlog: () => undefined, finish: async () => undefined }),
} as unknown as RecordingService;
