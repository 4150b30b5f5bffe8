import path from 'node:path';
import { postgresAvailable, startPostgresSync, type TestPostgres } from './postgres.js';

/**
 * Which store the Keyhold servers that the tests start keep their records in.
 *
 * KEYHOLD_TEST_STORE unset (or `leveldb`): LevelDB in the data directory, as always.
 * `postgres`: CI's third run of the integration suite. One throwaway PostgreSQL (startPostgresSync)
 * starts the first time a server needs it, is shared by the whole mocha process and is removed
 * when the process exits. It starts lazily rather than from a root hook, so that any mocha
 * command line works without a --require (the whole suite, one file) and a run that starts no
 * server starts no PostgreSQL. Each data directory gets a database of its own (kh_1, kh_2, …),
 * keyed by its absolute path: a restart on the same directory, or a `keyhold admin` command on
 * it, finds the same records again.
 *
 * Every starter asks testStoreEnv and passes what it returns as environment: the server
 * processes of server-process.ts and the `keyhold` runs of cli.ts. A server started in-process
 * would pass it to loadConfig: `loadConfig({ ...env, ...testStoreEnv(dataDir) })`.
 */

export type TestStoreKind = 'leveldb' | 'postgres';

/** A starter's choice for one data directory: `leveldb` for a test about LevelDB itself, in any run. */
export interface StoreChoice {
  store?: 'leveldb';
}

/** Where the server's data directory is when the environment does not say (src/config.ts). */
export const DEFAULT_DATA_DIR = './data';

const LEVELDB = 'leveldb';

/** The data directories of one run and where their records live: LevelDB, or a database's URL. */
export class TestStores {
  private postgres: TestPostgres | undefined;
  private readonly stores = new Map<string, string>();
  private databases = 0;

  constructor(readonly kind: TestStoreKind) {}

  /**
   * The environment a server (or `keyhold admin`) on `dataDir` needs for this run's store:
   * nothing for LevelDB, KEYHOLD_STORE_URL for PostgreSQL. A directory that was once given
   * LevelDB keeps it; one that already has a database cannot be switched to LevelDB.
   */
  env(dataDir: string, choice: StoreChoice = {}): Record<string, string> {
    if (this.kind === LEVELDB) return {};
    const key = path.resolve(dataDir);
    const known = this.stores.get(key);
    if (choice.store === LEVELDB) {
      if (known !== undefined && known !== LEVELDB) throw new Error(`${key} already keeps its records in PostgreSQL; a later start cannot ask for LevelDB`);
      this.stores.set(key, LEVELDB);
      return {};
    }
    if (known === LEVELDB) return {};
    const url = known ?? this.cluster().createDatabase(`kh_${++this.databases}`);
    this.stores.set(key, url);
    return { KEYHOLD_STORE_URL: url };
  }

  /** Stops and removes the PostgreSQL, if one was started. */
  close(): void {
    const started = this.postgres;
    this.postgres = undefined;
    started?.remove();
  }

  private cluster(): TestPostgres {
    if (!this.postgres) {
      // Asked for by name, so never skipped: without PostgreSQL the run fails, on CI and off it.
      if (!postgresAvailable) throw new Error('KEYHOLD_TEST_STORE=postgres, but PostgreSQL is not installed (apt-get install -y postgresql)');
      this.postgres = startPostgresSync();
    }
    return this.postgres;
  }
}

/** KEYHOLD_TEST_STORE, checked: a misspelt value fails the run rather than testing LevelDB again. */
export function testStoreKind(value: string | undefined): TestStoreKind {
  if (value === undefined || value === '' || value === LEVELDB) return LEVELDB;
  if (value === 'postgres') return 'postgres';
  throw new Error(`KEYHOLD_TEST_STORE must be postgres or leveldb (or unset), not ${JSON.stringify(value)}`);
}

export const TEST_STORE = testStoreKind(process.env.KEYHOLD_TEST_STORE);

const shared = new TestStores(TEST_STORE);
if (TEST_STORE !== LEVELDB) {
  // close() is synchronous (pg_ctl stop, then rm), as an 'exit' listener must be. pg_ctl starts
  // PostgreSQL in a session of its own, so a Ctrl-C does not reach it: on SIGINT or SIGTERM
  // the cluster goes first, then the signal is raised again for its default action.
  process.once('exit', () => shared.close());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      shared.close();
      process.kill(process.pid, signal);
    });
  }
}

/** This run's store environment for a server, or a `keyhold admin` command, on `dataDir` (see TestStores.env). */
export function testStoreEnv(dataDir: string, choice: StoreChoice = {}): Record<string, string> {
  return shared.env(dataDir, choice);
}
