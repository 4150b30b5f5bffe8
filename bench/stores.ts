/**
 * `--store leveldb|postgres|both` and `--nodes 2`: the stores a run measures, each with its
 * prepared records and its running server. PostgreSQL is a throwaway cluster
 * (test/helpers/postgres.ts, Debian's `postgresql` package) with its default settings (fsync
 * on, synchronous_commit on), started for the run and removed at its end.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { startKeyhold, type BenchProcess } from './processes.js';
import { log } from './report.js';
import { PASSPHRASE_MASTER, type Target } from './scenarios.js';
import { prepareStore, type PreparedStore } from './store-setup.js';

export const STORE_KINDS = ['leveldb', 'postgres', 'both'] as const;
export type StoreOption = (typeof STORE_KINDS)[number];

/** One store under test: its records, its server (node 1) and, on PostgreSQL, its database. */
export interface BenchStore {
  kind: 'leveldb' | 'postgres';
  /** Appended to the scenario's name in its rows: '' for LevelDB, ', PostgreSQL'. */
  suffix: string;
  dataDir: string;
  prepared: PreparedStore;
  /** Node 1; `--million` restarts it. */
  keyhold: BenchProcess;
  /** The database and its postmaster, on PostgreSQL. */
  postgres?: TestPostgres;
}

/** Prepares the store offline through the project's own code, then starts Keyhold on it. */
export async function startStore(
  kind: BenchStore['kind'],
  dataDir: string,
  spreadKeys: number,
  workers: number | undefined,
  postgres: TestPostgres | undefined,
): Promise<BenchStore> {
  /* Precondition: a PostgreSQL store is given its database. */
  if (kind === 'postgres' && !postgres) throw new Error('a PostgreSQL store needs its database');
  const storeUrl = kind === 'postgres' ? postgres!.url : undefined;
  // The node's own directory: TLS files only, with the records in the database.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  log(`preparing a ${kind === 'postgres' ? 'PostgreSQL' : 'LevelDB'} store with ${spreadKeys + 1} keys${storeUrl ? '' : ` in ${dataDir}`}`);
  const started = performance.now();
  const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, spreadKeys, storeUrl);
  log(`  prepared in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (storeUrl) await settleDatabase(storeUrl);
  const keyhold = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers, storeUrl });
  return {
    kind,
    suffix: kind === 'postgres' ? ', PostgreSQL' : '',
    dataDir,
    prepared,
    keyhold,
    ...(kind === 'postgres' ? { postgres } : {}),
  };
}

/**
 * What a row on this store measures: node 1 alone, or with `more` nodes; on PostgreSQL the
 * postmaster's process tree (every backend, the WAL writer, the checkpointer) counts as the
 * server's too.
 */
export function targetOf(store: BenchStore, more: BenchProcess[] = []): Target {
  const nodes = [store.keyhold, ...more];
  return {
    origins: nodes.map((node) => node.origin),
    pids: nodes.map((node) => node.pid),
    ...(store.postgres ? { databasePid: store.postgres.pid() } : {}),
  };
}

/**
 * `--nodes 2`: a second Keyhold node on the same database, with a data directory of its own
 * and node 1's certificate (KEYHOLD_TLS_CERT/KEY), as the README's several-node setup asks.
 */
export function startSecondNode(store: BenchStore, tempDir: string, workers: number | undefined): Promise<BenchProcess> {
  /* Precondition: only nodes of one database share the records. */
  if (!store.postgres) throw new Error('a second node needs the PostgreSQL store');
  const dataDir = path.join(tempDir, 'data-node-2');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return startKeyhold({
    dataDir,
    masterEnv: PASSPHRASE_MASTER,
    workers,
    storeUrl: store.postgres.url,
    tls: { cert: path.join(store.dataDir, 'tls-cert.pem'), key: path.join(store.dataDir, 'tls-key.pem') },
  });
}

/** The throwaway PostgreSQL of a run that needs one. */
export async function startBenchPostgres(): Promise<TestPostgres> {
  const started = performance.now();
  const postgres = await startPostgres();
  log(`PostgreSQL started on 127.0.0.1:${postgres.port} in ${((performance.now() - started) / 1000).toFixed(1)} s (postmaster ${postgres.pid()})`);
  return postgres;
}

/**
 * After the preparation's thousands of committed transactions: a checkpoint and VACUUM ANALYZE
 * now, so that the checkpoint and autovacuum they would trigger do not land in the first
 * PostgreSQL row measured (the first row of every earlier run was its lowest by 0.1-0.2).
 */
async function settleDatabase(url: string): Promise<void> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
  log(`  database settled (VACUUM ANALYZE, CHECKPOINT) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
