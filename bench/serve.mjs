// Runs a bastion for a benchmark in its own process: `node bench/serve.mjs CONFIG [--unrecorded]`.
// --unrecorded is the benchmark-only mode that measures what recording costs; it exists only here.
import { loadConfig } from '../dist/src/config/load.js';
import { startBastion } from '../dist/src/main.js';
import { silentLogger } from '../dist/src/log.js';

const [configPath, flag] = process.argv.slice(2);
const bastion = await startBastion(loadConfig(configPath), silentLogger(), undefined, { benchmarkWithoutRecording: flag === '--unrecorded' });
process.stdout.write(JSON.stringify({ port: bastion.ssh.port, http: bastion.http.port }) + '\n');
process.on('SIGTERM', () => void bastion.stop('bench over').then(() => process.exit(0)));
