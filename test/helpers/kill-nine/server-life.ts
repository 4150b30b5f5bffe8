/**
 * Starting and killing the real server process for the kill -9 rounds: the whole server
 * (primary), one HTTP worker, or the primary before it has said it is listening.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KeyholdClient } from '../../../src/client/index.js';
import { rememberSecret } from '../secrets.js';
import { launchServerProcess, type ServerProcess } from '../server-process.js';

/** Conditions are awaited this long at most: a deadline for a stuck run, never a measurement. */
export const PATIENCE_MS = 60_000;

export interface ServerSettings {
  dataDir: string;
  cwd: string;
  passphrase: string;
  workers: number;
  /** Run dist/ (as `npm start` does) rather than src/ through tsx. */
  built: boolean;
}

export interface LiveServer {
  server: ServerProcess;
  client: KeyholdClient;
  /** Spawn to "keyhold is listening". */
  startMs: number;
}

function environment(settings: ServerSettings): Record<string, string> {
  return { KEYHOLD_DATA_DIR: settings.dataDir, KEYHOLD_PASSPHRASE: settings.passphrase, KEYHOLD_WORKERS: String(settings.workers) };
}

/** Starts the server and a client for it (the admin credential the first start wrote). */
export async function startServer(settings: ServerSettings): Promise<LiveServer> {
  const started = Date.now();
  const server = await launchServerProcess(environment(settings), settings.cwd, { built: settings.built }).listening;
  const startMs = Date.now() - started;
  const credentials = JSON.parse(readFileSync(path.join(settings.dataDir, 'admin.credentials'), 'utf8'));
  rememberSecret(Buffer.from(credentials.SecretKey, 'base64'));
  const client = new KeyholdClient({
    url: server.url,
    accessKeyId: credentials.AccessKeyId,
    secretKey: credentials.SecretKey,
    certSha256: server.certSha256,
    timeoutMs: 30_000,
  });
  return { server, client, startMs };
}

/** SIGKILLs the primary; resolves once it and its workers are gone. */
export async function killPrimary(live: LiveServer): Promise<void> {
  const workers = liveWorkerPids(live.server);
  const exited = new Promise<void>((resolve) => (live.server.child.exitCode !== null || live.server.child.signalCode !== null ? resolve() : live.server.child.once('exit', () => resolve())));
  live.server.child.kill('SIGKILL');
  await exited;
  live.client.close();
  // The workers notice that their primary is gone and exit: none may outlive the round.
  await waitFor('the workers of the killed primary to exit', () => workers.every((pid) => !isRunning(pid)));
}

/**
 * Starts the server and SIGKILLs it `delayMs` after the spawn: mostly before it listens
 * (opening the store, deriving the master key, forking workers). Resolves whether it had listened.
 */
export async function killDuringStartup(settings: ServerSettings, delayMs: number): Promise<{ listened: boolean }> {
  const launched = launchServerProcess(environment(settings), settings.cwd, { built: settings.built });
  let listened = false;
  const listening = launched.listening.then(
    (server) => {
      listened = true;
      return liveWorkerPids(server);
    },
    () => [] as number[],
  );
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  launched.child.kill('SIGKILL');
  await launched.exited;
  const workers = await listening;
  await waitFor('the workers of the server killed at start-up to exit', () => workers.every((pid) => !isRunning(pid)));
  return { listened };
}

/** The pids of the workers that said they listen and have not been seen to exit. */
export function liveWorkerPids(server: ServerProcess): number[] {
  const pids = new Set<number>();
  for (const line of logLines(server)) {
    if (line.msg === 'worker listening') pids.add(line.workerPid as number);
    if (line.msg === 'a worker exited; starting another') pids.delete(line.workerPid as number);
  }
  return [...pids];
}

/** How many times a worker has said it listens, replacements included. */
export function workersListened(server: ServerProcess): number {
  return logLines(server).filter((line) => line.msg === 'worker listening').length;
}

function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .stdout()
    .split('\n')
    // The last line may still be arriving.
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Whether a process runs (a zombie, exited and not yet reaped, does not). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(what: string, condition: () => boolean, patienceMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + patienceMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what} after ${patienceMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
