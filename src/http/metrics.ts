import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import type { SessionRegistry } from '../session/registry.js';
import type { Uploader } from '../storage/uploader.js';
import type { Clock } from '../clock.js';

/** Prometheus metrics of one bastion node, read from live state when scraped (nothing to keep in sync). */
export function createMetrics(deps: { registry: SessionRegistry; uploader: Uploader; clock: Clock }): Registry {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg, prefix: 'bastion_process_' });
  const health = () => deps.uploader.getHealth();
  new Gauge({
    name: 'bastion_sessions_active',
    help: 'Sessions running on this node',
    registers: [reg],
    collect() {
      this.set(deps.registry.size);
    },
  });
  new Gauge({
    name: 'bastion_sessions_break_glass_active',
    help: 'Break-glass sessions running on this node',
    registers: [reg],
    collect() {
      this.set(deps.registry.list().filter((s) => s.principal.breakGlass).length);
    },
  });
  new Gauge({
    name: 'bastion_recordings_pending',
    help: 'Recordings and chunks in the local spool not yet confirmed in the object store',
    registers: [reg],
    collect() {
      this.set(health().pending);
    },
  });
  new Gauge({
    name: 'bastion_upload_failing_seconds',
    help: 'For how long uploads have been failing without a success (0 when healthy)',
    registers: [reg],
    collect() {
      const since = health().failingSince;
      this.set(since === undefined ? 0 : (deps.clock.now() - since) / 1000);
    },
  });
  new Gauge({
    name: 'bastion_recordings_uploaded',
    help: 'Recordings uploaded and confirmed since this process started',
    registers: [reg],
    collect() {
      this.set(health().uploaded);
    },
  });
  new Gauge({
    name: 'bastion_upload_failures',
    help: 'Failed upload passes since this process started',
    registers: [reg],
    collect() {
      this.set(health().failures);
    },
  });
  return reg;
}
