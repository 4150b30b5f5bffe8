/**
 * Issue 13, "Never lose a key": many kill -9 rounds against the real server, the same rounds
 * as test/integration/kill-nine.test.ts (test/helpers/kill-nine/). Prints the rounds, the
 * acknowledged calls, what was lost or wrong, and the restart times.
 *
 *   node --import tsx bench/kill-nine.ts --seconds 180 --workers 2 [--seed N] [--rounds N] [--kill-after 200-2000]
 *
 * The server runs compiled, as `npm start` does (run `npm run build` first); `--source` runs
 * src/ through tsx, as the test does, and then a restart includes tsx compiling it.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { seedFrom } from '../test/helpers/kill-nine/prng.js';
import { runKillNine } from '../test/helpers/kill-nine/rounds.js';
import { capturedLog } from '../test/helpers/log-capture.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '180' },
    rounds: { type: 'string', default: '100000' },
    workers: { type: 'string', default: '2' },
    seed: { type: 'string' },
    source: { type: 'boolean', default: false },
    'older-blob-sample': { type: 'string', default: '500' },
    // More calls per round than the test's 20 to 160: a round's cost is mostly the restart.
    'kill-after': { type: 'string', default: '200-2000' },
  },
});

if (!values.source && !existsSync(new URL('../dist/src/server/main.js', import.meta.url))) {
  console.error('bench/kill-nine.ts runs the compiled server: npm run build first (or pass --source)');
  process.exit(2);
}
const seed = seedFrom(values.seed ?? process.env.KEYHOLD_KILL_SEED);
const [killMin, killMax] = values['kill-after'].split('-').map(Number);
const started = Date.now();
const report = await runKillNine({
  seed,
  rounds: Number(values.rounds),
  workers: Number(values.workers),
  budgetMs: Number(values.seconds) * 1000,
  olderBlobSample: Number(values['older-blob-sample']),
  built: !values.source,
  killAfterAcks: { min: killMin ?? 200, max: killMax ?? 2000 },
  progress: (line) => {
    // The tests keep every server line for the secrets check; a long run must not.
    capturedLog.length = 0;
    process.stderr.write(`${line}\n`);
  },
});

const count = (kind: string) => report.findings.filter((finding) => finding.kind === kind).length;
const sorted = [...report.restartMs].sort((a, b) => a - b);
const percentile = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
console.log(
  [
    `seed ${seed}, ${report.workers} HTTP worker(s), server ${values.source ? 'src/ through tsx' : 'dist/'}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    `rounds: ${report.rounds} (kills: primary ${report.kills.primary}, worker ${report.kills.worker}, at start-up ${report.kills.startup} of which ${report.kills.startupBeforeListening} before listening)`,
    `acknowledged operations: ${report.acknowledged}`,
    `lost: ${count('lost')}, wrong: ${count('wrong')}, refused: ${count('refused')}, service not continuing: ${count('service')}`,
    `restart (spawn to listening) ms: p50 ${percentile(50)}, p90 ${percentile(90)}, max ${sorted.at(-1) ?? 0} over ${sorted.length} restarts`,
  ].join('\n'),
);
for (const finding of report.findings.slice(0, 20)) console.log(`${finding.kind}: ${finding.message}`);
process.exitCode = report.findings.length === 0 ? 0 : 1;
