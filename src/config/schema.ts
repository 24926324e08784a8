import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';

/** A duration written as "15m", "60s", "2h" or a number of seconds; parsed to milliseconds. */
const duration = (min = 0, max = 366 * 86_400_000) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms < min || ms > max) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like "90s", "15m" or "2h" between ${formatDuration(min)} and ${formatDuration(max)}, got ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    }
    return ms;
  });

/** Names that end up in usernames (`user:target`), file names and logs: keep them boring. */
export const NAME_PATTERN = /^[a-z_][a-z0-9_.-]{0,63}$/;
const name = z.string().regex(NAME_PATTERN, 'expected a lowercase name (a-z, 0-9, "_", ".", "-"; at most 64 characters)');

const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({});

const localTarget = z.strictObject({
  type: z.literal('local'),
  description: z.string().max(200).optional(),
  /** Interactive sessions run `shell -l` (or `command`); exec requests run `shell -c COMMAND`. */
  shell: z.string().min(1).default('/bin/bash'),
  /** A fixed program instead of a shell (psql, kubectl exec -it ...): exec requests are refused. */
  command: z.array(z.string().min(1)).min(1).optional(),
  /** Run as this OS user (the bastion must run as root to switch users). */
  run_as: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).optional(),
  /**
   * Without run_as a target runs as the bastion's own user, who can read the bastion's keys, TOTP
   * secrets and audit log. Only a demo should say yes here.
   */
  allow_bastion_user: z.boolean().default(false),
  cwd: z.string().min(1).optional(),
  /** Serves sftp (and scp, which uses sftp) when a role allows file transfer. */
  sftp_server: z.string().min(1).default('/usr/lib/openssh/sftp-server'),
  /** Fixed environment for the target, on top of a minimal base (PATH, HOME, USER, SHELL). */
  env: envMap,
});

const sshTarget = z.strictObject({
  type: z.literal('ssh'),
  description: z.string().max(200).optional(),
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535).default(22),
  /** The account on the upstream host; the bastion holds its credential, engineers never see it. */
  user: z.string().min(1).max(64),
  private_key_file: z.string().min(1).optional(),
  password_file: z.string().min(1).optional(),
  /** The upstream host key, pinned: an OpenSSH public key line, or entries in a known_hosts file. */
  host_key: z.string().min(1).optional(),
  known_hosts_file: z.string().min(1).optional(),
  connect_timeout: duration(1000, 120_000).default(10_000),
});

const target = z.discriminatedUnion('type', [localTarget, sshTarget]);

/** What a role lets its members do beyond a plain session; everything is closed by default. */
const allow = z
  .strictObject({
    /** `ssh -L` to the target's own host (local targets: loopback only). `-R` is never offered. */
    port_forwarding: z.boolean().default(false),
    /** sftp and scp. */
    file_transfer: z.boolean().default(false),
  })
  .prefault({});

const role = z.strictObject({
  description: z.string().max(200).optional(),
  /** Targets members may always reach. */
  standing: z.array(name).default([]),
  /** Targets members may reach only as an emergency override: alerted, time-limited, reviewed. */
  break_glass: z.array(name).default([]),
  idle_timeout: duration(10_000).optional(),
  max_session: duration(10_000).optional(),
  max_sessions_per_user: z.number().int().min(1).max(1000).optional(),
  allow,
});

const user = z.strictObject({
  /** Authorized keys: paths to files in authorized_keys format, or inline OpenSSH public key lines. */
  keys: z.array(z.string().min(1)).min(1, 'expected at least one key'),
  /** Where this user's TOTP secret lives; default `<auth.totp.secrets_dir>/<user>.totp`. */
  totp_secret_file: z.string().min(1).optional(),
  roles: z.array(name).default([]),
  default_target: name.optional(),
});

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(2222),
    })
    .default({ host: '127.0.0.1', port: 2222 }),
  host_keys: z.array(z.string().min(1)).min(1, 'expected at least one host key file'),
  data_dir: z.string().min(1).default('./data'),
  /** Print copy-paste login instructions (key and TOTP paths) at start-up: for demos, not production. */
  demo_banner: z.boolean().default(false),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long SIGTERM waits for running sessions before closing them. */
  shutdown_grace: duration(0, 3_600_000).default(30_000),
  auth: z
    .strictObject({
      /** A login (publickey through justification) must finish within this time. */
      login_timeout: duration(1000, 600_000).default(60_000),
      totp: z
        .strictObject({
          issuer: z.string().min(1).max(64).default('Bastion'),
          secrets_dir: z.string().min(1).optional(),
          /** Wrong codes allowed on one connection before it is closed (sshd's default is similar). */
          attempts_per_connection: z.number().int().min(1).max(10).default(3),
        })
        .prefault({}),
      justification: z
        .strictObject({
          ticket_pattern: z
            .string()
            .default('^(INC|PD|CHG|SEC)-[0-9]{1,10}$')
            .refine((p) => isValidRegex(p), 'expected a valid regular expression'),
          ticket_example: z.string().default('INC-1234'),
          min_reason_length: z.number().int().min(1).max(500).default(20),
          max_reason_length: z.number().int().min(20).max(4000).default(500),
        })
        .prefault({}),
      lockout: z
        .strictObject({
          max_failures: z.number().int().min(1).max(100).default(5),
          window: duration(1000).default(15 * 60_000),
          duration: duration(1000).default(15 * 60_000),
        })
        .prefault({}),
      rate_limit: z
        .strictObject({
          /** New connections per source address per minute; beyond it connections are dropped at once. */
          connections_per_minute: z.number().int().min(1).max(100_000).default(60),
          /** Unauthenticated connections one source address may hold open at once. */
          max_pending_per_ip: z.number().int().min(1).max(10_000).default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  session: z
    .strictObject({
      /** Client environment variables passed to targets (`*` is a suffix wildcard). TERM comes from the pty request. */
      env_allow: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/)).default(['LANG', 'LC_*']),
      /** Defaults for roles that set none, and for access through grants. */
      idle_timeout: duration(10_000).default(30 * 60_000),
      max_session: duration(10_000).default(12 * 3_600_000),
      max_sessions_per_user: z.number().int().min(1).max(1000).default(5),
      /** Users are warned this long before a grant or break-glass window ends. */
      expiry_notice: duration(0).default(5 * 60_000),
      /** How often live sessions are checked against expiry, revocation and idle limits. */
      check_interval: duration(50, 60_000).default(1000),
    })
    .prefault({}),
  break_glass: z
    .strictObject({
      /** How long a break-glass session may last. */
      window: duration(60_000, 24 * 3_600_000).default(60 * 60_000),
    })
    .prefault({}),
  grants: z
    .strictObject({
      /** The longest just-in-time grant anyone may create. */
      max_ttl: duration(60_000, 7 * 86_400_000).default(24 * 3_600_000),
    })
    .prefault({}),
  /** Where security is told at once: webhooks (generic JSON or Slack-compatible). */
  alerts: z
    .strictObject({
      webhooks: z
        .array(
          z.strictObject({
            name: name,
            url: z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL'),
            format: z.enum(['generic', 'slack']).default('generic'),
            /** A shared secret (file, mode 0600): the body is signed, X-Bastion-Signature: sha256=HMAC. */
            secret_file: z.string().min(1).optional(),
          }),
        )
        .default([]),
      /** Failed deliveries are retried with backoff up to this interval... */
      max_retry_interval: duration(1_000, 3_600_000).default(60_000),
      /** ...until this long after the alert; then given up (audited). */
      give_up_after: duration(60_000, 7 * 86_400_000).default(24 * 3_600_000),
      /** Recordings failing to upload for this long raise an alert (once per outage). */
      upload_failing_after: duration(10_000, 86_400_000).default(10 * 60_000),
    })
    .prefault({}),
  /**
   * Fire drills (`bastion drill`): a synthetic break-glass session as this user, end to end. Every
   * session of the drill user is marked as a drill: audit, recording, alerts, review item.
   */
  drill: z
    .strictObject({
      user: name,
      /** A break-glass target of the drill user (a harmless one: the drill runs a few echo commands). */
      target: name,
      /** The drill user's SSH private key (mode 0600), read by `bastion drill` only. */
      private_key_file: z.string().min(1),
      /** The ticket the drill gives; default: auth.justification.ticket_example. */
      ticket: z.string().min(1).max(64).optional(),
      /** The drill user may log in only from these addresses: a stolen drill key is no way in from elsewhere. */
      allowed_sources: z.array(z.string().min(1)).min(1).default(['127.0.0.1', '::1', '::ffff:127.0.0.1']),
      /** How long the drill waits for each asynchronous control (alert delivery, upload). */
      timeout: duration(1_000, 600_000).default(60_000),
    })
    .optional(),
  reviews: z
    .strictObject({
      /** A break-glass session's review is overdue when still pending this long after the session started. */
      due_after: duration(60_000, 90 * 86_400_000).default(24 * 3_600_000),
    })
    .prefault({}),
  recording: z
    .strictObject({
      /** Ed25519 private key (PEM) that signs every recording's manifest. */
      signing_key: z.string().min(1),
      /** Public keys (PEM) of earlier signing keys, still trusted by `recording verify`. */
      verify_keys: z.array(z.string().min(1)).default([]),
      /** Recordings are fsynced at least this often: a crash loses at most this much. */
      flush_interval: duration(50, 5000).default(1000),
      /** During a session, what was recorded is uploaded at least this often. */
      chunk_interval: duration(1000, 600_000).default(10_000),
      /** May a break-glass session go on when its recording cannot be written? Closed by default. */
      break_glass_without_recording: z.boolean().default(false),
    }),
  storage: z
    .strictObject({
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').default('bastion-recordings'),
      prefix: z.string().regex(/^[A-Za-z0-9!_.*'()/-]{0,200}$/).default('recordings'),
      region: z.string().min(1).default('us-east-1'),
      /** S3-compatible endpoint (MinIO, ...). Absent and no `embedded`: AWS S3. */
      endpoint: z.string().url().optional(),
      /** Credentials; absent: the AWS SDK's default chain (instance role, env, profile). */
      access_key_id: z.string().min(1).optional(),
      secret_access_key_file: z.string().min(1).optional(),
      sse: z.enum(['none', 'AES256', 'aws:kms']).default('none'),
      kms_key_id: z.string().min(1).optional(),
      /** Failed uploads are retried forever, backing off up to this interval (with jitter). */
      max_retry_interval: duration(100, 3_600_000).default(60_000),
      object_lock: z.strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), retain_days: z.number().int().min(1).max(36_500) }).optional(),
      /** Run an S3-compatible server (s3rver) in a child process and use it: the demo default. */
      embedded: z
        .strictObject({
          host: z.string().min(1).default('127.0.0.1'),
          port: z.number().int().min(0).max(65535).default(9000),
          /** Where its objects live; default `<data_dir>/s3`. */
          dir: z.string().min(1).optional(),
          access_key_id: z.literal('S3RVER').default('S3RVER'),
          secret_access_key: z.literal('S3RVER').default('S3RVER'),
        })
        .optional(),
    })
    .prefault({}),
  /** HTTP service: /metrics, and the grants API (off unless a token file is configured). */
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8022),
      /** Bearer tokens allowed to create grants, one per line (file mode 0600). */
      grant_token_file: z.string().min(1).optional(),
      /** TLS for the service (grants API, live view): certificate chain and private key, PEM. */
      tls_cert_file: z.string().min(1).optional(),
      tls_key_file: z.string().min(1).optional(),
      /** Browser origins besides the service's own that may use the live view (e.g. a SOC dashboard). */
      allowed_origins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin like https://soc.example.com')).default([]),
      /** Demo only: POST /demo/alerts accepts alerts and logs them, so alerting works without any external service. */
      demo_alert_receiver: z.boolean().default(false),
    })
    .refine((h) => (h.tls_cert_file === undefined) === (h.tls_key_file === undefined), { message: 'tls_cert_file and tls_key_file go together' })
    .prefault({}),
  targets: z.record(name, target),
  roles: z.record(name, role).default({}),
  users: z.record(name, user),
});

export type RawConfig = z.output<typeof configSchema>;
export type TargetConfig = z.output<typeof target>;
export type LocalTargetConfig = z.output<typeof localTarget>;

function isValidRegex(p: string): boolean {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}
