import type pg from 'pg';
import { MIGRATIONS, type Migration } from './schema.js';

/**
 * The advisory lock (one bigint, "keyhold\0" in ASCII) that serialises schema changes: nodes
 * starting at the same moment on an empty database wait for each other, and the first one
 * creates the schema while the others find it done.
 */
const MIGRATION_LOCK = 0x6b6579686f6c6400n;

/** The database's schema is newer than this Keyhold knows: it must not write to it. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`the database's Keyhold schema is version ${found}, newer than this Keyhold knows (${known}): upgrade Keyhold before starting it on this database`);
    this.name = 'SchemaTooNewError';
  }
}

/** What migrate() did: the schema version before and after, and the migrations it applied. */
export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

/**
 * Brings the database's schema up to the newest migration, all or nothing: the migrations
 * missing run in one transaction (PostgreSQL's DDL is transactional) under the advisory
 * lock, and the table `keyhold_schema` lists each one applied. A schema newer than the
 * newest known is refused (SchemaTooNewError) with nothing changed.
 */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS keyhold_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM keyhold_schema');
    const from = rows[0]?.version ?? 0;
    if (from > known) throw new SchemaTooNewError(from, known);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO keyhold_schema (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, known), applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
