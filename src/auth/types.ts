import type { AccessVia, AllowedTarget, SessionLimits } from '../policy/policy.js';

/** Who logged in, to what, and why: everything a session needs to know about its login. */
export interface Principal {
  readonly user: string;
  readonly target: string;
  readonly via: AccessVia;
  readonly breakGlass: boolean;
  /** When the access ends (grant expiry, break-glass window); sessions are closed then. */
  readonly expiresAt?: number;
  readonly grantId?: string;
  readonly limits: SessionLimits;
  readonly ticket: string;
  readonly reason: string;
  readonly keyFingerprint: string;
  readonly mfa: 'totp';
  /** A fire drill (`bastion drill`): marked as such in the audit log, recording, alerts and review. */
  readonly drill: boolean;
  /** The registered drill this login claimed. */
  readonly drillId?: string;
}

/** Logged in without naming a target while several are open to the user: they pick one after login. */
export interface PendingPrincipal {
  readonly user: string;
  readonly target?: undefined;
  readonly choices: readonly AllowedTarget[];
  readonly ticket: string;
  readonly reason: string;
  readonly keyFingerprint: string;
  readonly mfa: 'totp';
  readonly drill: boolean;
  readonly drillId?: string;
}

export type Login = Principal | PendingPrincipal;

export type AuthMethod = 'publickey' | 'keyboard-interactive';

/** What the connection answers the client. */
export type AuthResult =
  | { status: 'accepted'; principal: Login }
  /** publickey query without signature: "this key would be accepted". */
  | { status: 'key-ok' }
  /** Go on with these methods; `partial` when the step just taken succeeded. */
  | { status: 'need'; methods: readonly AuthMethod[]; partial: boolean }
  /** Refused for good on this connection: the client is disconnected. */
  | { status: 'refused' };

export interface PromptSpec {
  readonly prompt: string;
  readonly echo: boolean;
}

/** keyboard-interactive round trips, adapted from the SSH library. Resolves undefined when the client went away. */
export interface Prompter {
  ask(title: string, instructions: string, prompts: readonly PromptSpec[]): Promise<string[] | undefined>;
}

export type AuthRequest =
  | { method: 'none'; username: string }
  | { method: 'publickey'; username: string; keyBlob: Buffer; signed?: { data: Buffer; signature: Buffer; hashAlgo?: string } }
  | { method: 'keyboard-interactive'; username: string; prompter: Prompter }
  | { method: 'other'; username: string; name: string };
