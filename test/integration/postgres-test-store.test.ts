import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { requirePostgres } from '../helpers/postgres.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { TEST_STORE, TestStores, testStoreKind } from '../helpers/test-store.js';

const PASSPHRASE = 'test store harness passphrase, long enough';

/** The KEYHOLD_STORE_URL a running process was started with (its environment, as /proc has it). */
function storeUrlOf(server: ServerProcess): string | undefined {
  const variables = readFileSync(`/proc/${server.child.pid}/environ`, 'utf8').split('\0');
  return variables.find((variable) => variable.startsWith('KEYHOLD_STORE_URL='))?.slice('KEYHOLD_STORE_URL='.length);
}

/** The rows of one query on the database at `url`. */
async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The name of the database a URL connects to, asked of PostgreSQL: it fails if there is none. */
async function databaseAt(url: string): Promise<string> {
  return (await query<{ name: string }>(url, 'SELECT current_database() AS name'))[0]!.name;
}

/** Whether a data directory holds a LevelDB store (its CURRENT file). */
const hasLevelDb = (dataDir: string) => existsSync(path.join(dataDir, 'store', 'CURRENT'));

/**
 * The harness that runs the integration suite against a PostgreSQL store (test/helpers/test-store.ts):
 * what this run's servers get, and the PostgreSQL side checked on a harness of its own in every
 * run, so that a broken harness fails here by name and not as a hundred odd failures.
 */
describe('the test store harness (KEYHOLD_TEST_STORE)', function () {
  this.timeout(120_000);

  describe(`this run's servers (KEYHOLD_TEST_STORE ${process.env.KEYHOLD_TEST_STORE ? `=${process.env.KEYHOLD_TEST_STORE}` : 'unset'})`, () => {
    const work = makeTempDir('keyhold-test-store-');
    const running: ServerProcess[] = [];
    const start = async (dataDir: string, choice: { store?: 'leveldb' } = {}) => {
      const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, work.path, choice);
      running.push(server);
      return server;
    };
    const stop = async (server: ServerProcess) => {
      running.splice(running.indexOf(server), 1);
      expect(await server.stop()).to.equal(0);
    };
    before(() => rememberSecret(PASSPHRASE));
    afterEach(async () => {
      await Promise.all(running.splice(0).map((server) => server.stop()));
    });
    after(() => work.remove());

    if (TEST_STORE === 'leveldb') {
      it('gives a server no KEYHOLD_STORE_URL: its records stay in LevelDB in the data directory', async () => {
        const dataDir = path.join(work.path, 'data');
        const server = await start(dataDir);
        expect(storeUrlOf(server)).to.equal(undefined);
        expect(hasLevelDb(dataDir)).to.equal(true);
      });
    } else {
      it('gives two data directories two databases that hold their records, and a restart on a directory the same one again', async () => {
        const first = await start(path.join(work.path, 'first'));
        const second = await start(path.join(work.path, 'second'));
        const firstUrl = storeUrlOf(first);
        const secondUrl = storeUrlOf(second);
        expect(firstUrl).to.match(/^postgres:\/\/keyhold@127\.0\.0\.1:\d+\/kh_\d+$/);
        expect(secondUrl).to.match(/^postgres:\/\/keyhold@127\.0\.0\.1:\d+\/kh_\d+$/);
        expect(secondUrl).to.not.equal(firstUrl);
        expect(await databaseAt(firstUrl!)).to.equal(new URL(firstUrl!).pathname.slice(1));
        expect(await databaseAt(secondUrl!)).to.equal(new URL(secondUrl!).pathname.slice(1));
        for (const url of [firstUrl!, secondUrl!]) {
          expect(await query(url, "SELECT key FROM keyhold_meta WHERE key = 'root'"), `the root key in ${url}`).to.have.length(1);
        }
        expect(hasLevelDb(path.join(work.path, 'first')), 'a LevelDB store beside the database').to.equal(false);
        await stop(first);
        // Named relatively this time (the server's working directory is work.path): the same directory.
        const again = await start('first');
        expect(storeUrlOf(again)).to.equal(firstUrl);
      });

      it('gives a server started with { store: "leveldb" } no KEYHOLD_STORE_URL, and its restart none either', async () => {
        const dataDir = path.join(work.path, 'leveldb');
        await stop(await start(dataDir, { store: 'leveldb' }));
        expect(hasLevelDb(dataDir)).to.equal(true);
        expect(storeUrlOf(await start(dataDir))).to.equal(undefined);
      });
    }
  });

  describe('KEYHOLD_TEST_STORE values', () => {
    it('takes unset, empty and leveldb as LevelDB, postgres as PostgreSQL, and refuses anything else', () => {
      expect([undefined, '', 'leveldb'].map(testStoreKind)).to.deep.equal(['leveldb', 'leveldb', 'leveldb']);
      expect(testStoreKind('postgres')).to.equal('postgres');
      expect(() => testStoreKind('postgresql')).to.throw(/KEYHOLD_TEST_STORE must be postgres or leveldb \(or unset\), not "postgresql"/);
    });

    it('gives no environment at all in a LevelDB run', () => {
      const stores = new TestStores('leveldb');
      expect(stores.env('/tmp/any-data-dir')).to.deep.equal({});
      expect(stores.env('/tmp/any-data-dir', { store: 'leveldb' })).to.deep.equal({});
    });
  });

  describe('a PostgreSQL run, on a harness of its own', () => {
    let stores: TestStores;
    before(function () {
      requirePostgres(this);
      stores = new TestStores('postgres');
    });
    after(() => stores?.close());

    it('gives two data directories two databases that exist, and one directory, however written, the same one', async () => {
      const first = stores.env('/srv/keyhold/first').KEYHOLD_STORE_URL!;
      const second = stores.env('/srv/keyhold/second').KEYHOLD_STORE_URL!;
      expect(first).to.match(/\/kh_1$/);
      expect(second).to.match(/\/kh_2$/);
      expect(await databaseAt(first)).to.equal('kh_1');
      expect(await databaseAt(second)).to.equal('kh_2');
      expect(stores.env('/srv/keyhold/./first/').KEYHOLD_STORE_URL).to.equal(first);
      expect(stores.env('/srv/keyhold/second/../first')).to.deep.equal({ KEYHOLD_STORE_URL: first });
    });

    it('keeps a directory once given LevelDB on LevelDB, and refuses to move one with a database to LevelDB', () => {
      expect(stores.env('/srv/keyhold/level', { store: 'leveldb' })).to.deep.equal({});
      expect(stores.env('/srv/keyhold/level'), 'a later start that does not say').to.deep.equal({});
      const withDatabase = '/srv/keyhold/with-database';
      stores.env(withDatabase);
      expect(() => stores.env(withDatabase, { store: 'leveldb' })).to.throw(/with-database already keeps its records in PostgreSQL/);
    });

    it('stops and removes its PostgreSQL on close', async () => {
      const own = new TestStores('postgres');
      const url = own.env('/srv/keyhold/closing').KEYHOLD_STORE_URL!;
      expect(await databaseAt(url)).to.equal('kh_1');
      own.close();
      const refused = await databaseAt(url).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => error,
      );
      expect(refused?.code, 'a connection after close').to.equal('ECONNREFUSED');
    });
  });
});
