/**
 * `npm run bench [-- --quick] [-- --million] [-- --masters] [-- --profile] [-- --workers N] [-- --only <name part>] [-- --compare-with <commit>]
 *   [-- --store leveldb|postgres|both] [-- --nodes 2]`
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
import { BATCH_ITEMS, batchEncryptScenario, decryptScenario, encryptScenario, measure, measureOn, PASSPHRASE_MASTER, standardScenarios, timingFor, type Scenario, type Timing } from './scenarios.js';
import { prepareStore, type PreparedStore } from './store-setup.js';
import { startBenchPostgres, startSecondNode, startStore, STORE_KINDS, targetOf, type BenchStore, type StoreOption } from './stores.js';

const OPTIONS = ['--quick', '--million', '--masters', '--profile', '--workers', '--only', '--compare-with', '--store', '--nodes'] as const;
/** The scenarios `--nodes 2` also measures on two nodes of the database, each right after its one-node row. */
const NODE_SCENARIOS = ['encrypt 1 KiB', 'createkey'];
/**
 * The scenarios `--compare-with` also measures on the other build, each right after this tree's,
 * and what it measures there. The restricted rows are paired with the other build's plain
 * encrypt or decrypt (a build before policies has no restricted credential), again right after
 * them: pairs minutes apart would compare the machine's moods as much as the builds.
 */
const COMPARED: Record<string, { scenario: (prepared: PreparedStore) => Scenario; name?: string }> = {
  'encrypt 1 KiB': { scenario: encryptScenario },
  'decrypt 1 KiB': { scenario: decryptScenario },
  'encrypt 1 KiB, restricted credential (policy on its alias)': { scenario: encryptScenario, name: 'encrypt 1 KiB (beside the restricted row)' },
  'decrypt 1 KiB, restricted credential (policy on its alias)': { scenario: decryptScenario, name: 'decrypt 1 KiB (beside the restricted row)' },
  [batchEncryptScenario({ keyId: '', plaintext: '' }).name]: { scenario: batchEncryptScenario },
};
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
  const storeAt = args.indexOf('--store');
  const store = (storeAt === -1 ? 'leveldb' : args.splice(storeAt, 2)[1]) as StoreOption;
  if (!STORE_KINDS.includes(store)) throw new Error(`--store takes one of ${STORE_KINDS.join(', ')}`);
  const nodesAt = args.indexOf('--nodes');
  const nodes = nodesAt === -1 ? 1 : Number(args.splice(nodesAt, 2)[1]);
  if (nodes !== 1 && nodes !== 2) throw new Error('--nodes takes 1 or 2');
  if (nodes === 2 && store === 'leveldb') throw new Error('--nodes 2 needs --store postgres or --store both: only nodes of one PostgreSQL database share a store');
  const leveldbOnly = ['--million', '--masters', '--profile'].filter((option) => args.includes(option)).concat(compareWith === undefined ? [] : ['--compare-with']);
  if (store !== 'leveldb' && leveldbOnly.length > 0) throw new Error(`${leveldbOnly.join(', ')} ${leveldbOnly.length === 1 ? 'measures' : 'measure'} LevelDB only: leave out --store ${store}`);
  const unknown = args.filter((arg) => !(OPTIONS as readonly string[]).includes(arg));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}; options: ${OPTIONS.join(' ')}`);
  const timing = timingFor(args.includes('--quick'));
  // --profile runs one process unless told otherwise (each process of a cluster writes its own profile).
  const serverWorkers = workers ?? (args.includes('--profile') ? 1 : undefined);
  log(`Keyhold with ${serverWorkers === undefined ? "the server's default number of" : serverWorkers} HTTP worker(s), store: ${store}${nodes === 2 ? ', and 2 nodes' : ''}`);

  await warnIfMachineBusy();
  const tempDir = mkdtempSync(path.join(os.tmpdir(), 'keyhold-bench-'));
  const other = compareWith === undefined ? undefined : await buildCommit(compareWith);
  const load = LoadGenerator.start();
  try {
    if (args.includes('--masters')) {
      await measureMasterKeys(load, tempDir, timing);
    } else if (args.includes('--profile')) {
      await profileScenarios(load, tempDir, timing, serverWorkers ?? 1, only);
    } else {
      await benchmark(load, tempDir, { timing, million: args.includes('--million'), workers, only, other, store, nodes });
    }
  } finally {
    await load.close();
    await other?.remove();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

/** What `benchmark` measures, from the command line. */
interface RunOptions {
  timing: Timing;
  million: boolean;
  workers: number | undefined;
  only: string | undefined;
  other: OtherBuild | undefined;
  store: StoreOption;
  /** 2: the two-node rows (PostgreSQL), next to the one-node rows of the same scenarios. */
  nodes: 1 | 2;
}

async function benchmark(load: LoadGenerator, tempDir: string, options: RunOptions): Promise<void> {
  const { timing, workers, only, other } = options;
  const kinds = options.store === 'both' ? (['leveldb', 'postgres'] as const) : [options.store];
  const postgres = kinds.includes('postgres') ? await startBenchPostgres() : undefined;
  const stores: BenchStore[] = [];
  let compared: ComparedServer | undefined;
  let baseline: BenchProcess | undefined;
  const baselines: ScenarioResult[] = [];
  const results: ScenarioResult[] = [];
  try {
    for (const kind of kinds) stores.push(await startStore(kind, path.join(tempDir, kind === 'leveldb' ? 'data' : 'data-postgres'), SPREAD_KEYS, workers, postgres));
    // The baseline and the floor use the first store's certificate and credential: any would do.
    const first = stores[0]!;
    compared = other && (await startOtherBuild(other, tempDir, workers));
    baseline = await startBaseline(path.join(first.dataDir, 'tls-cert.pem'), path.join(first.dataDir, 'tls-key.pem'));
    const baselineScenario = { ...encryptScenario(first.prepared), name: 'baseline: bare node:https, JSON in/out' };
    log(`baseline: bare node:https, ${timing.warmupSeconds} s warm-up + ${timing.durationSeconds} s per scenario`);
    baselines.push(await measureOn(load, baseline, first.prepared, baselineScenario, timing));
    results.push(await measureFloor(load, first.dataDir, first.prepared, timing, workers ?? os.availableParallelism()));
    for (const store of stores) await warmUp(load, store.keyhold, store.prepared);
    if (compared) await warmUp(load, compared.server, compared.prepared);
    // Scenario by scenario, each store right after the other: their rows are minutes apart at most.
    const names = standardScenarios(first.prepared)
      .map((scenario) => scenario.name)
      .filter((name) => only === undefined || name.includes(only));
    for (const name of names) {
      const rows: ScenarioResult[] = [];
      for (const store of stores) {
        const scenario = standardScenarios(store.prepared).find((candidate) => candidate.name === name)!;
        log(`${name}${store.suffix}`);
        rows.push(await measureOn(load, targetOf(store), store.prepared, { ...scenario, name: `${name}${store.suffix}` }, timing));
        const same = COMPARED[name];
        if (compared && same) {
          const scenario = same.scenario(compared.prepared);
          rows.push(await measureOther(load, compared, { ...scenario, name: same.name ?? scenario.name }, rows.at(-1)!, timing));
        }
        if (options.nodes === 2 && store.postgres && NODE_SCENARIOS.includes(name)) {
          rows.push(await measureTwoNodes(load, store, scenario, tempDir, options, rows.at(-1)!));
        }
      }
      if (stores.length === 2) log(ratioLine(rows.find((row) => row.databaseCpuMicrosPerRequest !== undefined)!, rows[0]!, 'LevelDB'));
      results.push(...rows);
    }
    // Measured again after the scenarios: the ratios use the mean, so drift shows and averages out.
    log('baseline again');
    baselines.push(await measureOn(load, baseline, first.prepared, { ...baselineScenario, name: `${baselineScenario.name} (again)` }, timing));
    await baseline.stop();
    if (options.million) results.push(await measureMillion(load, first, timing, workers));
  } finally {
    await baseline?.stop();
    for (const store of stores) await store.keyhold.stop();
    await compared?.server.stop();
    postgres?.remove();
  }
  const baselineRequestsPerSec = baselines.reduce((sum, b) => sum + b.requestsPerSec, 0) / baselines.length;
  results.unshift(...baselines);
  for (const result of results) result.baselineRequestsPerSec = baselineRequestsPerSec;

  console.log(`\n${formatTable(results)}\n`);
  for (const line of targetLines(results)) log(line);
  log(`wrote ${writeResults('latest.json', results.map(roundResult))}`);
  const failed = results.filter((result) => result.failures > 0);
  if (failed.length > 0) throw new Error(`requests failed in: ${failed.map((result) => result.name).join(', ')}`);
}

/**
 * `--million`: stops the (LevelDB) server, adds a million keys to its store, starts it again
 * and measures encrypt over keys it has not cached.
 */
async function measureMillion(load: LoadGenerator, store: BenchStore, timing: Timing, workers: number | undefined): Promise<ScenarioResult> {
  await store.keyhold.stop();
  const keyIds = await loadMillionKeys(store.dataDir);
  store.keyhold = await startKeyhold({ dataDir: store.dataDir, masterEnv: PASSPHRASE_MASTER, workers });
  await warmUp(load, store.keyhold, store.prepared);
  const memory = readMemory(store.keyhold.pid);
  log(`server with ${MILLION.toLocaleString('en')} keys, just started: PSS ${memory.pssMb} MB, RSS ${memory.rssMb} MB (anon ${memory.anonMb}, file ${memory.fileMb})`);
  const scenario = { ...encryptScenario(store.prepared), name: 'encrypt 1 KiB over 1,000,000 keys', keyIds };
  log(scenario.name);
  // One run only: a second would find the sampled keys in the server's caches.
  return measureOn(load, store.keyhold, store.prepared, scenario, timing, 1);
}

/**
 * `--nodes 2`: the scenario again, right after its one-node row, with a second node started on
 * the same database (and warmed up) and the load generator's connections split over both; the
 * server's columns then sum both nodes and the database. The second node is stopped again, so
 * that every other row has one node (and no second node reading each change's announcement).
 */
async function measureTwoNodes(load: LoadGenerator, store: BenchStore, scenario: Scenario, tempDir: string, options: RunOptions, oneNode: ScenarioResult): Promise<ScenarioResult> {
  log(`${scenario.name}${store.suffix}, 2 nodes: starting a second node on the same database`);
  const second = await startSecondNode(store, tempDir, options.workers);
  try {
    await warmUp(load, second, store.prepared);
    const result = await measureOn(load, targetOf(store, [second]), store.prepared, { ...scenario, name: `${scenario.name}${store.suffix}, 2 nodes` }, options.timing);
    log(ratioLine(result, oneNode, '1 node'));
    return result;
  } finally {
    await second.stop();
  }
}

/** One row ÷ another measured right before it: req/s and server CPU per request (the steadier one). */
function ratioLine(row: ScenarioResult, reference: ScenarioResult, what: string): string {
  const throughput = row.requestsPerSec / reference.requestsPerSec;
  const cpu = row.serverCpuMicrosPerRequest / reference.serverCpuMicrosPerRequest;
  return `${row.name}: req/s ${throughput.toFixed(2)} × ${what}'s, server CPU µs/req ${cpu.toFixed(2)} ×`;
}

/** The issues' targets (the PostgreSQL store's, batches'), read off this run's rows (when it has them). */
function targetLines(results: ScenarioResult[]): string[] {
  const row = (name: string) => results.find((result) => result.name === name);
  const lines: string[] = [];
  const leveldb = row('encrypt 1 KiB');
  const postgres = row('encrypt 1 KiB, PostgreSQL');
  if (leveldb && postgres) {
    const ratio = postgres.requestsPerSec / leveldb.requestsPerSec;
    lines.push(`target: encrypt on a cached key within 10 % of LevelDB: PostgreSQL ÷ LevelDB = ${ratio.toFixed(2)} req/s (${ratio >= 0.9 ? 'met' : 'missed'} in this run)`);
  }
  const batch = row(batchEncryptScenario({ keyId: '', plaintext: '' }).name);
  if (leveldb && batch) {
    const ratio = (batch.requestsPerSec * BATCH_ITEMS) / leveldb.requestsPerSec;
    lines.push(`target: items/s through batches of ${BATCH_ITEMS} ≥ 5 × encrypt req/s: ${Math.round(batch.requestsPerSec * BATCH_ITEMS)} items/s = ${ratio.toFixed(1)} × (${ratio >= 5 ? 'met' : 'missed'} in this run)`);
  }
  const createkey = row('createkey, PostgreSQL');
  if (createkey) {
    lines.push(`target: createkey ≥ 1,000/s on PostgreSQL: ${Math.round(createkey.requestsPerSec)}/s (${createkey.requestsPerSec >= 1000 ? 'met' : 'missed'} in this run)`);
  }
  return lines;
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

/** Encrypt, decrypt and generatedatakey (or the scenarios `--only` names) under `node --cpu-prof`; prints where the server's time went. */
async function profileScenarios(load: LoadGenerator, tempDir: string, timing: Timing, workers: number, only: string | undefined): Promise<void> {
  const dataDir = path.join(tempDir, 'data');
  const profileDir = path.join(RESULTS_DIR, 'profiles');
  const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, 0);
  mkdirSync(profileDir, { recursive: true });
  const scenarios = standardScenarios(prepared).filter((candidate) => (only === undefined ? PROFILED.includes(candidate.name) : candidate.name.includes(only)));
  // The profile's store has no spread keys, so no "over N keys" scenario: say so rather than profile nothing.
  if (scenarios.length === 0) throw new Error(`--profile: no scenario's name has "${only}"`);
  for (const scenario of scenarios) {
    log(`${scenario.name} under --cpu-prof`);
    const before = new Set(readdirSync(profileDir));
    // One process by default (`--workers N` for the cluster: then every process writes a profile).
    const keyhold = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
    let result;
    try {
      result = await measure(load, keyhold.origin, prepared, scenario, timing);
    } finally {
      await keyhold.stop();
    }
    // CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile: thread 0 is the main thread. With
    // workers, each process writes one: the primary's first (the process the bench started),
    // then each worker's, every one with the answers of the whole server.
    const files = readdirSync(profileDir)
      .filter((name) => /\.0\.\d+\.cpuprofile$/.test(name) && !before.has(name))
      .map((name) => ({ name, pid: Number(name.split('.')[3]) }))
      .sort((a, b) => Number(b.pid === keyhold.pid) - Number(a.pid === keyhold.pid) || a.pid - b.pid);
    if (files.length === 0) throw new Error(`the server wrote no profile into ${profileDir}`);
    console.log(`\n${scenario.name} under --cpu-prof: ${Math.round(result.requestsPerSec)} req/s, p99 ${result.p99Ms.toFixed(2)} ms`);
    if (files.length > 1) console.log("(each process's busy time is divided by the whole server's answers: the processes' figures add up)");
    for (const { name, pid } of files) {
      const role = files.length === 1 ? 'the server' : pid === keyhold.pid ? 'the primary' : 'a worker';
      console.log(`${role} (pid ${pid}): written to ${path.join(profileDir, name)}`);
      printProfile(summarizeProfile(path.join(profileDir, name), 15), result.allRequests);
    }
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
