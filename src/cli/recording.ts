import { readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadConfig, type Config } from '../config/load.js';
import { verifyRef } from '../storage/recording-source.js';
import { BastionError, describeError } from '../errors.js';

/** The recording keys to trust: the config's (signing key and verify_keys), plus PEM files named on the command line. */
export function trustedKeys(config: Config | undefined, publicKeyFiles: readonly string[] = []): KeyObject[] {
  return [
    ...(config?.recording_trusted_keys ?? []),
    ...publicKeyFiles.map((p) => {
      try {
        return createPublicKey(readFileSync(p, 'utf8'));
      } catch (err) {
        throw new BastionError('KEY_INVALID', `${p}: not a readable public key in PEM form (${describeError(err)})`, { cause: err });
      }
    }),
  ];
}

/** `bastion recording verify FILE|s3://bucket/key|SESSION_ID`: OK, or the first chunk or offset that fails and why. */
export async function recordingVerify(ref: string, o: { config?: string; publicKey?: string[] }): Promise<number> {
  const config = o.config ? loadConfig(o.config) : undefined;
  const r = await verifyRef(ref, trustedKeys(config, o.publicKey), config ? { config } : {});
  process.stdout.write(r.text + '\n');
  return r.ok ? 0 : 1;
}
