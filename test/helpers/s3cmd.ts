import { execFileSync } from 'node:child_process';
import { requireTool } from './tools.js';

/** Runs Debian's s3cmd (an independent S3 client) against an S3 endpoint such as the embedded s3rver. */
export function s3cmd(endpoint: string, args: string[]): string {
  requireTool('s3cmd', 's3cmd');
  const host = endpoint.replace(/^https?:\/\//, '');
  return execFileSync(
    's3cmd',
    ['--config=/dev/null', `--host=${host}`, `--host-bucket=${host}`, '--no-ssl', '--access_key=S3RVER', '--secret_key=S3RVER', '--region=us-east-1', ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Every object key under a bucket. */
export function s3keys(endpoint: string, bucket: string): string[] {
  return s3cmd(endpoint, ['ls', '-r', `s3://${bucket}/`])
    .split('\n')
    .map((l) => /s3:\/\/[^/]+\/(\S+)$/.exec(l)?.[1])
    .filter((k): k is string => k !== undefined);
}
