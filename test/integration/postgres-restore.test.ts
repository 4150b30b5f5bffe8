import { readFileSync, truncateSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { runCli } from '../helpers/cli.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { serverClient } from '../helpers/server-client.js';
import { startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'from one machine to several (test)';

/**
 * Moving from one machine to several: a backup of a LevelDB server restored into PostgreSQL,
 * and a node on the database serving everything the backup held, with the same credential.
 */
describe('Backup from LevelDB, restore into PostgreSQL', function () {
  this.timeout(180_000);
  let postgres: TestPostgres;
  const dir = makeTempDir('keyhold-move-');

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  after(() => {
    postgres?.remove();
    dir.remove();
  });

  async function count(url: string, table: string): Promise<number> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // A database never touched has no tables at all.
      if ((await client.query('SELECT to_regclass($1) AS t', [table])).rows[0].t === null) return 0;
      return Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    } finally {
      await client.end();
    }
  }

  it('restores every record; a node on the database decrypts what the LevelDB server encrypted; a damaged backup restores nothing', async () => {
    const single = path.join(dir.path, 'single');
    // The machine the move starts from is LevelDB in any run (KEYHOLD_TEST_STORE=postgres would give it a database).
    const server = await startServerProcess({ KEYHOLD_DATA_DIR: single, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' }, dir.path, { store: 'leveldb' });
    const client = serverClient(server, single);
    const keyId = ((await client.call('createkey', { Description: 'moves', Tags: [{ TagKey: 'team', TagValue: 'orders' }] })).body.KeyMetadata as { KeyId: string }).KeyId;
    expect((await client.call('createalias', { AliasName: 'alias/moves', TargetKeyId: keyId })).status).to.equal(200);
    const plaintext = Buffer.from('made on one machine').toString('base64');
    const blob = (await client.call('encrypt', { KeyId: 'alias/moves', Plaintext: plaintext })).body.CiphertextBlob;
    const backupFile = path.join(dir.path, 'move.backup');
    const backup = await runCli(['--credentials', path.join(single, 'admin.credentials'), 'admin', 'backup', '--out', backupFile], { cwd: dir.path });
    expect(backup.code, backup.stderr).to.equal(0);
    await server.stop();

    // A truncated backup: refused, nothing written to the database.
    const truncated = path.join(dir.path, 'truncated.backup');
    copyFileSync(backupFile, truncated);
    truncateSync(truncated, Math.floor(readFileSync(truncated).length / 2));
    const url = postgres.createDatabase();
    const env = { KEYHOLD_DATA_DIR: path.join(dir.path, 'node'), KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE };
    const refused = await runCli(['admin', 'restore', '--in', truncated], { cwd: dir.path, env });
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/backup/i);
    expect(await count(url, 'keyhold_keys')).to.equal(0);

    const restored = await runCli(['admin', 'restore', '--in', backupFile], { cwd: dir.path, env });
    expect(restored.code, restored.stderr).to.equal(0);
    expect(restored.stdout.toString()).to.match(/^restored \d+ records .* into postgres:\/\//);
    // Into a database that now holds a store: refused.
    const again = await runCli(['admin', 'restore', '--in', backupFile], { cwd: dir.path, env });
    expect(again.code).to.not.equal(0);
    expect(again.stderr).to.include('already holds a Keyhold store');

    const node = await startServerProcess(env, dir.path);
    try {
      // The LevelDB server's admin credential works on the node (its URL and pin aside).
      const onNode = serverClient(node, single);
      const decrypted = await onNode.call('decrypt', { CiphertextBlob: blob });
      expect(decrypted.status, JSON.stringify(decrypted.body)).to.equal(200);
      expect(decrypted.body.Plaintext).to.equal(plaintext);
      const tags = await onNode.call('listresourcetags', { KeyId: 'alias/moves' });
      expect(tags.body.Tags).to.deep.equal([{ TagKey: 'team', TagValue: 'orders' }]);
      const verified = await runCli(['admin', 'audit', 'verify'], { cwd: dir.path, env });
      expect(verified.code, verified.stdout.toString() + verified.stderr).to.equal(0);
    } finally {
      await node.stop();
    }
  });
});
