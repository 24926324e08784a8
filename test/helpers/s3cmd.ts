import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireTool } from './tools.js';

const run = promisify(execFile);

/**
 * Runs Debian's s3cmd (an independent S3 client) against an S3 endpoint such as the embedded s3rver.
 * Asynchronous on purpose: the S3 server may live in this very process.
 */
export async function s3cmd(endpoint: string, args: string[]): Promise<string> {
  requireTool('s3cmd', 's3cmd');
  const host = endpoint.replace(/^https?:\/\//, '');
  const { stdout } = await run(
    's3cmd',
    ['--config=/dev/null', `--host=${host}`, `--host-bucket=${host}`, '--no-ssl', '--access_key=S3RVER', '--secret_key=S3RVER', '--region=us-east-1', ...args],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return stdout;
}

/** Every object key under a bucket. */
export async function s3keys(endpoint: string, bucket: string): Promise<string[]> {
  return (await s3cmd(endpoint, ['ls', '-r', `s3://${bucket}/`]))
    .split('\n')
    .map((l) => /s3:\/\/[^/]+\/(\S+)$/.exec(l)?.[1])
    .filter((k): k is string => k !== undefined);
}
