import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir } from './temp-dir.js';

/**
 * A throwaway PostgreSQL from Debian's packages (`apt-get install -y postgresql`): initdb into
 * a fresh temp dir, started on a free port of 127.0.0.1 with its socket in that dir, stopped
 * and removed at the end. Debian's package leaves its own cluster down here; this never
 * touches it.
 */

/** The bin directory of the newest installed PostgreSQL (/usr/lib/postgresql/<major>/bin), if any. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(path.join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length > 0 ? path.join(root, majors[0]!, 'bin') : undefined;
}

export const postgresAvailable = postgresBinDir() !== undefined;

/**
 * For a `before` hook of a suite that needs PostgreSQL: under CI=true a missing PostgreSQL
 * fails the run; on a laptop without it the suite is skipped with a message saying how to
 * install it.
 */
export function requirePostgres(context: Mocha.Context): void {
  if (postgresAvailable) return;
  if (process.env.CI === 'true') {
    throw new Error('PostgreSQL is required under CI=true but is not installed (apt-get install -y postgresql)');
  }
  console.log('      PostgreSQL is not installed: skipping the PostgreSQL tests (apt-get install -y postgresql to run them)');
  context.skip();
}

export interface TestPostgres {
  /** postgres://keyhold@127.0.0.1:<port>/keyhold: the superuser `keyhold`, trust authentication. */
  readonly url: string;
  readonly port: number;
  /** The postmaster's process id while it runs (postmaster.pid); every backend is its child. */
  pid(): number;
  /** The server's log so far (for a failing test's message). */
  log(): string;
  /** Stops the server (fast shutdown: running transactions are rolled back); the data stays. */
  stop(): void;
  /** Starts it again on the same port, on the same data. */
  start(): void;
  /** Stops it if it runs, and removes its directory. */
  remove(): void;
  /**
   * Creates an empty database and returns its URL: `name` (letters, digits and _), or without
   * one the next of db_1, db_2, … (a test's fresh database).
   */
  createDatabase(name?: string): string;
}

/** A fresh PostgreSQL cluster with a database `keyhold` owned by the superuser `keyhold`, started. */
export async function startPostgres(): Promise<TestPostgres> {
  return startPostgresOn(await freePort());
}

/**
 * startPostgres without awaiting: for a harness that needs the cluster inside a synchronous
 * call (test/helpers/test-store.ts). It blocks for the second or two that initdb and the start take.
 */
export function startPostgresSync(): TestPostgres {
  return startPostgresOn(freePortSync());
}

function startPostgresOn(port: number): TestPostgres {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  const dir = makeTempDir('keyhold-pg-');
  const dataDir = path.join(dir.path, 'data');
  const logFile = path.join(dir.path, 'server.log');
  // initdb and the server refuse to run as root: as root, they run as Debian's `postgres` user.
  const asRoot = os.userInfo().uid === 0;
  if (asRoot) chownSync(dir.path, postgresUid(), postgresGid());
  const run = (program: string, args: string[]): void => {
    const command = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args]] : [path.join(bin, program), args];
    const result = spawnSync(command[0] as string, command[1] as string[], { encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`${program} failed (${result.status}): ${result.stderr || result.stdout}${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    }
  };
  run('initdb', ['-D', dataDir, '-U', 'keyhold', '-A', 'trust', '-E', 'UTF8', '--no-locale']);
  // fsync stays on (the default): the tests of acknowledged writes depend on it.
  const serverOptions = `-p ${port} -k ${dir.path} -c listen_addresses=127.0.0.1`;
  const start = () => run('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start']);
  const stop = () => run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
  start();
  let running = true;
  let unnamed = 0;
  const createDatabase = (name = `db_${++unnamed}`): string => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    run('createdb', ['-h', dir.path, '-p', String(port), '-U', 'keyhold', name]);
    return `postgres://keyhold@127.0.0.1:${port}/${name}`;
  };
  const url = createDatabase('keyhold');
  return {
    url,
    port,
    pid: () => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop() {
      stop();
      running = false;
    },
    start() {
      start();
      running = true;
    },
    remove() {
      try {
        if (running) stop();
      } finally {
        running = false;
        dir.remove();
      }
    },
    createDatabase,
  };
}

function postgresUid(): number {
  return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
}

function postgresGid(): number {
  return Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
}

/** freePort, asked of a short-lived node process: net has no synchronous listen. */
function freePortSync(): number {
  const script = "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port)); s.close(); });";
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const port = Number(result.stdout);
  if (result.status !== 0 || !Number.isInteger(port) || port <= 0) throw new Error(`could not find a free port: ${result.stderr}`);
  return port;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
