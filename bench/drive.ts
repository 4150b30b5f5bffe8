/**
 * `node --import tsx bench/drive.ts [scenario] [seconds] [-- node flags…]` (after `npm run build`:
 * it starts the compiled server, as the bench does)
 *
 * Starts one Keyhold server on a fresh store, warms it up for 3 s, prints "measuring <pid>", then
 * drives one scenario (default "encrypt 1 KiB") for `seconds` (default 10) and prints its
 * req/s, latencies and the server's CPU time per answer. Made for a native profiler next to
 * `--cpu-prof`: attach `perf record -g -p <pid>` once "measuring" is printed (and pass
 * `-- --perf-basic-prof` so perf can name JavaScript frames). KEYHOLD_LOG_LEVEL picks the
 * server's log level (default warn, as in the bench), KEYHOLD_WORKERS its workers (default 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoadGenerator } from './load-job.js';
import { readTreeCpuSeconds, startKeyhold } from './processes.js';
import { log } from './report.js';
import { measure, PASSPHRASE_MASTER, standardScenarios } from './scenarios.js';
import { prepareStore } from './store-setup.js';

const WARMUP_SECONDS = 3;

async function main(): Promise<void> {
  const dashes = process.argv.indexOf('--');
  const args = dashes === -1 ? process.argv.slice(2) : process.argv.slice(2, dashes);
  const nodeFlags = dashes === -1 ? [] : process.argv.slice(dashes + 1);
  const [name = 'encrypt 1 KiB', seconds = '10'] = args;

  const tempDir = mkdtempSync(path.join(os.tmpdir(), 'keyhold-drive-'));
  const load = LoadGenerator.start();
  try {
    const dataDir = path.join(tempDir, 'data');
    const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, 0);
    const scenario = standardScenarios(prepared).find((candidate) => candidate.name === name);
    if (!scenario) throw new Error(`no scenario "${name}"; one of: ${standardScenarios(prepared).map((s) => s.name).join(', ')}`);
    const keyhold = await startKeyhold({
      dataDir,
      masterEnv: PASSPHRASE_MASTER,
      nodeFlags,
      logLevel: process.env.KEYHOLD_LOG_LEVEL ?? 'warn',
      workers: Number(process.env.KEYHOLD_WORKERS ?? 1),
    });
    try {
      await measure(load, keyhold.origin, prepared, scenario, { warmupSeconds: 0, durationSeconds: WARMUP_SECONDS });
      log(`measuring ${keyhold.pid}`);
      const before = readTreeCpuSeconds(keyhold.pid);
      const result = await measure(load, keyhold.origin, prepared, scenario, { warmupSeconds: 0, durationSeconds: Number(seconds) });
      const after = readTreeCpuSeconds(keyhold.pid);
      const cpuMicros = (1e6 * (after.user + after.system - before.user - before.system)) / result.requests;
      console.log(
        `${scenario.name}: ${Math.round(result.requestsPerSec)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
          `p99 ${result.p99Ms.toFixed(2)} ms, server CPU ${Math.round(cpuMicros)} µs per answer, ${result.failures} failures`,
      );
    } finally {
      await keyhold.stop();
    }
  } finally {
    await load.close();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`drive: ${error.message}\n`);
  process.exitCode = 1;
});
