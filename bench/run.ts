/**
 * `npm run bench [-- --quick] [-- --million] [-- --masters] [-- --profile] [-- --workers N] [-- --only <name part>] [-- --compare-with <commit>]`
 *
 * Starts a real Keyhold server and a bare node:https baseline as child processes, drives
 * both from a third process with autocannon, prints a table and writes
 * bench/results/latest.json. See bench/README.md.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCommit, compareRows, type OtherBuild } from './compare-build.js';
import { LoadGenerator } from './load-job.js';
import { measureMasterKeys } from './master-keys.js';
import { loadKeys } from './million-keys.js';
import { readMemory, startBaseline, startFloor, startKeyhold, waitForQuietMachine, type BenchProcess } from './processes.js';
import { printProfile, summarizeProfile } from './profile-summary.js';
import { formatTable, log, RESULTS_DIR, roundResult, writeResults, type ScenarioResult } from './report.js';
import { decryptScenario, encryptScenario, measure, measureOn, PASSPHRASE_MASTER, standardScenarios, timingFor, type Scenario, type Timing } from './scenarios.js';
import { prepareStore, type PreparedStore } from './store-setup.js';

const OPTIONS = ['--quick', '--million', '--masters', '--profile', '--workers', '--only', '--compare-with'] as const;
/** The scenarios `--compare-with` also measures on the other build, each right after this tree's. */
const COMPARED: Record<string, (prepared: PreparedStore) => Scenario> = { 'encrypt 1 KiB': encryptScenario, 'decrypt 1 KiB': decryptScenario };
const SPREAD_KEYS = 1_000;
const MILLION = 1_000_000;
/** Requests of the million-key scenario go to this many distinct keys (64 connections × 1,000). */
const MILLION_SAMPLE = 64_000;
const SERVER_WARMUP_SECONDS = 3;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const workersAt = args.indexOf('--workers');
  const workers = workersAt === -1 ? undefined : Number(args.splice(workersAt, 2)[1]);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) throw new Error('--workers takes a whole number, e.g. --workers 1');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt === -1 ? undefined : args.splice(onlyAt, 2)[1];
  if (only !== undefined && (only === '' || only.startsWith('--'))) throw new Error('--only takes part of a scenario name, e.g. --only "1,000 keys"');
  const compareAt = args.indexOf('--compare-with');
  const compareWith = compareAt === -1 ? undefined : args.splice(compareAt, 2)[1];
  if (compareWith !== undefined && (compareWith === '' || compareWith.startsWith('--'))) throw new Error('--compare-with takes a commit, e.g. --compare-with bf5e4e5');
  if (compareWith !== undefined && (args.includes('--masters') || args.includes('--profile'))) throw new Error('--compare-with goes with the plain run, not --masters or --profile');
  const unknown = args.filter((arg) => !(OPTIONS as readonly string[]).includes(arg));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}; options: ${OPTIONS.join(' ')}`);
  const timing = timingFor(args.includes('--quick'));
  log(`Keyhold with ${workers === undefined ? "the server's default number of" : workers} HTTP worker(s)`);

  await warnIfMachineBusy();
  const tempDir = mkdtempSync(path.join(os.tmpdir(), 'keyhold-bench-'));
  const other = compareWith === undefined ? undefined : await buildCommit(compareWith);
  const load = LoadGenerator.start();
  try {
    if (args.includes('--masters')) {
      await measureMasterKeys(load, tempDir, timing);
    } else if (args.includes('--profile')) {
      await profileScenarios(load, tempDir, timing, workers ?? 1);
    } else {
      await benchmark(load, tempDir, timing, args.includes('--million'), workers, only, other);
    }
  } finally {
    await load.close();
    await other?.remove();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

async function benchmark(
  load: LoadGenerator,
  tempDir: string,
  timing: Timing,
  million: boolean,
  workers: number | undefined,
  only: string | undefined,
  other: OtherBuild | undefined,
): Promise<void> {
  const dataDir = path.join(tempDir, 'data');
  log(`preparing a store with ${SPREAD_KEYS + 1} keys in ${dataDir}`);
  const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, SPREAD_KEYS);
  const compared = other && (await startOtherBuild(other, tempDir, workers));
  let keyhold = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers });
  const baseline = await startBaseline(path.join(dataDir, 'tls-cert.pem'), path.join(dataDir, 'tls-key.pem'));
  const baselineScenario = { ...encryptScenario(prepared), name: 'baseline: bare node:https, JSON in/out' };
  const baselines: ScenarioResult[] = [];
  const results: ScenarioResult[] = [];
  try {
    log(`baseline: bare node:https, ${timing.warmupSeconds} s warm-up + ${timing.durationSeconds} s per scenario`);
    baselines.push(await measureOn(load, baseline, prepared, baselineScenario, timing));
    results.push(await measureFloor(load, dataDir, prepared, timing, workers ?? os.availableParallelism()));
    await warmUp(load, keyhold, prepared);
    if (compared) await warmUp(load, compared.server, compared.prepared);
    for (const scenario of standardScenarios(prepared).filter((candidate) => only === undefined || candidate.name.includes(only))) {
      log(scenario.name);
      results.push(await measureOn(load, keyhold, prepared, scenario, timing));
      const same = COMPARED[scenario.name];
      if (compared && same) results.push(await measureOther(load, compared, same(compared.prepared), results.at(-1)!, timing));
    }
    // Measured again after the scenarios: the ratios use the mean, so drift shows and averages out.
    log('baseline again');
    baselines.push(await measureOn(load, baseline, prepared, { ...baselineScenario, name: `${baselineScenario.name} (again)` }, timing));
    await baseline.stop();
    if (million) {
      await keyhold.stop();
      const keyIds = await loadMillionKeys(dataDir);
      keyhold = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers });
      await warmUp(load, keyhold, prepared);
      const memory = readMemory(keyhold.pid);
      log(`server with ${MILLION.toLocaleString('en')} keys, just started: PSS ${memory.pssMb} MB, RSS ${memory.rssMb} MB (anon ${memory.anonMb}, file ${memory.fileMb})`);
      const scenario = { ...encryptScenario(prepared), name: 'encrypt 1 KiB over 1,000,000 keys', keyIds };
      log(scenario.name);
      // One run only: a second would find the sampled keys in the server's caches.
      results.push(await measureOn(load, keyhold, prepared, scenario, timing, 1));
    }
  } finally {
    await baseline.stop();
    await keyhold.stop();
    await compared?.server.stop();
  }
  const baselineRequestsPerSec = baselines.reduce((sum, b) => sum + b.requestsPerSec, 0) / baselines.length;
  results.unshift(...baselines);
  for (const result of results) result.baselineRequestsPerSec = baselineRequestsPerSec;

  console.log(`\n${formatTable(results)}\n`);
  log(`wrote ${writeResults('latest.json', results.map(roundResult))}`);
  const failed = results.filter((result) => result.failures > 0);
  if (failed.length > 0) throw new Error(`requests failed in: ${failed.map((result) => result.name).join(', ')}`);
}

interface ComparedServer {
  build: OtherBuild;
  server: BenchProcess;
  prepared: PreparedStore;
}

/** The other build's server, with the same environment, on a store its own code prepared. */
async function startOtherBuild(build: OtherBuild, tempDir: string, workers: number | undefined): Promise<ComparedServer> {
  const dataDir = path.join(tempDir, `data-${build.commit}`);
  log(`preparing a store for ${build.commit} with its own bench/store-setup in ${dataDir}`);
  const prepared = await build.prepareStore(dataDir, PASSPHRASE_MASTER);
  const server = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers, main: build.main });
  return { build, server, prepared };
}

/** The same scenario on the other build's server and store, right after this tree's row. */
async function measureOther(load: LoadGenerator, compared: ComparedServer, scenario: Scenario, current: ScenarioResult, timing: Timing): Promise<ScenarioResult> {
  const { build, server, prepared } = compared;
  log(`${scenario.name} on ${build.commit}`);
  const result = await measureOn(load, server, prepared, { ...scenario, name: `${scenario.name}, build ${build.commit}` }, timing);
  log(compareRows(current, result));
  return result;
}

/**
 * The encrypt request against bench/floor-server.ts, in as many processes as Keyhold has HTTP
 * workers: only the protocol's and format 1's own work. Its row says how far any server
 * speaking this protocol gets on this machine.
 */
async function measureFloor(load: LoadGenerator, dataDir: string, prepared: PreparedStore, timing: Timing, processes: number): Promise<ScenarioResult> {
  const name = `floor: node:https + the protocol's own work (signature, HKDF, AES-GCM), ${processes} process${processes === 1 ? '' : 'es'}`;
  log(name);
  const floor = await startFloor(path.join(dataDir, 'tls-cert.pem'), path.join(dataDir, 'tls-key.pem'), prepared.secretKey, processes);
  try {
    return await measureOn(load, floor, prepared, { ...encryptScenario(prepared), name }, timing);
  } finally {
    await floor.stop();
  }
}

/**
 * A fresh server is slower for its first seconds (JIT, heap growth), more than one scenario's
 * warm-up absorbs: encrypt under one key for a few seconds, unrecorded, before the first scenario.
 */
async function warmUp(load: LoadGenerator, keyhold: BenchProcess, prepared: PreparedStore): Promise<void> {
  log('warming the server up');
  await measure(load, keyhold.origin, prepared, encryptScenario(prepared), { warmupSeconds: 0, durationSeconds: SERVER_WARMUP_SECONDS });
}

/** Loads a million keys into the (closed) store; returns the sample of KeyIds the scenario uses. */
async function loadMillionKeys(dataDir: string): Promise<string[]> {
  const started = performance.now();
  const sample = await loadKeys(dataDir, PASSPHRASE_MASTER, MILLION, MILLION_SAMPLE, (loaded) => {
    if (loaded % 100_000 === 0) log(`  loaded ${loaded.toLocaleString('en')} keys`);
  });
  log(`loaded ${MILLION.toLocaleString('en')} keys in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return sample;
}

/** The scenarios `--profile` runs, each on a server of its own under `node --cpu-prof`. */
const PROFILED = ['encrypt 1 KiB', 'decrypt 1 KiB', 'generatedatakey AES_256'];

/** Encrypt, decrypt and generatedatakey under `node --cpu-prof`; prints where the server's time went. */
async function profileScenarios(load: LoadGenerator, tempDir: string, timing: Timing, workers: number): Promise<void> {
  const dataDir = path.join(tempDir, 'data');
  const profileDir = path.join(RESULTS_DIR, 'profiles');
  const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, 0);
  mkdirSync(profileDir, { recursive: true });
  for (const scenario of standardScenarios(prepared).filter((candidate) => PROFILED.includes(candidate.name))) {
    log(`${scenario.name} under --cpu-prof`);
    const before = new Set(readdirSync(profileDir));
    // One worker by default: with more, each process writes a profile and this reads the first.
    const keyhold = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
    let result;
    try {
      result = await measure(load, keyhold.origin, prepared, scenario, timing);
    } finally {
      await keyhold.stop();
    }
    // CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile: thread 0 is the main thread.
    const file = readdirSync(profileDir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name) && !before.has(name));
    if (!file) throw new Error(`the server wrote no profile into ${profileDir}`);
    const summary = summarizeProfile(path.join(profileDir, file), 15);
    console.log(`\n${scenario.name} under --cpu-prof: ${Math.round(result.requestsPerSec)} req/s, p99 ${result.p99Ms.toFixed(2)} ms`);
    console.log(`written to ${path.join(profileDir, file)}`);
    printProfile(summary, result.allRequests);
  }
}

/** Other work on the machine lowers every number: wait for a quiet moment, or say so. */
async function warnIfMachineBusy(): Promise<void> {
  const busyPercent = await waitForQuietMachine();
  if (busyPercent >= 20) log(`warning: other processes use ${Math.round(busyPercent)} % of a core; the numbers will be low`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exitCode = 1;
});
