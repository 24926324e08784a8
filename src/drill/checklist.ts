/** The controls a fire drill checks, in the order it checks them. */
export const CONTROLS = {
  login: 'login demands MFA and justification',
  session: 'break-glass session opens, marked as a drill',
  alert: 'alert reaches every webhook',
  live: 'live view shows the session',
  recording: 'recording reaches S3 and verifies',
  review: 'review item exists',
  audit: 'audit chain intact, drill marked',
} as const;

export type ControlId = keyof typeof CONTROLS;

export interface ControlResult {
  readonly id: ControlId;
  readonly ok: boolean;
  /** Time the check took (for the alert: the delivery time the bastion measured). */
  readonly ms: number;
  readonly detail: string;
}

export interface DrillReport {
  readonly drill_id: string;
  readonly user: string;
  readonly target: string;
  readonly bastion: string;
  readonly session_id?: string;
  readonly started_at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly controls: readonly ControlResult[];
}

/** Pure: every control in order; one that was never reached is a failure that says why. */
export function completeReport(base: Omit<DrillReport, 'ok' | 'controls'>, results: ReadonlyMap<ControlId, ControlResult>, notReached: string): DrillReport {
  const controls = (Object.keys(CONTROLS) as ControlId[]).map((id) => results.get(id) ?? { id, ok: false, ms: 0, detail: `not checked: ${notReached}` });
  return { ...base, ok: controls.every((c) => c.ok), controls };
}

function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Pure: the checklist people read. */
export function formatChecklist(r: DrillReport): string {
  const width = Math.max(...Object.values(CONTROLS).map((c) => c.length));
  const lines = [
    `Fire drill ${r.drill_id}: ${r.user} on ${r.target} (break-glass) at ${r.bastion}${r.session_id ? `, session ${r.session_id}` : ''}`,
    ...r.controls.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${CONTROLS[c.id].padEnd(width)}  ${formatMs(c.ms).padStart(6)}  ${c.detail}`),
  ];
  const failed = r.controls.filter((c) => !c.ok);
  lines.push(
    failed.length === 0
      ? `Drill passed: all ${r.controls.length} controls in ${formatMs(r.ms)}.`
      : `Drill FAILED: ${failed.map((c) => `${c.id} (${CONTROLS[c.id]})`).join(', ')}.`,
  );
  return lines.join('\n') + '\n';
}
