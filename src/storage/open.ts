import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import { startEmbeddedS3 } from './embedded-s3.js';
import { S3ObjectStore } from './s3.js';
import type { ObjectStore } from './object-store.js';

/** The object store the config names: the embedded s3rver (demo, in a process of its own), an S3-compatible endpoint, or AWS S3. */
export async function openStorage(config: Config, log: Logger): Promise<{ store: ObjectStore; embeddedEndpoint?: string; close(): Promise<void> }> {
  const s = config.storage;
  const common = {
    bucket: s.bucket,
    region: s.region,
    ...(s.sse !== 'none' ? { sse: { mode: s.sse, ...(s.kms_key_id ? { kmsKeyId: s.kms_key_id } : {}) } } : {}),
    ...(s.object_lock ? { objectLock: { mode: s.object_lock.mode, retainDays: s.object_lock.retain_days } } : {}),
  };
  if (s.embedded) {
    const e = s.embedded;
    const server = await startEmbeddedS3({ host: e.host, port: e.port, dir: e.dir!, bucket: s.bucket }, log);
    log.info({ endpoint: server.endpoint, bucket: s.bucket, pid: server.pid() }, 'embedded s3 listening');
    const store = new S3ObjectStore({ ...common, endpoint: server.endpoint, credentials: { accessKeyId: e.access_key_id, secretAccessKey: e.secret_access_key } });
    return {
      store,
      embeddedEndpoint: server.endpoint,
      close: async () => {
        store.destroy();
        await server.close();
      },
    };
  }
  const store = new S3ObjectStore({
    ...common,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.access_key_id && config.storage_secret ? { credentials: { accessKeyId: s.access_key_id, secretAccessKey: config.storage_secret.reveal() } } : {}),
  });
  return { store, close: async () => store.destroy() };
}
