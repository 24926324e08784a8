import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { recordOrLog, type AuditSink } from '../audit/audit-log.js';
import type { LiveSession } from '../session/registry.js';
import { LiveFeed, type SessionSummary, type ViewerPort } from './feed.js';

export interface LiveSessionInfo extends SessionSummary {
  readonly cols: number;
  readonly rows: number;
  readonly viewers: readonly string[];
}

/**
 * The live sessions of this node as watchers see them: one feed per session, who watches what,
 * and moderators ending sessions. Watching is never silent: the user is told in their terminal,
 * the recording gets a marker (both through the session's notify) and the audit log a line.
 */
export class LiveHub {
  private readonly feeds = new Map<string, { feed: LiveFeed; live: LiveSession; watchers: Map<ViewerPort, string> }>();

  constructor(private readonly deps: { audit: AuditSink; log: Logger; clock: Clock }) {}

  open(live: LiveSession, cols: number, rows: number, via: string): LiveFeed {
    const p = live.principal;
    const feed = new LiveFeed(
      { id: live.id, user: p.user, target: p.target, ticket: p.ticket, reason: p.reason, break_glass: p.breakGlass, ...(p.drill ? { drill: true } : {}), via, source_ip: live.sourceIp, started_at: new Date(live.startedAt).toISOString() },
      cols,
      rows,
    );
    this.feeds.set(live.id, { feed, live, watchers: new Map() });
    return feed;
  }

  /** The session is gone: whoever still watched it stops watching (audited). */
  close(id: string): void {
    const entry = this.feeds.get(id);
    this.feeds.delete(id);
    for (const [port, ip] of entry?.watchers ?? []) this.auditWatch('session.watch_ended', id, port, ip, entry!.live);
  }

  list(): LiveSessionInfo[] {
    return [...this.feeds.values()].map(({ feed }) => ({ ...feed.summary, ...feed.size, viewers: feed.viewerNames() }));
  }

  has(id: string): boolean {
    return this.feeds.has(id);
  }

  watch(id: string, port: ViewerPort, ip: string): boolean {
    const entry = this.feeds.get(id);
    if (!entry) return false;
    entry.feed.join(port, { viewer: { name: port.name, role: port.role } });
    entry.watchers.set(port, ip);
    entry.live.notify(`security: ${port.name} is watching this session`);
    this.auditWatch('session.watch_started', id, port, ip, entry.live);
    return true;
  }

  unwatch(id: string, port: ViewerPort): void {
    const entry = this.feeds.get(id);
    const ip = entry?.watchers.get(port);
    if (!entry || ip === undefined) return;
    entry.watchers.delete(port);
    entry.feed.leave(port);
    entry.live.notify(`security: ${port.name} stopped watching this session`);
    this.auditWatch('session.watch_ended', id, port, ip, entry.live);
  }

  private auditWatch(type: 'session.watch_started' | 'session.watch_ended', id: string, port: ViewerPort, ip: string, live: LiveSession): void {
    void recordOrLog(this.deps.audit, this.deps.log, { type, session_id: id, viewer: port.name, role: port.role, ip, user: live.principal.user });
  }

  /** A moderator ends a session: the user sees who and why; audited before the session closes. */
  async terminate(id: string, by: string, reason: string): Promise<boolean> {
    const entry = this.feeds.get(id);
    if (!entry) return false;
    await recordOrLog(this.deps.audit, this.deps.log, { type: 'session.terminated', session_id: id, by, reason, user: entry.live.principal.user, target: entry.live.principal.target, break_glass: entry.live.principal.breakGlass, ...(entry.live.principal.drill ? { drill: true } : {}) });
    entry.live.terminate(`security (${by}) ended this session: ${reason}`, `terminated by ${by}: ${reason}`);
    return true;
  }
}
