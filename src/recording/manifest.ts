import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { SessionMetadata } from './asciicast.js';
import { chainNext, chainStart, type ChunkRecord } from './chain.js';

/** What makes a recording tamper-evident: its hashes, the chunk chain, the metadata, a signature. */
export interface Manifest {
  readonly version: 1;
  readonly session_id: string;
  readonly started_at: string;
  readonly ended_at: string;
  /** True when the bastion died mid-session and the recording was sealed on restart. */
  readonly incomplete: boolean;
  readonly end_reason: string;
  readonly recording: { readonly bytes: number; readonly sha256: string };
  readonly chunks: readonly ChunkRecord[];
  readonly chain: string;
  readonly metadata: SessionMetadata;
  /** SHA-256 of the signing public key (SPKI DER), hex. */
  readonly key_id: string;
  /** Ed25519 over the manifest's JSON without this field, base64. */
  readonly signature: string;
}

export type UnsignedManifest = Omit<Manifest, 'signature' | 'key_id'>;

export function loadSigningKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('the recording key must be an Ed25519 private key (PEM)');
  return key;
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function signManifest(m: UnsignedManifest, key: KeyObject): Manifest {
  const withKey = { ...m, key_id: keyId(createPublicKey(key)) };
  const signature = sign(null, Buffer.from(JSON.stringify(withKey)), key).toString('base64');
  return { ...withKey, signature };
}

export type VerifyResult = { ok: true; manifest: Manifest } | { ok: false; where: string; reason: string };

/**
 * Checks a recording against its manifest: signature (by one of the trusted keys), length, every
 * chunk's hash and the chain through them, the whole-file hash. Names the first thing that fails.
 */
export function verifyRecording(recording: Buffer, manifestText: string, trusted: readonly KeyObject[]): VerifyResult {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(manifestText) as Record<string, unknown>;
  } catch {
    return { ok: false, where: 'manifest', reason: 'not valid JSON' };
  }
  const { signature, ...unsigned } = parsed;
  const key = trusted.find((k) => keyId(k) === unsigned.key_id);
  if (typeof signature !== 'string') return { ok: false, where: 'manifest', reason: 'no signature' };
  if (!key) return { ok: false, where: 'signature', reason: `signed by an unknown key (${String(unsigned.key_id).slice(0, 16)}…); the manifest is not from this bastion` };
  if (!verify(null, Buffer.from(JSON.stringify(unsigned)), key, Buffer.from(signature, 'base64'))) {
    return { ok: false, where: 'signature', reason: 'the signature does not match: the manifest was changed after signing' };
  }
  const m = parsed as unknown as Manifest;
  if (recording.length < m.recording.bytes) {
    return { ok: false, where: `offset ${recording.length}`, reason: `truncated: ${recording.length} bytes, the manifest says ${m.recording.bytes}` };
  }
  if (recording.length > m.recording.bytes) {
    return { ok: false, where: `offset ${m.recording.bytes}`, reason: `${recording.length - m.recording.bytes} bytes appended after the signed end` };
  }
  let chain = chainStart(m.session_id);
  let expectedOffset = 0;
  for (const c of m.chunks) {
    const where = `chunk ${c.index} (bytes ${c.offset}-${c.offset + c.length - 1})`;
    if (c.offset !== expectedOffset) return { ok: false, where, reason: 'chunks do not follow each other' };
    const sha = createHash('sha256').update(recording.subarray(c.offset, c.offset + c.length)).digest('hex');
    if (sha !== c.sha256) return { ok: false, where, reason: `content changed (sha256 ${sha.slice(0, 16)}…, signed ${c.sha256.slice(0, 16)}…)` };
    chain = chainNext(chain, c.sha256);
    if (chain !== c.chain) return { ok: false, where, reason: 'hash chain broken' };
    expectedOffset += c.length;
  }
  if (expectedOffset !== m.recording.bytes) return { ok: false, where: `offset ${expectedOffset}`, reason: 'bytes not covered by any chunk' };
  if (chain !== m.chain) return { ok: false, where: 'manifest', reason: 'the final chain value does not match' };
  const whole = createHash('sha256').update(recording).digest('hex');
  if (whole !== m.recording.sha256) return { ok: false, where: 'recording', reason: 'whole-file hash does not match' };
  return { ok: true, manifest: m };
}
