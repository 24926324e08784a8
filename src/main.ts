import { join } from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import type { Config } from './config/load.js';
import type { Logger } from './log.js';
import { systemClock, type Clock } from './clock.js';
import { AuditLog } from './audit/audit-log.js';
import { FileKvStore } from './state/file-kv-store.js';
import { Lockouts, type LockoutRecord } from './auth/lockout.js';
import { TotpVerifier } from './auth/totp.js';
import { SessionRegistry } from './session/registry.js';
import { LocalTargetConnector } from './targets/local.js';
import type { TargetConnector } from './targets/target.js';
import { SshServer } from './ssh/server.js';
import { VERSION } from './version.js';

export interface RunningBastion {
  readonly ssh: { host: string; port: number };
  readonly registry: SessionRegistry;
  /** Drains: stops accepting, waits up to the grace period for sessions, then ends the rest. */
  stop(reason: string): Promise<void>;
}

/** The composition root: the one place that knows every adapter. */
export async function startBastion(config: Config, log: Logger, clock: Clock = systemClock): Promise<RunningBastion> {
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const audit = await AuditLog.open(join(config.data_dir, 'audit', 'audit.jsonl'), clock);
  const lockouts = new Lockouts(new FileKvStore<LockoutRecord>(join(config.data_dir, 'state', 'lockouts.json')), config.auth.lockout);
  const totp = new TotpVerifier(new FileKvStore<number>(join(config.data_dir, 'state', 'totp-steps.json')));
  const registry = new SessionRegistry();

  const connectors = new Map<string, TargetConnector>();
  for (const [name, target] of Object.entries(config.targets)) {
    switch (target.type) {
      case 'local':
        connectors.set(name, new LocalTargetConnector({ ...target, name }));
        break;
    }
  }

  warnAboutOpenSecrets(config, log);
  const server = new SshServer({ config, clock, audit, log, totp, lockouts, registry, connectors });
  const address = await server.listen(config.listen.host, config.listen.port);
  await audit.record({ type: 'bastion.start', version: VERSION, listen: `${address.address}:${address.port}`, pid: process.pid });
  log.info({ host: address.address, port: address.port, version: VERSION }, 'ssh listening');

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ reason, sessions: registry.size, grace_ms: config.shutdown_grace }, 'draining');
      server.stopAccepting();
      const empty = await registry.waitEmpty(config.shutdown_grace);
      if (!empty) {
        log.warn({ sessions: registry.size }, 'grace period over; ending remaining sessions');
        await registry.terminateAll('The bastion is shutting down for maintenance; this session is being closed.');
        await registry.waitEmpty(5_000);
      }
      await server.closeAll(2_000);
      await audit.record({ type: 'bastion.stop', reason, ended_sessions: empty ? 0 : 'remaining' });
      await audit.close();
      log.info('stopped');
    })());

  return { ssh: { host: address.address, port: address.port }, registry, stop };
}

/** Secrets others can read are worth a loud warning at start-up (git checkouts are 0644, for one). */
function warnAboutOpenSecrets(config: Config, log: Logger): void {
  const files = [...config.host_keys.map((k) => k.path), ...Object.values(config.users).map((u) => u.totp_secret_file)];
  for (const file of files) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) log.warn({ file }, 'secret file is readable by group or others; run chmod 600 on it');
    } catch {
      // a user who has not enrolled yet has no secret file
    }
  }
}
