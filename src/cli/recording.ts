import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadConfig } from '../config/load.js';
import { BastionError, describeError } from '../errors.js';
import { verifyRecording } from '../recording/manifest.js';
import { S3ObjectStore } from '../storage/s3.js';

/** Where a recording and its manifest come from: a local file (manifest beside it) or s3://bucket/key. */
async function fetchRecording(ref: string, configFile?: string): Promise<{ recording: Buffer; manifest: string; name: string }> {
  const manifestFor = (key: string) => key.replace(/\.cast(\.gz)?$/, '') + '.manifest.json';
  const unzip = (name: string, b: Buffer) => (name.endsWith('.gz') ? gunzipSync(b) : b);
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref);
  if (s3) {
    const [, bucket, key] = s3 as unknown as [string, string, string];
    const config = configFile ? loadConfig(configFile) : undefined;
    const endpoint = process.env.BASTION_S3_ENDPOINT ?? config?.storage.endpoint ?? (config?.storage.embedded ? `http://${config.storage.embedded.host}:${config.storage.embedded.port}` : undefined);
    const store = new S3ObjectStore({
      bucket,
      region: config?.storage.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      ...(config?.storage.embedded ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
    });
    try {
      const [body, manifest] = await Promise.all([store.get(key), store.get(manifestFor(key))]);
      return { recording: unzip(key, body), manifest: manifest.toString('utf8'), name: ref };
    } catch (err) {
      throw new BastionError('STATE_IO', `cannot fetch ${ref} (and its manifest): ${describeError(err)}`, { cause: err });
    } finally {
      store.destroy();
    }
  }
  const manifestPath = manifestFor(ref);
  if (!existsSync(ref)) throw new BastionError('STATE_IO', `${ref}: no such file`);
  if (!existsSync(manifestPath)) throw new BastionError('STATE_IO', `${manifestPath}: the manifest is missing; a recording cannot be verified without it`);
  let recording: Buffer;
  try {
    recording = unzip(ref, readFileSync(ref));
  } catch (err) {
    return { recording: Buffer.alloc(0), manifest: readFileSync(manifestPath, 'utf8'), name: `${ref} (not valid gzip: ${describeError(err)})` };
  }
  return { recording, manifest: readFileSync(manifestPath, 'utf8'), name: ref };
}

/** `bastion recording verify FILE|s3://bucket/key`: OK, or the first chunk or offset that fails and why. */
export async function recordingVerify(ref: string, o: { config?: string; publicKey?: string[] }): Promise<number> {
  const trusted: KeyObject[] = [];
  if (o.config) trusted.push(...loadConfig(o.config).recording_trusted_keys);
  for (const p of o.publicKey ?? []) trusted.push(createPublicKey(readFileSync(p, 'utf8')));
  if (trusted.length === 0) throw new BastionError('CONFIG_INVALID', 'give --config FILE (its recording keys) or --public-key PEM to verify against');
  const { recording, manifest, name } = await fetchRecording(ref, o.config);
  let result = verifyRecording(recording, manifest, trusted);
  // A valid recording of another session copied over this name is not this session's recording.
  const named = /(s-\d{8}T\d{6}Z-[0-9a-f]{8})(\.cast(\.gz)?)?$/.exec(ref.split('/').at(-1) ?? '')?.[1];
  if (result.ok && named !== undefined && result.manifest.session_id !== named) {
    result = { ok: false, where: 'manifest', reason: `it belongs to session ${result.manifest.session_id}, not ${named}` };
  }
  if (result.ok) {
    const m = result.manifest;
    process.stdout.write(
      `OK: ${name}: ${m.recording.bytes} bytes in ${m.chunks.length} chunk${m.chunks.length === 1 ? '' : 's'}, signature and hash chain valid\n` +
        `session ${m.session_id}: ${m.metadata.user} on ${m.metadata.target}${m.metadata.break_glass ? ' (BREAK-GLASS)' : ''}, ${m.started_at} to ${m.ended_at}${m.incomplete ? ', INCOMPLETE (the bastion stopped during the session)' : ''}\n`,
    );
    return 0;
  }
  process.stdout.write(`FAILED: ${name}: ${result.where}: ${result.reason}\n`);
  return 1;
}
