import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { ed25519KeyPair, generateEd25519 } from '../../src/auth/keygen.js';
import { sign, verify } from 'node:crypto';
import { requireTool } from '../helpers/tools.js';

describe('generateEd25519', () => {
  it('makes keys that ssh2 parses every time (its own generator fails ~1 in 200), and that sign and verify', () => {
    for (let i = 0; i < 500; i++) {
      const pair = generateEd25519('k');
      const priv = ssh2.utils.parseKey(pair.private);
      const pub = ssh2.utils.parseKey(pair.public);
      if (priv instanceof Error || pub instanceof Error) throw new Error(`unparseable key ${i}: ${pair.public}`);
      const data = Buffer.from(`message ${i}`);
      const p = Array.isArray(priv) ? priv[0]! : priv;
      const q = Array.isArray(pub) ? pub[0]! : pub;
      expect(q.verify(data, p.sign(data))).toBe(true);
    }
  });

  it('writes the OpenSSH format that ssh-keygen reads', () => {
    requireTool('ssh-keygen', 'openssh-client');
    const dir = mkdtempSync(join(tmpdir(), 'keygen-'));
    const pair = generateEd25519('host@test');
    writeFileSync(join(dir, 'key'), pair.private, { mode: 0o600 });
    // -P '': a key it cannot read fails here instead of prompting for a passphrase on a terminal.
    expect(execFileSync('ssh-keygen', ['-y', '-P', '', '-f', join(dir, 'key')], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim()).toBe(pair.public);
  });
});

describe('ed25519KeyPair (no generateKeyPairSync: a GC during an export could hang Node 20 for good)', () => {
  it('is a real, fresh key pair: its public key is the seed\'s, it signs and verifies, and no two are alike', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = ed25519KeyPair();
      expect(k.seed.length).toBe(32);
      expect(k.pub.length).toBe(32);
      expect(Buffer.from(k.publicKey.export({ format: 'jwk' }).x!, 'base64url').equals(k.pub)).toBe(true);
      expect(Buffer.from(k.privateKey.export({ format: 'jwk' }).d!, 'base64url').equals(k.seed)).toBe(true);
      const data = Buffer.from(`m${i}`);
      expect(verify(null, data, k.publicKey, sign(null, data, k.privateKey))).toBe(true);
      expect(verify(null, Buffer.from('other'), k.publicKey, sign(null, data, k.privateKey))).toBe(false);
      seen.add(k.seed.toString('hex'));
    }
    expect(seen.size).toBe(200);
  });
});

