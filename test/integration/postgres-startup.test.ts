import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { runServerToCompletion, startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'the right passphrase (test)';

/**
 * A node started on a database it cannot use: one start-up line naming the setting, a
 * non-zero exit, and nothing changed in the database.
 */
describe('PostgreSQL store: start-up errors', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;
  const dir = makeTempDir('keyhold-pg-startup-');
  let databases = 0;

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
    // A role that must give its password (scram), beside the trusted superuser of the tests.
    const admin = await connect(postgres.url);
    try {
      await admin.query("CREATE ROLE keyhold_pw LOGIN PASSWORD 'right-password' CREATEDB");
      const hba = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]!.hba_file;
      writeFileSync(hba, 'local all all trust\nhost all keyhold_pw 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n');
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
  });

  after(() => {
    postgres?.remove();
    dir.remove();
  });

  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  }

  async function freshUrl(): Promise<string> {
    const name = `startup_${++databases}`;
    const admin = await connect(postgres.url);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return postgres.url.replace(/\/keyhold$/, `/${name}`);
  }

  /** Every row of every Keyhold table, as text: to show that a refused start changed nothing. */
  async function contents(url: string): Promise<string> {
    const client = await connect(url);
    try {
      const tables = (await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows;
      const parts: string[] = [];
      for (const { name } of tables) {
        const rows = (await client.query(`SELECT * FROM ${name} ORDER BY 1`)).rows;
        parts.push(`${name}: ${JSON.stringify(rows.map((row) => ({ ...row, applied_at: undefined })))}`);
      }
      return parts.join('\n');
    } finally {
      await client.end();
    }
  }

  function start(url: string, extra: Record<string, string> = {}) {
    const dataDir = path.join(dir.path, `node-${Math.random().toString(36).slice(2)}`);
    return runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', ...extra }, dir.path, 30_000);
  }

  /** One line on stderr naming the setting; exit 1; the password of the URL nowhere in the output. */
  function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, setting: string, words: RegExp): void {
    expect(result.code, result.stderr).to.equal(1);
    const lines = result.stderr.trim().split('\n').filter((line) => line.startsWith('keyhold:'));
    expect(lines, result.stderr).to.have.length(1);
    expect(lines[0]).to.include(setting).and.match(words);
    expect(result.stdout + result.stderr).to.not.include('right-password').and.not.include('wrong-password');
  }

  it('refuses a URL that is not a PostgreSQL URL', async () => {
    expectOneLine(await start('mysql://keyhold@127.0.0.1/keyhold'), 'KEYHOLD_STORE_URL', /PostgreSQL URL/);
  });

  it('refuses a database it cannot reach, and one that refuses the password', async () => {
    expectOneLine(await start('postgres://keyhold:wrong-password@127.0.0.1:1/keyhold'), 'KEYHOLD_STORE_URL', /refuses connections/);
    const url = postgres.url.replace('keyhold@', 'keyhold_pw:wrong-password@');
    expectOneLine(await start(url), 'KEYHOLD_STORE_URL', /refused the credentials/);
  });

  it('refuses a database initialised under another master key, changing nothing', async () => {
    const url = await freshUrl();
    const first = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(dir.path, 'first'), KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' }, dir.path);
    await first.stop();
    const before = await contents(url);
    expectOneLine(await start(url, { KEYHOLD_PASSPHRASE: 'another passphrase entirely' }), 'KEYHOLD_PASSPHRASE', /wrong passphrase: it does not unwrap this store's root key/);
    expect(await contents(url)).to.equal(before);
  });

  it('refuses a schema newer than it knows, changing nothing', async () => {
    const url = await freshUrl();
    const first = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(dir.path, 'newer'), KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' }, dir.path);
    await first.stop();
    const client = await connect(url);
    await client.query("INSERT INTO keyhold_schema (version, name) VALUES (999, 'from a later Keyhold')");
    await client.end();
    const before = await contents(url);
    expectOneLine(await start(url), 'KEYHOLD_STORE_URL', /newer than this Keyhold knows/);
    expect(await contents(url)).to.equal(before);
  });
});
