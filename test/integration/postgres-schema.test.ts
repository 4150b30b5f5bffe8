import { expect } from 'chai';
import pg from 'pg';
import { migrate, SchemaTooNewError } from '../../src/store/postgres/migrate.js';
import { MIGRATIONS, RECORD_TABLES, REPLAY_TABLE, SCHEMA_VERSION, type Migration } from '../../src/store/postgres/schema.js';
import { SUBLEVEL_NAMES } from '../../src/store/store-scan.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';

describe('PostgreSQL store: schema migrations', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  after(() => postgres?.remove());

  /** A fresh empty database on the test server, and a client factory for it. */
  function freshDatabase(): { connect(): Promise<pg.Client> } {
    const url = postgres.createDatabase();
    return {
      async connect() {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        return client;
      },
    };
  }

  async function tables(client: pg.Client): Promise<string[]> {
    const { rows } = await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    return rows.map((row) => row.name);
  }

  it('numbers its migrations 1, 2, … and has a table for every sublevel of the LevelDB store', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).to.deep.equal(MIGRATIONS.map((_, index) => index + 1));
    expect(Object.keys(RECORD_TABLES)).to.have.members([...SUBLEVEL_NAMES]);
  });

  it('creates the schema on an empty database, then finds it done', async () => {
    const db = freshDatabase();
    const client = await db.connect();
    try {
      expect(await migrate(client)).to.deep.equal({ from: 0, to: SCHEMA_VERSION, applied: MIGRATIONS.map((m) => m.version) });
      expect(await tables(client)).to.deep.equal([...Object.values(RECORD_TABLES), REPLAY_TABLE, 'keyhold_schema'].sort());
      expect(await migrate(client)).to.deep.equal({ from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
      // Keys sort bytewise, as LevelDB sorts them: uppercase before lowercase, '!' before digits.
      await client.query("INSERT INTO keyhold_schedule (key, value) VALUES ('b', ''), ('B', ''), ('a!2', ''), ('a1', '')");
      const { rows } = await client.query<{ key: string }>('SELECT key FROM keyhold_schedule ORDER BY key');
      expect(rows.map((row) => row.key)).to.deep.equal(['B', 'a!2', 'a1', 'b']);
    } finally {
      await client.end();
    }
  });

  it('applies each migration exactly once when six nodes start at the same moment', async () => {
    const db = freshDatabase();
    const clients = await Promise.all(Array.from({ length: 6 }, () => db.connect()));
    try {
      const results = await Promise.all(clients.map((client) => migrate(client)));
      expect(results.filter((result) => result.applied.length > 0)).to.have.length(1);
      const { rows } = await clients[0]!.query<{ version: number }>('SELECT version FROM keyhold_schema ORDER BY version');
      expect(rows.map((row) => row.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });

  it('refuses a schema newer than it knows, changing nothing', async () => {
    const db = freshDatabase();
    const client = await db.connect();
    try {
      await migrate(client);
      const later: Migration = { version: SCHEMA_VERSION + 1, name: 'from a later Keyhold', sql: 'CREATE TABLE keyhold_later (id integer)' };
      await migrate(client, [...MIGRATIONS, later]);
      const before = await tables(client);
      const error = await migrate(client).then(() => undefined, (caught: unknown) => caught);
      expect(error).to.be.instanceOf(SchemaTooNewError);
      expect((error as Error).message).to.equal(
        `the database's Keyhold schema is version ${SCHEMA_VERSION + 1}, newer than this Keyhold knows (${SCHEMA_VERSION}): upgrade Keyhold before starting it on this database`,
      );
      expect(await tables(client)).to.deep.equal(before);
    } finally {
      await client.end();
    }
  });

  it('applies nothing when one migration of several fails', async () => {
    const db = freshDatabase();
    const client = await db.connect();
    try {
      const broken: Migration = { version: SCHEMA_VERSION + 1, name: 'broken', sql: 'CREATE TABLE keyhold_half (id integer); SELECT no_such_function()' };
      const error = await migrate(client, [...MIGRATIONS, broken]).then(() => undefined, (caught: unknown) => caught as Error);
      expect(error?.message).to.match(/no_such_function/);
      expect(await tables(client)).to.deep.equal([]);
      // The lock was released with the failed transaction: the good migrations apply now.
      expect((await migrate(client)).applied).to.deep.equal(MIGRATIONS.map((m) => m.version));
    } finally {
      await client.end();
    }
  });
});
