import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RECORDER_MODULE } from './exchange-recorder.js';
import { capturedLog, collectOutput } from './log-capture.js';
import { DEFAULT_DATA_DIR, testStoreEnv, type StoreChoice } from './test-store.js';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
/** What `npm start` runs, after `npm run build`: for benches that time a start. */
const BUILT_MAIN = fileURLToPath(new URL('../../dist/src/server/main.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  certSha256: string;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface ExitedProcess {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real server entry point (`src/server/main.ts`, what `npm start` runs once
 * built) as a child process with the given environment and no inherited KEYHOLD_*
 * settings but this run's store (test-store.ts; `{ store: 'leveldb' }` for a test about
 * LevelDB itself). Resolves when it logs that it is listening; rejects if it exits first.
 */
export function startServerProcess(env: Record<string, string>, cwd: string, choice: StoreChoice = {}): Promise<ServerProcess> {
  return launchServerProcess(env, cwd, choice).listening;
}

export interface LaunchedProcess {
  /** The process from the moment it is spawned, for a test that kills it during start-up. */
  child: ChildProcess;
  /** Resolves when it logs that it is listening; rejects if it exits first. */
  listening: Promise<ServerProcess>;
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  exited: Promise<number | null>;
}

/**
 * Like startServerProcess, but hands out the child before it listens. `built` runs the
 * compiled server (dist/, as `npm start` does) instead of src/ through tsx.
 */
export function launchServerProcess(env: Record<string, string>, cwd: string, options: { built?: boolean } & StoreChoice = {}): LaunchedProcess {
  const child = spawnServer(env, cwd, { store: options.store }, options.built);
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<ServerProcess>((resolve, reject) => {
    const onData = () => {
      for (const line of output.stdout().split('\n')) {
        if (!line.includes('keyhold is listening')) continue;
        const entry = JSON.parse(line) as { url: string; certSha256: string };
        child.stdout!.off('data', onData);
        resolve({
          child,
          url: entry.url,
          port: Number(new URL(entry.url).port),
          certSha256: entry.certSha256,
          stdout: output.stdout,
          stderr: output.stderr,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
        return;
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${output.stderr().trim()}`)));
  });
  return { child, listening, exited };
}

/** Runs the server expecting it to fail at start; resolves with its exit code and output. */
export function runServerToCompletion(
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 15_000,
  options: { uid?: number; gid?: number } & StoreChoice = {},
): Promise<ExitedProcess> {
  const { store, ...as } = options;
  const child = spawnServer(env, cwd, { store }, false, as);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not exit within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      capturedLog.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * How many HTTP workers a server of the tests runs when the test does not say:
 * KEYHOLD_TEST_WORKERS (CI runs the integration suite with 1 and with 2), else 1.
 */
export const TEST_WORKERS = process.env.KEYHOLD_TEST_WORKERS || '1';

function spawnServer(env: Record<string, string>, cwd: string, choice: StoreChoice, built = false, as: { uid?: number; gid?: number } = {}): ChildProcess {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_') && name !== 'NODE_ENV'),
  );
  // A test that names a database itself (two nodes on one) keeps it. A data directory named
  // only in a .env file is not seen here: such a test gets the database of ./data.
  const store = env.KEYHOLD_STORE_URL === undefined ? testStoreEnv(path.resolve(cwd, env.KEYHOLD_DATA_DIR ?? DEFAULT_DATA_DIR), choice) : {};
  // Every exchange the server answers is checked against the OpenAPI description (exchange-recorder.ts).
  return spawn(process.execPath, built ? [BUILT_MAIN] : ['--import', TSX, '--import', RECORDER_MODULE, MAIN], {
    cwd,
    env: { ...inherited, KEYHOLD_PORT: '0', KEYHOLD_WORKERS: TEST_WORKERS, ...store, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
}
