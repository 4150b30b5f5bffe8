/**
 * The kill -9 rounds ("Never lose a key"), shared by test/integration/kill-nine.test.ts and
 * bench/kill-nine.ts. A seeded PRNG decides each round: a mixed load runs, and after a chosen
 * number of acknowledged calls the primary (or, with workers, sometimes one worker) gets
 * SIGKILL; sometimes the restarted primary is killed again during start-up. After each restart
 * every acknowledged fact is read back through the API.
 */
import path from 'node:path';
import { rememberSecret } from '../secrets.js';
import { makeTempDir } from '../temp-dir.js';
import { checkLedger } from './check.js';
import { Ledger, type Finding } from './ledger.js';
import { runLoad } from './load.js';
import { Prng } from './prng.js';
import { killDuringStartup, killPrimary, liveWorkerPids, startServer, waitFor, workersListened, type LiveServer, type ServerSettings } from './server-life.js';

export interface KillNineOptions {
  seed: number;
  rounds: number;
  workers: number;
  /** No new round starts after this many ms (the bench runs for a time). */
  budgetMs?: number;
  /** See CheckOptions.olderBlobSample. */
  olderBlobSample?: number;
  lanes?: number;
  /** A round's kill comes after from `min` to `max` acknowledged calls; default 20 to 160. */
  killAfterAcks?: { min: number; max: number };
  /** Run the compiled server (dist/, after `npm run build`), as `npm start` does; default src/ through tsx. */
  built?: boolean;
  progress?: (line: string) => void;
}

export interface KillNineReport {
  seed: number;
  workers: number;
  rounds: number;
  acknowledged: number;
  findings: Finding[];
  kills: { primary: number; worker: number; startup: number; startupBeforeListening: number };
  /** Spawn to "keyhold is listening", of every restart after a kill. */
  restartMs: number[];
}

interface RoundPlan {
  victim: 'primary' | 'worker';
  /** The kill comes once this many more calls have been acknowledged in the round… */
  killAfterAcks: number;
  /** …and this many ms later, so that it lands between calls as well as in one. */
  killDelayMs: number;
  /** Kill the next start this many ms after its spawn (primary rounds only). */
  startupKillMs: number | undefined;
}

const PASSPHRASE = 'kill-nine test passphrase, long enough';
/** Calls acknowledged after a replacement worker listens: "service continues". */
const ACKS_AFTER_WORKER_KILL = 30;
const LOAD_PATIENCE_MS = 60_000;

function planRound(prng: Prng, workers: number, killAfterAcks: { min: number; max: number }): RoundPlan {
  const victim = workers > 1 && prng.chance(0.35) ? 'worker' : 'primary';
  return {
    victim,
    killAfterAcks: prng.int(killAfterAcks.min, killAfterAcks.max),
    killDelayMs: prng.int(0, 15),
    startupKillMs: victim === 'primary' && prng.chance(0.3) ? prng.int(0, 1500) : undefined,
  };
}

export async function runKillNine(options: KillNineOptions): Promise<KillNineReport> {
  // Two streams: the schedule (victims, kill points) replays exactly from the seed; the load's
  // draws depend on how its concurrent calls interleave, so they must not shift the schedule.
  const schedule = new Prng(options.seed);
  const prng = new Prng((options.seed ^ 0x9e3779b9) >>> 0);
  const ledger = new Ledger();
  const report: KillNineReport = {
    seed: options.seed,
    workers: options.workers,
    rounds: 0,
    acknowledged: 0,
    findings: [],
    kills: { primary: 0, worker: 0, startup: 0, startupBeforeListening: 0 },
    restartMs: [],
  };
  const dir = makeTempDir('keyhold-kill-nine-');
  const settings: ServerSettings = { dataDir: path.join(dir.path, 'data'), cwd: dir.path, passphrase: PASSPHRASE, workers: options.workers, built: options.built ?? false };
  rememberSecret(PASSPHRASE);
  const started = Date.now();
  // Every server started, so that a failing round leaves none running.
  const servers: LiveServer[] = [];
  let live: LiveServer | undefined;
  try {
    live = await restart(settings, servers);
    for (let round = 1; round <= options.rounds && Date.now() - started < (options.budgetMs ?? Infinity); round++) {
      const roundStarted = Date.now();
      const plan = planRound(schedule, options.workers, options.killAfterAcks ?? { min: 20, max: 160 });
      live = await runRound(round, plan, live, { settings, schedule, prng, ledger, report, servers, lanes: options.lanes ?? 6, olderBlobSample: options.olderBlobSample ?? Infinity });
      report.rounds = round;
      report.acknowledged = ledger.acknowledged;
      const kill = plan.victim === 'worker' ? 'a worker' : plan.startupKillMs === undefined ? 'the primary' : `the primary, then its restart after ${plan.startupKillMs} ms`;
      options.progress?.(`round ${round} (${Date.now() - roundStarted} ms, killed ${kill}): ${ledger.acknowledged} acknowledged, ${ledger.keys.size} keys, ${ledger.blobs.length} blobs, ${report.findings.length} findings`);
    }
    // A last restart, then every blob, not a sample.
    await killPrimary(live);
    live = await restart(settings, servers);
    report.restartMs.push(live.startMs);
    report.findings.push(...(await checkLedger(live.client, ledger, prng, { round: report.rounds + 1, olderBlobSample: Infinity })));
    await live.server.stop();
    live.client.close();
  } finally {
    const running = servers.filter((server) => server.server.child.exitCode === null && server.server.child.signalCode === null);
    await Promise.all(running.map((server) => killPrimary(server).catch(() => undefined)));
    dir.remove();
  }
  return report;
}

interface RunState {
  settings: ServerSettings;
  schedule: Prng;
  /** The load's and the checks' draws. */
  prng: Prng;
  ledger: Ledger;
  report: KillNineReport;
  servers: LiveServer[];
  lanes: number;
  olderBlobSample: number;
}

/** One round on a running server; returns the server that runs afterwards, checked. */
async function runRound(round: number, plan: RoundPlan, live: LiveServer, state: RunState): Promise<LiveServer> {
  const { ledger, report } = state;
  const target = ledger.acknowledged + plan.killAfterAcks;
  const loadStarted = Date.now();
  let stopped = false;
  const context = { client: live.client, ledger, prng: state.prng, round, findings: report.findings, stop: () => stopped || Date.now() - loadStarted > LOAD_PATIENCE_MS };
  const load = runLoad(context, state.lanes);
  let primaryGone: Promise<void> | undefined;
  try {
    await waitFor(`${plan.killAfterAcks} acknowledged calls`, () => ledger.acknowledged >= target, LOAD_PATIENCE_MS);
    await new Promise((resolve) => setTimeout(resolve, plan.killDelayMs));
    if (plan.victim === 'worker') await killWorker(live, state, round);
    // SIGKILL is sent at once; the load stops then, since the workers of a killed primary
    // stay (answering 503) until their connections have been idle or 10 s have passed.
    else primaryGone = killPrimary(live);
  } finally {
    // The check reads a quiet server: every call of the load has had its answer (or none).
    stopped = true;
    await load;
  }
  if (!primaryGone) return checked(round, live, state);
  await primaryGone;
  report.kills.primary++;
  if (plan.startupKillMs !== undefined) {
    const { listened } = await killDuringStartup(state.settings, plan.startupKillMs);
    report.kills.startup++;
    if (!listened) report.kills.startupBeforeListening++;
  }
  const again = await restart(state.settings, state.servers);
  report.restartMs.push(again.startMs);
  return checked(round, again, state);
}

/** Kills one worker and waits for its replacement and for service to continue. */
async function killWorker(live: LiveServer, state: RunState, round: number): Promise<void> {
  const workers = liveWorkerPids(live.server);
  const victim = state.schedule.pick(workers);
  const listenedBefore = workersListened(live.server);
  process.kill(victim, 'SIGKILL');
  state.report.kills.worker++;
  await waitFor('the replacement worker', () => workersListened(live.server) > listenedBefore && !liveWorkerPids(live.server).includes(victim));
  const target = state.ledger.acknowledged + ACKS_AFTER_WORKER_KILL;
  try {
    await waitFor(`${ACKS_AFTER_WORKER_KILL} calls acknowledged after the worker was replaced`, () => state.ledger.acknowledged >= target, LOAD_PATIENCE_MS);
  } catch (error) {
    state.report.findings.push({ kind: 'service', message: `round ${round}: ${(error as Error).message}` });
  }
}

async function restart(settings: ServerSettings, servers: LiveServer[]): Promise<LiveServer> {
  const live = await startServer(settings);
  servers.push(live);
  return live;
}

async function checked(round: number, live: LiveServer, state: RunState): Promise<LiveServer> {
  state.report.findings.push(...(await checkLedger(live.client, state.ledger, state.prng, { round, olderBlobSample: state.olderBlobSample })));
  return live;
}
