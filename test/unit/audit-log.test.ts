import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, GENESIS_HASH, sha256Hex } from '../../src/audit/audit-log.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { ManualClock } from '../../src/clock.js';
import { Secret } from '../../src/secret.js';

const tmp = () => join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit', 'audit.jsonl');

describe('AuditLog', () => {
  it('chains each line to the one before, across reopen, in a 0600 file', async () => {
    const path = tmp();
    const clock = new ManualClock(Date.parse('2026-11-23T10:00:00Z'));
    const log = await AuditLog.open(path, clock);
    await Promise.all([log.record({ type: 'login.success', user: 'alice' }), log.record({ type: 'session.start', user: 'alice' })]);
    await log.close();
    const again = await AuditLog.open(path, clock);
    await again.record({ type: 'session.end', user: 'alice', exit_code: 0 });
    await again.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
    expect(JSON.parse(lines[0]!).prev).toBe(GENESIS_HASH);
    expect(JSON.parse(lines[2]!).prev).toBe(sha256Hex(lines[1]!));
    expect(JSON.parse(lines[0]!).ts).toBe('2026-11-23T10:00:00.000Z');
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lines: 3 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('never writes a Secret', async () => {
    const path = tmp();
    const log = await AuditLog.open(path, new ManualClock(0));
    await log.record({ type: 'login.failure', user: 'alice', secret: new Secret('JBSWY3DPEHPK3PXP') });
    await log.close();
    expect(readFileSync(path, 'utf8')).not.toContain('JBSWY3DPEHPK3PXP');
  });

  it('names the first line that was changed, removed or is garbage', async () => {
    const path = tmp();
    const log = await AuditLog.open(path, new ManualClock(0));
    for (let i = 0; i < 5; i++) await log.record({ type: 'login.failure', user: `u${i}` });
    await log.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');

    writeFileSync(path, lines.map((l, i) => (i === 2 ? l.replace('"u2"', '"u9"') : l)).join('\n') + '\n');
    expect(await verifyAuditLog(path)).toMatchObject({ ok: false, line: 4, reason: expect.stringContaining('hash chain broken') });

    writeFileSync(path, lines.filter((_, i) => i !== 1).join('\n') + '\n');
    expect(await verifyAuditLog(path)).toMatchObject({ ok: false, line: 2 });

    writeFileSync(path, [...lines.slice(0, 3), '{not json', ...lines.slice(3)].join('\n') + '\n');
    expect(await verifyAuditLog(path)).toMatchObject({ ok: false, line: 4, reason: expect.stringContaining('not valid JSON') });
  });

  it('removes a line torn by a crash, records that it did, and keeps the chain valid', async () => {
    const path = tmp();
    const log = await AuditLog.open(path, new ManualClock(0));
    await log.record({ type: 'login.success', user: 'alice' });
    await log.close();
    appendFileSync(path, '{"seq":2,"ts":"2026-');
    const again = await AuditLog.open(path, new ManualClock(0));
    await again.record({ type: 'session.start', user: 'alice' });
    await again.close();
    const types = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
    expect(types).toEqual(['login.success', 'audit.recovered', 'session.start']);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lines: 3 });
  });
});
