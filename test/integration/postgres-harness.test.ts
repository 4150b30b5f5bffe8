import { expect } from 'chai';
import pg from 'pg';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';

/**
 * The throwaway PostgreSQL that the PostgreSQL store's tests run against (test/helpers/postgres.ts):
 * what those tests rely on, checked on its own so that a broken harness fails here, by name.
 */
describe('test PostgreSQL (Debian package, temp cluster)', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  after(() => postgres?.remove());

  it('keeps a committed transaction across a fast shutdown and restart, and not a rolled-back one', async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE harness (id integer PRIMARY KEY, note text NOT NULL)');
      await client.query('BEGIN');
      await client.query("INSERT INTO harness VALUES (1, 'committed')");
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query("INSERT INTO harness VALUES (2, 'rolled back')");
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
    postgres.stop();
    postgres.start();
    const again = new pg.Client({ connectionString: postgres.url });
    await again.connect();
    try {
      const { rows } = await again.query('SELECT id, note FROM harness ORDER BY id');
      expect(rows).to.deep.equal([{ id: 1, note: 'committed' }]);
    } finally {
      await again.end();
    }
  });

  it('refuses connections while stopped with a connection error a store can map to 503', async () => {
    postgres.stop();
    try {
      const client = new pg.Client({ connectionString: postgres.url, connectionTimeoutMillis: 5_000 });
      const error = await client.connect().then(
        () => undefined,
        (caught: unknown) => caught as NodeJS.ErrnoException,
      );
      expect(error, 'connect to a stopped server').to.be.an('error');
      expect(error!.code).to.equal('ECONNREFUSED');
    } finally {
      postgres.start();
    }
  });

  it('runs two clusters side by side, each on its own port and data', async () => {
    const other = await startPostgres();
    try {
      expect(other.port).to.not.equal(postgres.port);
      const client = new pg.Client({ connectionString: other.url });
      await client.connect();
      try {
        const { rows } = await client.query("SELECT to_regclass('harness') AS found, current_setting('fsync') AS fsync");
        expect(rows[0]).to.deep.equal({ found: null, fsync: 'on' });
      } finally {
        await client.end();
      }
    } finally {
      other.remove();
    }
  });
});
