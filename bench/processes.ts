/**
 * The processes a benchmark runs: the real Keyhold server (dist/src/server/main.js, what
 * `npm start` runs; the bench scripts build it first) and the bare node:https baseline, each a
 * child of its own, so that neither shares a process with the load generator. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'dist/src/server/main.js');
const BASELINE = path.join(ROOT, 'bench/baseline-server.ts');
const FLOOR = path.join(ROOT, 'bench/floor-server.ts');
export const TSX = import.meta.resolve('tsx');
export const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface BenchProcess {
  child: ChildProcess;
  pid: number;
  origin: string;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface KeyholdStart {
  dataDir: string;
  /** Master-key settings (KEYHOLD_MASTER, KEYHOLD_PASSPHRASE, SOFTHSM2_CONF, …). */
  masterEnv: Record<string, string>;
  /** Default `warn`: the access log at `info` would cost more than what is measured. */
  logLevel?: string;
  /** Extra node flags for the server, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
  /** KEYHOLD_WORKERS; unset, the server's own default (one HTTP worker per core). */
  workers?: number;
  /** The compiled server to run; unset, this tree's (`--compare-with` runs another build's). */
  main?: string;
  /** KEYHOLD_STORE_URL: the records in this PostgreSQL database; unset, LevelDB in `dataDir`. */
  storeUrl?: string;
  /** KEYHOLD_TLS_CERT and KEYHOLD_TLS_KEY; unset, the self-signed certificate of `dataDir` (the nodes of one database share one). */
  tls?: { cert: string; key: string };
}

/** The environment without inherited KEYHOLD_* settings, so the bench decides them all. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const inherited = Object.entries(process.env).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('KEYHOLD_') && entry[0] !== 'NODE_ENV',
  );
  return { ...Object.fromEntries(inherited), ...extra };
}

export function keyholdEnv(options: KeyholdStart, port: number): Record<string, string> {
  return cleanEnv({
    ...options.masterEnv,
    KEYHOLD_DATA_DIR: options.dataDir,
    KEYHOLD_HOST: HOST,
    KEYHOLD_PORT: String(port),
    KEYHOLD_LOG_LEVEL: options.logLevel ?? 'warn',
    ...(options.workers === undefined ? {} : { KEYHOLD_WORKERS: String(options.workers) }),
    ...(options.storeUrl === undefined ? {} : { KEYHOLD_STORE_URL: options.storeUrl }),
    ...(options.tls === undefined ? {} : { KEYHOLD_TLS_CERT: options.tls.cert, KEYHOLD_TLS_KEY: options.tls.key }),
  });
}

/**
 * Starts Keyhold on a free loopback port and resolves once the port accepts connections
 * (at log level warn there is no "listening" line to wait for; the server listens last).
 */
export async function startKeyhold(options: KeyholdStart): Promise<BenchProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), options.main ?? builtMain()], {
    cwd: options.dataDir,
    env: keyholdEnv(options, port),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = exitOf(child);
  await Promise.race([
    waitForPort(port),
    exited.then((code) => Promise.reject(new Error(`keyhold exited with ${code} before listening: ${stderr.trim()}`))),
  ]);
  return benchProcess(child, `https://${HOST}:${port}`, exited);
}

/** Starts bench/baseline-server.ts with Keyhold's certificate; it prints its port. */
export function startBaseline(certFile: string, keyFile: string): Promise<BenchProcess> {
  return startBareServer(BASELINE, { BASELINE_CERT: certFile, BASELINE_KEY: keyFile });
}

/** Starts bench/floor-server.ts, in `workers` processes, with Keyhold's certificate and the bench credential's secret (base64). */
export function startFloor(certFile: string, keyFile: string, secretKey: string, workers: number): Promise<BenchProcess> {
  return startBareServer(FLOOR, { BASELINE_CERT: certFile, BASELINE_KEY: keyFile, FLOOR_SECRET_KEY: secretKey, FLOOR_WORKERS: String(workers) });
}

async function startBareServer(program: string, env: Record<string, string>): Promise<BenchProcess> {
  const child = spawn(process.execPath, ['--import', TSX, program], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = exitOf(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) => reject(new Error(`${path.basename(program)} exited with ${code}`)));
  });
  return benchProcess(child, `https://${HOST}:${port}`, exited);
}

export interface ResidentMemory {
  /**
   * Pss: the server's share of memory, each page shared by n processes counted 1/n in each;
   * summed over the processes, what the server holds with shared pages (the node binary) once.
   */
  pssMb: number;
  /** VmRSS: all resident memory, summed over the processes (shared pages once per process). */
  rssMb: number;
  /** RssAnon: heap and other private memory. */
  anonMb: number;
  /** RssFile: resident pages of mapped files — the node binary, and LevelDB's mmapped tables. */
  fileMb: number;
}

/**
 * Resident memory of processes and their descendants (a multi-worker server's HTTP workers; the
 * nodes of a database and its postmaster) in MB, from /proc/<pid>/status and smaps_rollup
 * (Linux), summed over the processes.
 */
export function readMemory(...pids: number[]): ResidentMemory {
  const total = { pssMb: 0, rssMb: 0, anonMb: 0, fileMb: 0 };
  for (const member of pids.flatMap(processTree)) {
    let status: string;
    let rollup: string;
    try {
      status = readFileSync(`/proc/${member}/status`, 'utf8');
      rollup = readFileSync(`/proc/${member}/smaps_rollup`, 'utf8');
    } catch {
      continue; // exited meanwhile (a database backend whose connection ended)
    }
    const field = (text: string, name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
      if (!match) throw new Error(`no ${name} for process ${member}`);
      return Number(match[1]) / 1024;
    };
    total.pssMb += field(rollup, 'Pss');
    total.rssMb += field(status, 'VmRSS');
    total.anonMb += field(status, 'RssAnon');
    total.fileMb += field(status, 'RssFile');
  }
  return { pssMb: Math.round(total.pssMb), rssMb: Math.round(total.rssMb), anonMb: Math.round(total.anonMb), fileMb: Math.round(total.fileMb) };
}

/** The compiled server; the bench scripts in package.json build it before they run. */
function builtMain(): string {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm run bench does)`);
  return MAIN;
}

/** A process and all its descendants, found through the parent ids in /proc/<pid>/stat (Linux). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const parent = Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree = [root];
  for (let at = 0; at < tree.length; at++) tree.push(...(children.get(tree[at]!) ?? []));
  return tree;
}

/** User-mode CPU seconds a process has used (all its threads), from /proc/<pid>/stat (Linux, 100 ticks/s). */
export function readUserCpuSeconds(pid: number): number {
  return readCpuSeconds(pid).user;
}

/** User-mode and kernel-mode CPU seconds a process has used (all its threads), from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): { user: number; system: number } {
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/**
 * CPU seconds of processes and their live descendants (a multi-worker server's HTTP workers;
 * a PostgreSQL postmaster's backends and helpers). A process that exits between two readings
 * takes its seconds with it; the bench's workers live as long as the server, and the database
 * backends as long as the pools' connections.
 */
export function readTreeCpuSeconds(...pids: number[]): { user: number; system: number } {
  const total = { user: 0, system: 0 };
  for (const member of pids.flatMap(processTree)) {
    try {
      const cpu = readCpuSeconds(member);
      total.user += cpu.user;
      total.system += cpu.system;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/**
 * User-mode CPU seconds of the whole machine (all cores), from /proc/stat. User mode only:
 * the kernel's loopback TCP and disk-sync work is not charged to the process that caused it.
 */
export function readMachineUserCpuSeconds(): number {
  const [user, nice] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice!) / 100;
}

/**
 * Waits (up to `maxSeconds`) for a second in which other processes use less than
 * `quietPercent` of a core; call it while the bench's own processes are idle. Resolves with
 * the last second's figure, so the caller can say when the machine never went quiet.
 */
export async function waitForQuietMachine(quietPercent = 20, maxSeconds = 30): Promise<number> {
  let busyPercent = Infinity;
  for (let second = 0; second < maxSeconds && busyPercent >= quietPercent; second++) {
    const before = readMachineUserCpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    busyPercent = 100 * (readMachineUserCpuSeconds() - before);
  }
  return busyPercent;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listened on port ${port} within ${START_TIMEOUT_MS} ms`);
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function benchProcess(child: ChildProcess, origin: string, exited: Promise<number | null>): BenchProcess {
  return {
    child,
    pid: child.pid!,
    origin,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Milliseconds from spawning the server to its "keyhold is listening" log line (so at
 * log level info), then stops it. Includes node's start-up as well as the root-key unwrap.
 */
export async function timeKeyholdStart(options: KeyholdStart): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [builtMain()], {
    cwd: options.dataDir,
    env: keyholdEnv({ ...options, logLevel: 'info' }, port),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = exitOf(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const elapsed = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('keyhold is listening')) resolve(performance.now() - started);
    });
    void exited.then((code) => reject(new Error(`keyhold exited with ${code} before listening: ${stderr.trim()}`)));
  });
  await benchProcess(child, `https://${HOST}:${port}`, exited).stop();
  return elapsed;
}
