import S3rver from 's3rver';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

/** The in-process S3-compatible server of the default set-up, so the whole path is real S3 protocol. */
export async function startEmbeddedS3(o: { host: string; port: number; dir: string; bucket: string }): Promise<{ endpoint: string; port: number; close(): Promise<void> }> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const server = new S3rver({ address: o.host, port: o.port, directory: o.dir, silent: true, configureBuckets: [{ name: o.bucket, configs: [] }] });
  const addr = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://${o.host}:${addr.port}`,
    port: addr.port,
    close: () => server.close() as Promise<void>,
  };
}
