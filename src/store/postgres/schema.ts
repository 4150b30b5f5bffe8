/**
 * The PostgreSQL store's schema, as numbered migrations applied in order (migrate.ts). A
 * migration, once released, is never edited: a change to the schema is a new one at the end.
 *
 * Each kind of record the LevelDB store keeps in a sublevel has a table of its own with the
 * same keys and the same stored bytes (`value`: the record's checked JSON with its CRC, or a
 * version's wrapped material), so that damage is detected the same way, a backup is the same
 * stream of entries whichever store it was taken from, and the keys sort as LevelDB sorts
 * them (COLLATE "C": bytewise). Nothing queries the records' fields; what must be found by
 * order (versions of a key, due schedule entries, audit records by number) is in the key.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The tables of the records, one per LevelDB sublevel of the same name. */
export const RECORD_TABLES = {
  meta: 'keyhold_meta',
  keys: 'keyhold_keys',
  versions: 'keyhold_versions',
  aliases: 'keyhold_aliases',
  rotations: 'keyhold_rotations',
  schedule: 'keyhold_schedule',
  credentials: 'keyhold_credentials',
  audit: 'keyhold_audit',
} as const;

/** Not a kind of record: replay claims are neither backed up nor restored. */
export const REPLAY_TABLE = 'keyhold_replay';

const recordTable = (table: string) => `CREATE TABLE ${table} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL);`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'record tables',
    sql: Object.values(RECORD_TABLES).map(recordTable).join('\n'),
  },
  {
    version: 2,
    name: 'replay claims',
    // The signatures of state-changing requests accepted by any node, until their date leaves the window.
    sql: `CREATE TABLE ${REPLAY_TABLE} (fingerprint text COLLATE "C" PRIMARY KEY, expires_at bigint NOT NULL);
CREATE INDEX ${REPLAY_TABLE}_expiry ON ${REPLAY_TABLE} (expires_at);`,
  },
];

/** The schema version this Keyhold writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
