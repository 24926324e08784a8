import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

/** DER of a PKCS #8 Ed25519 private key, up to its 32-byte seed (RFC 8410). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A new Ed25519 key pair from 32 random bytes, without `generateKeyPairSync`: on Node 20 a garbage
 * collection during a key export can run the destructor of the job that generated a key, which
 * waits for a lock the export holds, and the process hangs for good (seen here about once in
 * 60,000 keys, taking the benchmark's set-up of 600 users down with it; docs/benchmarks.md).
 */
export function ed25519KeyPair(): { privateKey: KeyObject; publicKey: KeyObject; seed: Buffer; pub: Buffer } {
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, publicKey, seed, pub: spki.subarray(spki.length - 32) };
}

/**
 * Ed25519 key pair in OpenSSH formats, made with node:crypto. (ssh2's own generator sometimes
 * drops a leading zero byte of the public key, producing keys that nothing can parse.)
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  const { seed, pub } = ed25519KeyPair();
  const type = Buffer.from('ssh-ed25519');
  const pubBlob = Buffer.concat([sshString(type), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString(type), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(Buffer.from(comment))]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString(Buffer.from('none')),
    sshString(Buffer.from('none')),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(pubBlob),
    sshString(priv),
  ]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return {
    private: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
    public: `ssh-ed25519 ${pubBlob.toString('base64')}${comment ? ` ${comment}` : ''}`,
  };
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sshString(b: Buffer): Buffer {
  return Buffer.concat([uint32(b.length), b]);
}
