import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalTargetConnector } from '../../src/targets/local.js';
import type { ResolvedLocalTarget } from '../../src/config/targets.js';
import type { ExitInfo, TargetStream } from '../../src/targets/target.js';

// Input to a pty target is written straight into the pty master while nothing waits before it,
// and through node-pty's queue when the kernel's buffer is full: every byte, in order, either way.
const target = () => new LocalTargetConnector({ name: 't', type: 'local', shell: '/bin/bash', env: {} } as unknown as ResolvedLocalTarget);
const pty = { term: 'xterm', cols: 80, rows: 24 };

function run(s: TargetStream): Promise<{ out: string; exit: ExitInfo }> {
  const parts: Buffer[] = [];
  s.onData((d) => parts.push(d));
  return new Promise((resolve) => s.onExit((exit) => resolve({ out: Buffer.concat(parts).toString(), exit })));
}

describe('input to a program in a pty', () => {
  it('arrives whole and in order, a paste larger than the kernel takes at once among keystrokes', async () => {
    const parts = [Buffer.from('a'), randomBytes(3 * 1024 * 1024), Buffer.from('b'), randomBytes(100_000), Buffer.from('c')];
    const all = Buffer.concat(parts);
    // Raw mode, no echo: the program reads exactly the bytes written (and signals none of them).
    const s = await target().open({ kind: 'exec', command: `stty raw -echo; head -c ${all.length} | sha256sum`, pty, env: {}, user: 'a' });
    const done = run(s);
    // What goes to node-pty's queue (the kernel's buffer was full), counted.
    const proc = (s as unknown as { proc: { write(d: unknown): void } }).proc;
    const queue = proc.write.bind(proc);
    let queued = 0;
    proc.write = (d) => {
      queued++;
      queue(d);
    };
    await new Promise((r) => setTimeout(r, 300)); // stty has run
    for (const p of parts) s.write(p);
    const { out, exit } = await done;
    expect(exit).toEqual({ code: 0 });
    expect(queued).toBeGreaterThanOrEqual(1); // the paste did not fit: both ways were taken
    expect(out).toContain(createHash('sha256').update(all).digest('hex'));
  });

  it('is dropped without a word once the program has gone (no error, no crash)', async () => {
    const s = await target().open({ kind: 'exec', command: 'true', pty, env: {}, user: 'a' });
    const { exit } = await run(s);
    expect(exit).toEqual({ code: 0 });
    expect(() => s.write(Buffer.from('late\n'))).not.toThrow();
  });
});
