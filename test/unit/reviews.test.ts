import { describe, expect, it } from 'vitest';
import { MemoryKvStore } from '../../src/state/kv-store.js';
import { isOverdue, openReviewsForBreakGlass, ReviewStore, type ReviewItem } from '../../src/governance/reviews.js';
import { SessionRegistry, type LiveSession } from '../../src/session/registry.js';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import type { AuditEvent } from '../../src/audit/audit-log.js';

const live = (id: string, breakGlass: boolean): LiveSession => ({
  id,
  principal: { user: 'alice', target: 'prod', via: breakGlass ? 'break-glass' : 'standing', breakGlass, limits: {} as never, ticket: 'INC-1', reason: 'the database is down again', keyFingerprint: 'SHA256:x', mfa: 'totp', drill: false },
  sourceIp: '10.0.0.7',
  startedAt: 0,
  lastInputAt: 0,
  noticeSent: false,
  notify: () => undefined,
  terminate: () => undefined,
});

describe('review items for break-glass sessions', () => {
  it('opens one pending item when a break-glass session starts (not for standing access), audited, due after the configured time', async () => {
    const registry = new SessionRegistry();
    const reviews = new ReviewStore(new MemoryKvStore<ReviewItem>());
    const events: AuditEvent[] = [];
    const clock = new ManualClock(Date.parse('2026-11-23T10:00:00Z'));
    openReviewsForBreakGlass({ registry, reviews, audit: { record: async (e) => void events.push(e) }, log: silentLogger(), clock, dueAfterMs: 86_400_000 });
    registry.started.emit(live('s-1', true));
    registry.started.emit(live('s-2', false));
    registry.started.emit(live('s-1', true)); // a repeat keeps the first
    await new Promise((r) => setTimeout(r, 10));
    const items = await reviews.list();
    expect(items).toEqual([{ session_id: 's-1', user: 'alice', target: 'prod', ticket: 'INC-1', reason: 'the database is down again', source_ip: '10.0.0.7', opened_at: clock.now(), due_at: clock.now() + 86_400_000, status: 'pending', history: [] }]);
    expect(events.filter((e) => e.type === 'review.opened').map((e) => e.session_id)).toEqual(['s-1']);
    expect(isOverdue(items[0]!, clock.now() + 86_399_999)).toBe(false);
    expect(isOverdue(items[0]!, clock.now() + 86_400_000)).toBe(true);
    expect(isOverdue({ ...items[0]!, status: 'approved' }, clock.now() + 2 * 86_400_000)).toBe(false);
  });
});
