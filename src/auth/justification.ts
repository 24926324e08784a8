export interface JustificationRules {
  readonly ticket_pattern: string;
  readonly ticket_example: string;
  readonly min_reason_length: number;
  readonly max_reason_length: number;
}

export interface Justification {
  readonly ticket: string;
  readonly reason: string;
}

export type JustificationResult =
  | { ok: true; value: Justification }
  | { ok: false; field: 'ticket' | 'reason'; message: string };

/**
 * Characters that would poison logs and terminals: C0/C1 controls (ESC among them), DEL,
 * bidirectional overrides and zero-width characters that hide or reorder text.
 */
const HOSTILE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

/** Pure: a short free-text reason typed by staff (ending a session, a review note): trimmed text, or why not. */
export function checkReasonText(raw: unknown, max = 500): { ok: true; text: string } | { ok: false; message: string } {
  if (typeof raw !== 'string') return { ok: false, message: 'a reason is required' };
  if (HOSTILE.test(raw)) return { ok: false, message: 'the reason contains control or escape characters; type plain text' };
  const text = raw.trim().replace(/ {2,}/g, ' ');
  if (text.length < 3) return { ok: false, message: 'a reason of at least 3 characters is required' };
  if (text.length > max) return { ok: false, message: `the reason is too long (${text.length} characters); keep it under ${max}` };
  return { ok: true, text };
}

/** Pure: checks an incident ticket and a free-text reason; the message tells the user what to fix. */
export function validateJustification(ticketRaw: string, reasonRaw: string, rules: JustificationRules): JustificationResult {
  const ticket = ticketRaw.trim();
  const reason = reasonRaw.trim().replace(/ {2,}/g, ' ');

  if (HOSTILE.test(ticketRaw)) return bad('ticket', 'the ticket contains control or escape characters');
  if (ticket === '') return bad('ticket', `an incident ticket is required, e.g. ${rules.ticket_example}`);
  if (ticket.length > 64 || !new RegExp(rules.ticket_pattern).test(ticket)) {
    return bad('ticket', `"${ticket.slice(0, 64)}" is not a ticket id; expected something like ${rules.ticket_example}`);
  }

  if (HOSTILE.test(reasonRaw)) return bad('reason', 'the reason contains control or escape characters; type plain text');
  if (reason.length < rules.min_reason_length) {
    return bad('reason', `the reason is too short (${reason.length} characters); describe what you will do in at least ${rules.min_reason_length}`);
  }
  if (reason.length > rules.max_reason_length) {
    return bad('reason', `the reason is too long (${reason.length} characters); keep it under ${rules.max_reason_length}`);
  }
  const words = reason.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const withoutTicket = words.filter((w) => !ticket.toLowerCase().split(/[^\p{L}\p{N}]+/u).includes(w));
  if (withoutTicket.length === 0) return bad('reason', 'the reason only repeats the ticket; say what you will do and why');
  if (new Set(withoutTicket).size < 3) {
    return bad('reason', 'the reason needs at least three different words saying what you will do and why');
  }
  // Real sentences of 20+ characters use many distinct letters; keyboard mashing and patterns do not.
  const letters = new Set(reason.toLowerCase().replace(/[^\p{L}\p{N}]/gu, ''));
  const realWords = new Set(withoutTicket.filter((w) => /\p{L}{3,}/u.test(w)));
  if (letters.size < 8 || realWords.size < 2) return bad('reason', 'the reason looks like repeated characters; describe the work in words');
  return { ok: true, value: { ticket, reason } };
}

function bad(field: 'ticket' | 'reason', message: string): JustificationResult {
  return { ok: false, field, message };
}
