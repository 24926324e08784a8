/**
 * Options the bastion's own Node process is started with (`bastion` runs `node` with them through
 * its shebang; `npm start`, the Dockerfile and the benchmarks pass them too). V8 reads them when
 * it creates the heap, so they cannot be set from inside the running process.
 *
 * `--initial-old-space-size=128`: the bastion's old generation is small (about 20 MB). Once a
 * flood of output has made V8's young generation grow to its largest, V8 starts a full
 * mark-compact every 50-100 ms for as long as output flows, each freeing about 1 MB; it logs the
 * old generation's headroom under its limit (about 24 MB) as the reason. A 128 MB floor under
 * that limit ends it. Measured without and with it: the pty `cat` 14.1 and 10.0 ms of CPU per MB,
 * exec of text 157 and 198 MB/s (docs/benchmarks.md, eleventh round). Above 128 MB V8 sizes the
 * heap as it always does.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** The entries of NODE_FLAGS that EXEC_ARGV (the process's own node options) lacks. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
