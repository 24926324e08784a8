import { describe, expect, it } from 'vitest';
import { enforce, type EnforcedSession } from '../../src/session/enforcer.js';
import type { Principal } from '../../src/auth/types.js';
import type { Grant } from '../../src/policy/grants.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-23T10:00:00Z');
const limits = { idleMs: 30 * MIN, maxMs: 12 * 60 * MIN, maxPerUser: 5, allow: { port_forwarding: false, file_transfer: false } };
const principal = (over: Partial<Principal> = {}): Principal => ({ user: 'alice', target: 'db1', via: 'standing', breakGlass: false, limits, ticket: 'INC-1', reason: 'r', keyFingerprint: 'SHA256:x', mfa: 'totp', drill: false, ...over });
const session = (p: Principal, over: Partial<EnforcedSession> = {}): EnforcedSession => ({ principal: p, startedAt: T0, lastInputAt: T0, noticeSent: false, ...over });
const grant: Grant = { id: 'g-1', user: 'alice', target: 'db1', ticket: 'INC-1', reason: 'r', created_at: T0, expires_at: T0 + 60 * MIN, created_by: 'cli:x' };

describe('enforce (injected time, no sleeping)', () => {
  it('warns five minutes before a break-glass window ends, then ends the session at the end', () => {
    const s = session(principal({ via: 'break-glass', breakGlass: true, expiresAt: T0 + 60 * MIN }));
    expect(enforce({ ...s, lastInputAt: T0 + 54 * MIN }, T0 + 54 * MIN, [], 5 * MIN)).toEqual({ kind: 'none' });
    const notice = enforce({ ...s, lastInputAt: T0 + 55 * MIN }, T0 + 55 * MIN, [], 5 * MIN);
    expect(notice).toMatchObject({ kind: 'notice' });
    expect(notice.kind === 'notice' && notice.message).toContain('closed at 11:00 UTC (in 5m) when the break-glass window ends');
    expect(enforce({ ...s, noticeSent: true, lastInputAt: T0 + 59 * MIN }, T0 + 59 * MIN, [], 5 * MIN)).toEqual({ kind: 'none' });
    expect(enforce({ ...s, noticeSent: true, lastInputAt: T0 + 59 * MIN }, T0 + 60 * MIN, [], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'expired', message: expect.stringContaining('break-glass window') });
  });

  it('ends a grant session when the grant expires, and at once when it is revoked or gone', () => {
    const s = session(principal({ via: 'grant', grantId: 'g-1', expiresAt: grant.expires_at }));
    expect(enforce(s, T0 + 10 * MIN, [grant], 5 * MIN)).toEqual({ kind: 'none' });
    expect(enforce({ ...s, lastInputAt: T0 + 60 * MIN }, T0 + 60 * MIN, [grant], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'expired' });
    expect(enforce(s, T0 + MIN, [{ ...grant, revoked_at: T0, revoked_by: 'cli:carol' }], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'revoked', message: expect.stringContaining('revoked by cli:carol') });
    expect(enforce(s, T0 + MIN, [], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'revoked' });
  });

  it('follows a grant shortened after login', () => {
    const s = session(principal({ via: 'grant', grantId: 'g-1', expiresAt: grant.expires_at }));
    expect(enforce(s, T0 + 10 * MIN, [{ ...grant, expires_at: T0 + 10 * MIN }], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'expired' });
  });

  it('ends idle sessions and sessions past the maximum length', () => {
    const s = session(principal());
    expect(enforce(s, T0 + 29 * MIN, [], 5 * MIN)).toEqual({ kind: 'none' });
    expect(enforce(s, T0 + 30 * MIN, [], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'idle', message: 'No input for 30m; this session is closed.' });
    expect(enforce({ ...s, lastInputAt: T0 + 715 * MIN }, T0 + 715 * MIN, [], 5 * MIN)).toMatchObject({ kind: 'notice', message: expect.stringContaining('maximum session length') });
    expect(enforce({ ...s, lastInputAt: T0 + 720 * MIN }, T0 + 720 * MIN, [], 5 * MIN)).toMatchObject({ kind: 'end', reason: 'max-length' });
  });
});
