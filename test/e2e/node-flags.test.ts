import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS, missingNodeFlags } from '../../src/node-flags.js';
import { CLI, ROOT, runTestBastion, writeTestConfig, type TestBastion } from '../helpers/bastion.js';

// The bastion's node options (src/node-flags.ts) can only be given when node starts: every way
// the README and the Dockerfile start the bastion must pass them, and `serve` says when they are missing.
const WARNING = 'node was started without the options the bastion runs with';

describe('the node options the bastion runs with', () => {
  let running: TestBastion[] = [];
  afterEach(async () => {
    for (const b of running) {
      await b.stop();
      b.cleanup();
    }
    running = [];
  });

  it('are passed by the `bastion` program itself, `npm start` and the Docker image', () => {
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    const shebang = readFileSync(CLI, 'utf8').split('\n')[0]!;
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    expect(start).toMatch(new RegExp(`^node ${NODE_FLAGS.join(' ')} dist/src/cli\\.js serve `));
    expect(JSON.parse(entrypoint)).toEqual(['/usr/bin/tini', '--', 'node', ...NODE_FLAGS, 'dist/src/cli.js']);
  });

  it('names what is missing from a list of node options', () => {
    expect(missingNodeFlags([...NODE_FLAGS, '--enable-source-maps'])).toEqual([]);
    expect(missingNodeFlags(['--enable-source-maps'])).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags([])).toEqual([...NODE_FLAGS]);
  });

  it('reach the process when the built CLI runs as a program, and their absence is logged when it does not', async () => {
    // As a program (its shebang, as `npx bastion` and an installed `bastion` run it).
    const asProgram = await runTestBastion(writeTestConfig({ users: ['alice'] }), [], [CLI]);
    running.push(asProgram);
    const cmdline = readFileSync(`/proc/${asProgram.proc.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.slice(0, 1 + NODE_FLAGS.length)).toEqual(['node', ...NODE_FLAGS]);
    expect(asProgram.stdout()).not.toContain(WARNING);

    // `node dist/src/cli.js serve` by hand: it runs, and says what is missing.
    const byHand = await runTestBastion(writeTestConfig({ users: ['bob'] }), [], [process.execPath, CLI]);
    running.push(byHand);
    const line = byHand.stdout().split('\n').find((l) => l.includes(WARNING));
    expect(line, byHand.stdout()).toBeDefined();
    expect((JSON.parse(line!) as { missing: string[] }).missing).toEqual([...NODE_FLAGS]);
  });
});
