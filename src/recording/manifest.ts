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
  const v = new RecordingVerifier(manifestText, trusted);
  v.update(recording);
  return v.finish();
}

/**
 * The same check over a recording that arrives in pieces (a stream, a gunzip): constant memory,
 * so a recording of any length can be verified, and the player verifies while it reads.
 */
export class RecordingVerifier {
  private failure: { where: string; reason: string } | undefined;
  private readonly manifest: Manifest | undefined;
  private readonly whole = createHash('sha256');
  private chunk = createHash('sha256');
  private chunkIndex = 0;
  private chunkFilled = 0;
  private chain = '';
  private received = 0;

  constructor(manifestText: string, trusted: readonly KeyObject[]) {
    const checked = checkSignature(manifestText, trusted);
    if ('where' in checked) this.failure = checked;
    else {
      this.manifest = checked;
      this.chain = chainStart(checked.session_id);
      let expected = 0;
      for (const c of checked.chunks) {
        if (c.offset !== expected) {
          this.failure = { where: chunkWhere(c), reason: 'chunks do not follow each other' };
          break;
        }
        expected += c.length;
      }
      if (!this.failure && expected !== checked.recording.bytes) this.failure = { where: `offset ${expected}`, reason: 'bytes not covered by any chunk' };
    }
  }

  update(piece: Buffer): void {
    if (this.failure || !this.manifest) return;
    this.whole.update(piece);
    this.received += piece.length;
    let pos = 0;
    const chunks = this.manifest.chunks;
    while (pos < piece.length && this.chunkIndex < chunks.length && !this.failure) {
      const c = chunks[this.chunkIndex]!;
      const take = Math.min(c.length - this.chunkFilled, piece.length - pos);
      this.chunk.update(piece.subarray(pos, pos + take));
      this.chunkFilled += take;
      pos += take;
      if (this.chunkFilled === c.length) this.closeChunk(c);
    }
  }

  finish(): VerifyResult {
    const m = this.manifest;
    if (this.failure || !m) return { ok: false, ...(this.failure ?? { where: 'manifest', reason: 'unreadable' }) };
    if (this.received < m.recording.bytes) {
      return { ok: false, where: `offset ${this.received}`, reason: `truncated: ${this.received} bytes, the manifest says ${m.recording.bytes}` };
    }
    if (this.received > m.recording.bytes) {
      return { ok: false, where: `offset ${m.recording.bytes}`, reason: `${this.received - m.recording.bytes} bytes appended after the signed end` };
    }
    if (this.chain !== m.chain) return { ok: false, where: 'manifest', reason: 'the final chain value does not match' };
    if (this.whole.digest('hex') !== m.recording.sha256) return { ok: false, where: 'recording', reason: 'whole-file hash does not match' };
    return { ok: true, manifest: m };
  }

  private closeChunk(c: ChunkRecord): void {
    const sha = this.chunk.digest('hex');
    if (sha !== c.sha256) {
      this.failure = { where: chunkWhere(c), reason: `content changed (sha256 ${sha.slice(0, 16)}…, signed ${c.sha256.slice(0, 16)}…)` };
      return;
    }
    this.chain = chainNext(this.chain, c.sha256);
    if (this.chain !== c.chain) this.failure = { where: chunkWhere(c), reason: 'hash chain broken' };
    this.chunk = createHash('sha256');
    this.chunkFilled = 0;
    this.chunkIndex++;
  }
}

const chunkWhere = (c: ChunkRecord) => `chunk ${c.index} (bytes ${c.offset}-${c.offset + c.length - 1})`;

/** The manifest, when it parses and carries a valid signature by a trusted key; else where and why not. */
export function checkSignature(manifestText: string, trusted: readonly KeyObject[]): Manifest | { where: string; reason: string } {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(manifestText) as Record<string, unknown>;
  } catch {
    return { where: 'manifest', reason: 'not valid JSON' };
  }
  if (!parsed || typeof parsed !== 'object') return { where: 'manifest', reason: 'not a manifest' };
  const { signature, ...unsigned } = parsed;
  if (typeof signature !== 'string') return { where: 'manifest', reason: 'no signature' };
  const key = trusted.find((k) => keyId(k) === unsigned.key_id);
  if (!key) return { where: 'signature', reason: `signed by an unknown key (${String(unsigned.key_id).slice(0, 16)}…); the manifest is not from this bastion` };
  if (!verify(null, Buffer.from(JSON.stringify(unsigned)), key, Buffer.from(signature, 'base64'))) {
    return { where: 'signature', reason: 'the signature does not match: the manifest was changed after signing' };
  }
  const m = parsed as unknown as Manifest;
  if (!Array.isArray(m.chunks) || typeof m.recording?.bytes !== 'number') return { where: 'manifest', reason: 'signed, but not a manifest this version understands' };
  return m;
}

/** The verdict in words: "OK: …" with what was checked and whose session it is, or "FAILED: where: why". */
export function describeVerification(name: string, result: VerifyResult): string {
  if (!result.ok) return `FAILED: ${name}: ${result.where}: ${result.reason}`;
  const m = result.manifest;
  return (
    `OK: ${name}: ${m.recording.bytes} bytes in ${m.chunks.length} chunk${m.chunks.length === 1 ? '' : 's'}, signature and hash chain valid\n` +
    `session ${m.session_id}: ${m.metadata.user} on ${m.metadata.target}${m.metadata.break_glass ? ' (BREAK-GLASS)' : ''}${m.metadata.drill ? ' [DRILL]' : ''}, ${m.started_at} to ${m.ended_at}${m.incomplete ? ', INCOMPLETE (the bastion stopped during the session)' : ''}`
  );
}
