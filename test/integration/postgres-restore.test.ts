import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { RECORD_TABLES } from '../../src/store/postgres/schema.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { serverClient, type ServerClient } from '../helpers/server-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { StoreChoice } from '../helpers/test-store.js';

const PASSPHRASE = 'from one kind of store to the other (test)';
/** Clients writing while the backup is taken. */
const LANES = 2;
/** The backup starts once this many blobs were made under the load. */
const BLOBS_BEFORE_BACKUP = 8;
/** Each client stops after this many rounds (createkey, tagresource, createalias, encrypt), if the backup is still running. */
const MAX_ROUNDS = 60;

/** Where a server keeps its records: a LevelDB data directory (in any run), or a PostgreSQL database. */
interface Place {
  kind: 'leveldb' | 'postgres';
  /** KEYHOLD_DATA_DIR (and, for PostgreSQL, KEYHOLD_STORE_URL). */
  env: Record<string, string>;
  /** The starter's choice: LevelDB asked for by name, so that it stays LevelDB in the PostgreSQL run. */
  choice: StoreChoice;
  /** How much the place holds: the records in the database, the files in the data directory (nothing restored: 0). */
  contents(): Promise<number>;
}

/** What the clients were told had been done, each with the moment the answer came. */
interface Ledger {
  tags: { keyId: string; tag: { TagKey: string; TagValue: string }; at: number }[];
  keys: { keyId: string; at: number }[];
  aliases: { aliasName: string; keyId: string; at: number }[];
  blobs: { blob: string; plaintext: string; at: number }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Moving between the two kinds of store: a server under write load backed up with `keyhold
 * admin backup`, the backup restored into the other kind, and a server there that has every
 * key, tag, alias and credential acknowledged before the backup started and decrypts every
 * blob made before it. A damaged backup restores nothing, into either kind.
 */
describe('Backup under write load, restored into the other kind of store', function () {
  this.timeout(300_000);
  let postgres: TestPostgres;
  const dir = makeTempDir('keyhold-move-');
  const servers: ServerProcess[] = [];

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  after(async () => {
    for (const server of servers) if (server.child.exitCode === null) await server.stop();
    postgres?.remove();
    dir.remove();
  });

  const leveldb = (name: string): Place => {
    const dataDir = path.join(dir.path, name);
    return {
      kind: 'leveldb',
      env: { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' },
      choice: { store: 'leveldb' },
      // A refused restore makes no data directory at all.
      contents: async () => (existsSync(dataDir) ? readdirSync(dataDir).length : 0),
    };
  };

  const database = (name: string): Place => {
    const url = postgres.createDatabase();
    return {
      kind: 'postgres',
      env: { KEYHOLD_DATA_DIR: path.join(dir.path, name), KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' },
      choice: {},
      contents: () => countRecords(url),
    };
  };

  const keyhold = (args: string[], place: Place): Promise<CliResult> => runCli(args, { cwd: dir.path, env: place.env, ...place.choice });

  async function start(place: Place): Promise<ServerProcess> {
    const server = await startServerProcess(place.env, dir.path, place.choice);
    servers.push(server);
    return server;
  }

  /**
   * The whole move: a source server, a credential, write load, the backup taken under it, a
   * damaged copy refused, the restore, and the checks on a server started on the target.
   * Returns the backup file, for checks of the target kind's own.
   */
  async function move(source: Place, target: Place): Promise<string> {
    const server = await start(source);
    const admin = serverClient(server, source.env.KEYHOLD_DATA_DIR!);
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:ListKeys', 'kms:DescribeKey'], Resource: '*' }] };
    const made = await admin.call('createcredential', { Description: 'reads keys', Policy: policy });
    expect(made.status, JSON.stringify(made.body)).to.equal(200);
    const reader = { accessKeyId: (made.body.Credential as { AccessKeyId: string }).AccessKeyId, secretKey: made.body.SecretKey as string };
    rememberSecret(reader.secretKey);

    const ledger: Ledger = { tags: [], keys: [], aliases: [], blobs: [] };
    let running = true;
    const load = Promise.all(Array.from({ length: LANES }, (_, lane) => writeLoad(admin, lane, ledger, () => running)));
    let loadEnded = false;
    void load.then(() => (loadEnded = true), () => (loadEnded = true));
    const backupFile = path.join(dir.path, `${source.kind}-to-${target.kind}.backup`);
    let startedAt = 0;
    let endedAt = 0;
    let backup: CliResult;
    try {
      // The backup starts once the load runs, so that writes land while the snapshot is read.
      while (ledger.blobs.length < BLOBS_BEFORE_BACKUP && !loadEnded) await sleep(50);
      startedAt = Date.now();
      backup = await runCli(['--credentials', path.join(source.env.KEYHOLD_DATA_DIR!, 'admin.credentials'), 'admin', 'backup', '--out', backupFile], { cwd: dir.path });
      endedAt = Date.now();
    } finally {
      running = false;
      await load;
    }
    expect(backup.code, backup.stderr).to.equal(0);
    expect(ledger.keys.filter((key) => key.at > startedAt && key.at < endedAt).length, 'keys created while the backup ran').to.be.above(0);
    await server.stop();

    // One byte flipped in the middle: refused, nothing restored.
    const damaged = path.join(dir.path, `${source.kind}-to-${target.kind}.damaged.backup`);
    writeFileSync(damaged, flipOneByteInTheMiddle(readFileSync(backupFile)));
    const refused = await keyhold(['admin', 'restore', '--in', damaged], target);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.include('the backup checksum does not match: the file was changed or damaged');
    expect(await target.contents(), 'records restored from a damaged backup').to.equal(0);

    const restored = await keyhold(['admin', 'restore', '--in', backupFile], target);
    expect(restored.code, restored.stderr).to.equal(0);
    expect(restored.stdout.toString()).to.match(new RegExp(`^restored \\d+ records .* into ${target.kind === 'postgres' ? 'postgres://' : '/'}`));
    // The backup of a store under load is one point in time: whole, and its audit chain intact.
    const records = await keyhold(['admin', 'verify-store'], target);
    expect(records.code, records.stdout.toString() + records.stderr).to.equal(0);
    const trail = await keyhold(['admin', 'audit', 'verify'], target);
    expect(trail.code, trail.stdout.toString() + trail.stderr).to.equal(0);

    const moved = await start(target);
    try {
      // The admin credential of the source works on the target (its URL and pin aside).
      await expectHeld(serverClient(moved, source.env.KEYHOLD_DATA_DIR!), acknowledgedBefore(ledger, startedAt));
      const onTarget = new KeyholdClient({ url: moved.url, ...reader, certSha256: moved.certSha256 });
      try {
        expect((await onTarget.listKeys()).keys.length).to.be.above(0);
        // Its policy came along too: what it does not allow is refused.
        expect(await rejectionOf(onTarget.createKey({}), KeyholdApiError)).to.include({ type: 'AccessDeniedException', status: 403 });
      } finally {
        onTarget.close();
      }
    } finally {
      await moved.stop();
    }
    return backupFile;
  }

  it('LevelDB → PostgreSQL: everything acknowledged before the backup is on the database; a damaged, a cut or a second restore writes nothing', async () => {
    const target = database('node');
    const backupFile = await move(leveldb('single'), target);
    // A backup cut short: refused, into a fresh database, nothing written.
    const fresh = database('other-node');
    const cut = path.join(dir.path, 'cut.backup');
    copyFileSync(backupFile, cut);
    truncateSync(cut, Math.floor(readFileSync(cut).length / 2));
    const refused = await keyhold(['admin', 'restore', '--in', cut], fresh);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.include('incomplete');
    expect(await fresh.contents()).to.equal(0);
    // Into a database that already holds a store: refused, and the store is left as it was.
    const before = await target.contents();
    const again = await keyhold(['admin', 'restore', '--in', backupFile], target);
    expect(again.code).to.not.equal(0);
    expect(again.stderr).to.include('already holds a Keyhold store');
    expect(await target.contents()).to.equal(before);
  });

  it('PostgreSQL → LevelDB: everything acknowledged before the backup is in the data directory; a damaged backup makes none', async () => {
    await move(database('cluster-node'), leveldb('one-machine'));
  });
});

/** One client's writes until told to stop: createkey with a tag, another tag, an alias, an encrypt; each acknowledged one noted. */
async function writeLoad(client: ServerClient, lane: number, ledger: Ledger, running: () => boolean): Promise<void> {
  for (let round = 0; running() && round < MAX_ROUNDS; round++) {
    const first = { TagKey: 'lane', TagValue: String(lane) };
    const created = await client.call('createkey', { Description: `load ${lane}/${round}`, Tags: [first] });
    if (created.status !== 200) throw new Error(`createkey under load: ${created.status} ${JSON.stringify(created.body)}`);
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    ledger.keys.push({ keyId, at: Date.now() });
    ledger.tags.push({ keyId, tag: first, at: Date.now() });
    const second = { TagKey: 'round', TagValue: String(round) };
    if ((await client.call('tagresource', { KeyId: keyId, Tags: [second] })).status === 200) ledger.tags.push({ keyId, tag: second, at: Date.now() });
    const aliasName = `alias/load-${lane}-${round}`;
    if ((await client.call('createalias', { AliasName: aliasName, TargetKeyId: keyId })).status === 200) ledger.aliases.push({ aliasName, keyId, at: Date.now() });
    const plaintext = Buffer.from(`lane ${lane} round ${round}`).toString('base64');
    const encrypted = await client.call('encrypt', { KeyId: aliasName, Plaintext: plaintext });
    if (encrypted.status === 200) ledger.blobs.push({ blob: encrypted.body.CiphertextBlob as string, plaintext, at: Date.now() });
  }
}

/** What was acknowledged before `moment`: what a backup started then must hold. */
function acknowledgedBefore(ledger: Ledger, moment: number): Ledger {
  const before = <T extends { at: number }>(entries: T[]) => entries.filter((entry) => entry.at < moment);
  return { keys: before(ledger.keys), tags: before(ledger.tags), aliases: before(ledger.aliases), blobs: before(ledger.blobs) };
}

/** Every key (with its tags) and alias of the ledger is on the server, and every blob decrypts. */
async function expectHeld(client: ServerClient, ledger: Ledger): Promise<void> {
  expect(ledger.keys.length).to.be.above(0);
  expect(ledger.blobs.length).to.be.above(0);
  for (const { keyId } of ledger.keys) {
    const tags = await client.call('listresourcetags', { KeyId: keyId });
    expect(tags.status, `key ${keyId}: ${JSON.stringify(tags.body)}`).to.equal(200);
    const acknowledged = ledger.tags.filter((entry) => entry.keyId === keyId).map((entry) => entry.tag);
    expect(tags.body.Tags, `tags of ${keyId}`).to.deep.include.members(acknowledged);
  }
  for (const { aliasName, keyId } of ledger.aliases) {
    const described = await client.call('describekey', { KeyId: aliasName });
    expect(described.status, `${aliasName}: ${JSON.stringify(described.body)}`).to.equal(200);
    expect((described.body.KeyMetadata as { KeyId: string }).KeyId).to.equal(keyId);
  }
  for (const { blob, plaintext } of ledger.blobs) {
    const decrypted = await client.call('decrypt', { CiphertextBlob: blob });
    expect(decrypted.status, JSON.stringify(decrypted.body)).to.equal(200);
    expect(decrypted.body.Plaintext).to.equal(plaintext);
  }
}

/**
 * The backup with one bit of a byte in the middle changed: a letter of a record's value turned
 * to the other case, so that every line still parses and only the checksum can tell.
 */
function flipOneByteInTheMiddle(bytes: Buffer): Buffer {
  const changed = Buffer.from(bytes);
  const lineStart = changed.lastIndexOf('\n', Math.floor(changed.length / 2)) + 1;
  const valueStart = changed.indexOf('"value":"', lineStart) + '"value":"'.length;
  const valueEnd = changed.indexOf('"', valueStart);
  let at = valueStart + Math.floor((valueEnd - valueStart) / 2);
  const isLetter = (byte: number) => (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
  while (at < valueEnd - 2 && !isLetter(changed[at]!)) at++;
  /* Precondition: the middle of the file is a record whose value has a letter to change. */
  if (!isLetter(changed[at]!)) throw new Error('no letter in the middle record of the backup');
  changed[at] = changed[at]! ^ 0x20;
  return changed;
}

/** The records in every Keyhold table of a database (a database never touched has no tables: 0). */
async function countRecords(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let total = 0;
    for (const table of Object.values(RECORD_TABLES)) {
      if ((await client.query('SELECT to_regclass($1) AS t', [table])).rows[0].t === null) continue;
      total += Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    }
    return total;
  } finally {
    await client.end();
  }
}
