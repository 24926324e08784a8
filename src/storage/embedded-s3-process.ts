import S3rver from 's3rver';
import type { AddressInfo } from 'node:net';

/**
 * The embedded S3 server's own process (started by embedded-s3.ts with an IPC channel): s3rver
 * parses HTTP and hashes every object, and in the bastion's process that work and its garbage ran
 * between the sessions' keystrokes. It ends when the bastion does, even one killed with -9 (the
 * IPC channel closes).
 */
export interface EmbeddedS3Options {
  host: string;
  port: number;
  dir: string;
  bucket: string;
}
export type EmbeddedS3Message = { ok: true; port: number } | { ok: false; error: string };

const send = (m: EmbeddedS3Message, then?: () => void) => process.send?.(m, undefined, {}, () => then?.());

let listening = false;

function fail(err: unknown): void {
  const message = (err as Error)?.message ?? String(err);
  // Before it listens (s3rver reports a port in use as an 'error' event): the bastion's answer.
  if (!listening && process.connected) return void send({ ok: false, error: message }, () => process.exit(1));
  // One line, no stack: the bastion logs it and starts the server again.
  process.stderr.write(`embedded s3: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  if (!process.send) return fail(new Error('must be started by the bastion (no IPC channel)'));
  const o = JSON.parse(process.argv[2] ?? '{}') as EmbeddedS3Options;
  const server = new S3rver({ address: o.host, port: o.port, directory: o.dir, silent: true, configureBuckets: [{ name: o.bucket, configs: [] }] });
  let addr: AddressInfo;
  try {
    addr = (await server.run()) as AddressInfo;
  } catch (err) {
    return fail(err);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2_000).unref();
    void (server.close() as Promise<void>).finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => undefined); // a Ctrl-C at the terminal goes to the bastion, which stops this
  listening = true;
  send({ ok: true, port: addr.port });
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
void main().catch(fail);
