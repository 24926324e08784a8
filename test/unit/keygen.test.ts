import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { generateEd25519 } from '../../src/auth/keygen.js';
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
