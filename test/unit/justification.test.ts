import { describe, expect, it } from 'vitest';
import { validateJustification } from '../../src/auth/justification.js';

const rules = { ticket_pattern: '^(INC|PD)-[0-9]{1,10}$', ticket_example: 'INC-1234', min_reason_length: 20, max_reason_length: 500 };
const check = (ticket: string, reason: string) => validateJustification(ticket, reason, rules);

describe('validateJustification', () => {
  it('accepts a real ticket and a descriptive reason, trimmed', () => {
    expect(check(' INC-1234 ', '  restarting the stuck payment workers  ')).toEqual({ ok: true, value: { ticket: 'INC-1234', reason: 'restarting the stuck payment workers' } });
    expect(check('PD-12345', 'rotating the leaked database password now').ok).toBe(true);
  });

  it.each([
    ['', 'an incident ticket is required'],
    ['whatever', 'is not a ticket id'],
    ['INC-', 'is not a ticket id'],
    ['INC-1234; rm -rf /', 'is not a ticket id'],
    ['INC-12\u001b[2J', 'control or escape characters'],
  ])('refuses the ticket %j', (ticket, message) => {
    const r = check(ticket, 'restarting the stuck payment workers');
    expect(r).toMatchObject({ ok: false, field: 'ticket' });
    expect(!r.ok && r.message).toContain(message);
  });

  it.each([
    ['fixing it', 'too short'],
    ['aaaaaaaaaaaaaaaaaaaaaaaaa', 'three different words'],
    ['abababababababababababab ab ab', 'three different words'],
    ['supercalifragilisticexpialidocious', 'three different words'],
    ['INC-1234 INC-1234 INC-1234 INC-1234', 'only repeats the ticket'],
    ['fix fix fix fix fix fix fix fix', 'three different words'],
    ['restart workers \u001b]0;owned\u0007 now please', 'control or escape characters'],
    ['restart the workers\r\nFAKE LOG LINE: ok', 'control or escape characters'],
    ['restart the \u202eworkers now please', 'control or escape characters'],
    ['x'.repeat(600) + ' a b c', 'too long'],
    ['a1 b2 c3 a1 b2 c3 a1 b2 c3', 'repeated characters'],
  ])('refuses the reason %j', (reason, message) => {
    const r = check('INC-1234', reason);
    expect(r).toMatchObject({ ok: false, field: 'reason' });
    expect(!r.ok && r.message).toContain(message);
  });
});
