import { readFile } from 'node:fs/promises';
import { verify } from 'otplib';
import { Secret } from '../secret.js';
import type { KvStore } from '../state/kv-store.js';

export const TOTP_PERIOD_S = 30;
const CODE = /^\d{6}$/;

export type TotpOutcome =
  | { ok: true; timeStep: number }
  | { ok: false; reason: 'malformed' | 'invalid' | 'replayed' };

/** Strips the spaces people type ("123 456"); returns undefined unless exactly six digits remain. */
export function normalizeCode(answer: string): string | undefined {
  if (answer.length > 32) return undefined;
  const code = answer.replace(/[\s-]/g, '');
  return CODE.test(code) ? code : undefined;
}

/**
 * Checks a TOTP answer at `nowMs` with ±1 step tolerance and claims its time step, so a code (or an
 * older one) is never accepted twice for the same user. Never throws on bad input.
 */
export class TotpVerifier {
  constructor(private readonly usedSteps: KvStore<number>) {}

  async check(user: string, secret: Secret, answer: string, nowMs: number): Promise<TotpOutcome> {
    const token = normalizeCode(answer);
    if (token === undefined) return { ok: false, reason: 'malformed' };
    let timeStep: number;
    try {
      const res = await verify({
        secret: secret.reveal(),
        token,
        epoch: Math.floor(nowMs / 1000),
        epochTolerance: TOTP_PERIOD_S,
      });
      if (!res.valid || !('timeStep' in res)) return { ok: false, reason: 'invalid' };
      timeStep = res.timeStep;
    } catch {
      // otplib throws on malformed tokens and unusable secrets; both are a refusal, never a crash.
      return { ok: false, reason: 'invalid' };
    }
    let claimed = false;
    await this.usedSteps.update(user, (last) => {
      if (last !== undefined && timeStep <= last) return last;
      claimed = true;
      return timeStep;
    });
    return claimed ? { ok: true, timeStep } : { ok: false, reason: 'replayed' };
  }
}

/** Reads a base32 secret file (one line). Undefined when the user has not enrolled. */
export async function readTotpSecret(path: string): Promise<Secret | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^[A-Z2-7]+=*$/i.test(text) && text.length >= 16 ? new Secret(text.toUpperCase()) : undefined;
  } catch {
    return undefined;
  }
}
