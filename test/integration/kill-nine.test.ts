import { expect } from 'chai';
import { seedFrom } from '../helpers/kill-nine/prng.js';
import { runKillNine } from '../helpers/kill-nine/rounds.js';
import { TEST_WORKERS } from '../helpers/server-process.js';

/**
 * Issue "Never lose a key": SIGKILL never loses or changes an acknowledged operation.
 * KEYHOLD_KILL_SEED replays a schedule (the seed is in the title); KEYHOLD_KILL_ROUNDS runs more
 * rounds than the few that keep this file under a minute in CI.
 */
const SEED = seedFrom(process.env.KEYHOLD_KILL_SEED);
const ROUNDS = Number(process.env.KEYHOLD_KILL_ROUNDS || 3);
const WORKERS = Number(TEST_WORKERS);

describe(`kill -9 (seed ${SEED}, ${ROUNDS} rounds, ${WORKERS} worker${WORKERS === 1 ? '' : 's'}; KEYHOLD_KILL_SEED=${SEED} replays it)`, function () {
  // A deadline for a stuck run: the rounds usually take 20–40 s on a loaded 2-core machine.
  this.timeout(Math.max(180_000, ROUNDS * 45_000));

  it('keeps every acknowledged key, state, version, alias, tag and blob across SIGKILLs of the primary, of a worker (with workers) and of a start-up', async () => {
    const report = await runKillNine({ seed: SEED, rounds: ROUNDS, workers: WORKERS });
    const summary = `seed ${SEED}: ${report.rounds} rounds, ${report.acknowledged} acknowledged, kills ${JSON.stringify(report.kills)}`;
    expect(report.findings.map((finding) => `${finding.kind}: ${finding.message}`).slice(0, 20), summary).to.deep.equal([]);
    expect(report.rounds, summary).to.equal(ROUNDS);
    expect(report.kills.primary + report.kills.worker, summary).to.equal(ROUNDS);
    // Every round acknowledged at least its 20 calls before the kill: the load did run.
    expect(report.acknowledged, summary).to.be.at.least(20 * ROUNDS);
    expect(report.restartMs, summary).to.have.length(report.kills.primary + 1);
  });
});
