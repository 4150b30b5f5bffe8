import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { verifyAuditTrail } from '../../src/audit/verify-trail.js';
import { ServiceUnavailableException, StartupError } from '../../src/errors.js';
import { auditRecordKey, type AuditEntry } from '../../src/store/audit-record.js';
import { encodeCheckedJson } from '../../src/store/checked-json.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { RECORD_TABLES } from '../../src/store/postgres/schema.js';
import { WriteConflictError, type StoreChange } from '../../src/store/store.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { sampleKeyRecord } from '../helpers/temp-store.js';

function entry(action: string, index: number): AuditEntry {
  return { Time: new Date().toISOString(), RequestId: `req-${action}-${index}`, Principal: 'test', SourceIp: '127.0.0.1', Action: action, KeyId: null, Outcome: 'Success' };
}

describe('PostgreSQL store', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;
  const dir = makeTempDir('keyhold-pgstore-');
  const opened: PostgresStore[] = [];

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  after(() => {
    postgres?.remove();
    dir.remove();
  });

  async function open(url: string): Promise<PostgresStore> {
    const store = await PostgresStore.open({ url, dataDir: dir.path });
    opened.push(store);
    return store;
  }

  /** A store on a database of its own, given the audit key of a fresh root key. */
  async function auditedStore(): Promise<{ url: string; store: PostgresStore; rootKey: Buffer }> {
    const url = postgres.createDatabase();
    const store = await open(url);
    const rootKey = randomBytes(32);
    await store.useAuditKey(rootKey);
    return { url, store, rootKey };
  }

  /** Four unsynced records written at once, numbered from `from`: one group commit, as a busy node makes them. */
  async function writeGroup(store: PostgresStore, from: number): Promise<void> {
    await Promise.all(Array.from({ length: 4 }, (_, index) => store.write(store.batch().audit(entry('Encrypt', from + index)), { sync: false })));
  }

  it('stores each kind of record as the LevelDB store does, and reads it back', async () => {
    const store = await open(postgres.createDatabase());
    const key = sampleKeyRecord();
    const material = randomBytes(60);
    await store.write(
      store
        .batch()
        .putKey(key)
        .putVersion(key.keyId, 1, material)
        .putAlias({ aliasName: 'alias/a', targetKeyId: key.keyId, creationDate: key.creationDate, lastUpdatedDate: key.creationDate })
        .putSchedule({ due: '2020-01-01T00:00:00.000Z', work: 'rotate', keyId: key.keyId })
        .putSchedule({ due: '2999-01-01T00:00:00.000Z', work: 'delete', keyId: key.keyId }),
    );
    expect(await store.getKey(key.keyId)).to.deep.equal(key);
    expect((await store.getVersion(key.keyId, 1))!.equals(material)).to.equal(true);
    const both = await store.getKeyWithVersion(key.keyId, 'current', () => true);
    expect(both.record).to.deep.equal(key);
    expect(both.wrapped!.equals(material)).to.equal(true);
    expect((await store.getKeyWithVersion(key.keyId, 2, () => true)).wrapped).to.equal(undefined);
    expect((await store.listAliases()).map((alias) => alias.aliasName)).to.deep.equal(['alias/a']);
    expect(await store.dueWork(new Date(), 10)).to.deep.equal([{ due: '2020-01-01T00:00:00.000Z', work: 'rotate', keyId: key.keyId }]);
    // The stored bytes are the checked JSON the LevelDB store writes (`<json>#<crc32c>`).
    const stored = (await store.readStoredEntry('keys', key.keyId))!.toString('utf8');
    expect(stored).to.match(/^\{.*\}#[0-9a-f]{8}$/);
    await store.write(store.batch().deleteKey(key));
    expect(await store.getKey(key.keyId)).to.equal(undefined);
    expect(await store.getVersion(key.keyId, 1)).to.equal(undefined);
  });

  it('writes values of any length byte for byte, several per statement, and compresses large audit entries with lz4', async () => {
    const { url, store, rootKey } = await auditedStore();
    // Versions of 0 bytes to 200 KiB in one write: one binary parameter, cut by offsets and lengths.
    const lengths = [0, 1, 60, 2_500, 70_000, 200_000];
    const keys = lengths.map(() => sampleKeyRecord());
    const materials = lengths.map((length) => randomBytes(length));
    const batch = store.batch();
    keys.forEach((key, index) => batch.putKey(key).putVersion(key.keyId, 1, materials[index]!));
    await store.write(batch);
    for (const [index, key] of keys.entries()) expect((await store.getVersion(key.keyId, 1))!.equals(materials[index]!), `${lengths[index]} bytes`).to.equal(true);
    // Records with large contexts, through the full transaction (the first group) and the append function (the next).
    const large = (action: string, index: number): AuditEntry => ({ ...entry(action, index), EncryptionContext: { note: 'x'.repeat(1_500) } });
    for (let group = 0; group < 3; group++) await Promise.all(Array.from({ length: 4 }, (_, index) => store.write(store.batch().audit(large('Encrypt', group * 4 + index)), { sync: false })));
    expect(await verifyAuditTrail(store, rootKey)).to.deep.equal({ checked: 12, unchained: 0, journaled: 0, otherNodes: [] });
    // lz4 where this server offers it (Debian's PostgreSQL 15 does); pglz, its default, elsewhere.
    expect(await largeAuditEntriesCompression(url)).to.equal((await offersLz4(url)) ? 'lz4' : 'pglz');
  });

  it("leaves the compression of large values alone where an operator chose one for the database", async () => {
    const url = postgres.createDatabase();
    await inDatabase(url, (client) => client.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET default_toast_compression = 'pglz'`));
    const store = await open(url);
    await store.useAuditKey(randomBytes(32));
    const large = (index: number): AuditEntry => ({ ...entry('Encrypt', index), EncryptionContext: { note: 'x'.repeat(1_500) } });
    await Promise.all(Array.from({ length: 4 }, (_, index) => store.write(store.batch().audit(large(index)), { sync: false })));
    expect(await largeAuditEntriesCompression(url)).to.equal('pglz');
  });

  /** `fn` on a connection of its own to `url`, closed after it. */
  async function inDatabase<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  async function offersLz4(url: string): Promise<boolean> {
    return inDatabase(url, async (client) => (await client.query("SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'")).rows[0]?.lz4 === true);
  }

  /** How the audit entries large enough to be compressed are: one method for all of them. */
  async function largeAuditEntriesCompression(url: string): Promise<string> {
    const methods = await inDatabase(url, async (client) => (await client.query(`SELECT pg_column_compression(value) AS method FROM ${RECORD_TABLES.audit} WHERE octet_length(value) > 4000`)).rows.map((row: { method: string | null }) => row.method));
    expect(methods.length, 'entries large enough to be compressed').to.be.at.least(1);
    expect(new Set(methods).size, methods.join(', ')).to.equal(1);
    return methods[0]!;
  }

  it('lists keys in KeyId order a page at a time', async () => {
    const store = await open(postgres.createDatabase());
    const ids = ['0000', '1111', '2222', 'aaaa', 'ffff'].map((prefix) => `${prefix}${randomBytes(2).toString('hex')}-0000-4000-8000-000000000000`);
    const batch = store.batch();
    for (const keyId of ids) batch.putKey(sampleKeyRecord({ keyId }));
    await store.write(batch);
    const first = await store.listKeys(undefined, 2);
    const rest = await store.listKeys(first[1]!.keyId, 10);
    expect([...first, ...rest].map((record) => record.keyId)).to.deep.equal([...ids].sort());
  });

  it('refuses a batch whose checked record changed, writing none of it', async () => {
    const url = postgres.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const key = sampleKeyRecord();
    await a.write(a.batch().putKey(key));
    const disabled = { ...key, keyState: 'Disabled' as const };
    await b.write(b.batch().expectKey(key.keyId, key).putKey(disabled));
    // Node A still thinks the key is Enabled: its change is refused, and nothing of it lands.
    const error = await a.write(a.batch().expectKey(key.keyId, key).putKey({ ...key, description: 'lost update' }).putAlias({ aliasName: 'alias/x', targetKeyId: key.keyId, creationDate: '', lastUpdatedDate: '' })).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(WriteConflictError);
    expect(await a.getKey(key.keyId)).to.deep.equal(disabled);
    expect(await a.listAliases()).to.deep.equal([]);
  });

  it('makes one root key when two nodes start at once', async () => {
    const url = postgres.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    expect(a.storeId).to.equal(b.storeId);
    const root = (n: number) => ({ storeVersion: 1 as const, master: { kind: 'passphrase' } as never, wrappedRootKey: String(n), keyCheckValue: '', createdAt: '' });
    const results = await Promise.allSettled([a.write(a.batch().putRootKey(root(1))), b.write(b.batch().putRootKey(root(2)))]);
    expect(results.filter((result) => result.status === 'fulfilled')).to.have.length(1);
    const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).to.be.instanceOf(WriteConflictError);
  });

  it('keeps one verifiable audit chain when two nodes write records at once', async () => {
    const url = postgres.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const rootKey = randomBytes(32);
    await a.useAuditKey(rootKey);
    await b.useAuditKey(rootKey);
    const writes: Promise<void>[] = [];
    for (let index = 0; index < 50; index++) {
      writes.push(a.write(a.batch().audit(entry('Encrypt', index)), { sync: false }));
      writes.push(b.write(b.batch().audit(entry('Decrypt', index)), { sync: index % 2 === 0 }));
    }
    await Promise.all(writes);
    const records = await a.listAudit();
    expect(records.map((record) => record.Seq)).to.deep.equal(Array.from({ length: 100 }, (_, index) => index + 1));
    expect(await verifyAuditTrail(a, rootKey)).to.deep.equal({ checked: 100, unchained: 0, journaled: 0, otherNodes: [] });
    // Tampering is seen, as on LevelDB.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    // A row in the middle (a row holds the records of one transaction: fewer rows than records).
    const deleted = await client.query('DELETE FROM keyhold_audit WHERE key = (SELECT key FROM keyhold_audit ORDER BY key LIMIT 1 OFFSET (SELECT count(*) / 2 FROM keyhold_audit))');
    expect(deleted.rowCount).to.equal(1);
    await client.end();
    expect((await verifyAuditTrail(a, rootKey)).problem).to.be.a('string');
  });

  it('appends audit records through its temporary function, and where none can be made (no TEMPORARY privilege) as SQL text, one chain either way', async () => {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    const url = postgres.createDatabase();
    const database = new URL(url).pathname.slice(1);
    // A login that owns its database but may not make temporary objects in it.
    await admin.query(`CREATE ROLE ${database}_notemp LOGIN; ALTER DATABASE ${database} OWNER TO ${database}_notemp; REVOKE TEMPORARY ON DATABASE ${database} FROM PUBLIC, ${database}_notemp`);
    const notemp = url.replace('keyhold@', `${database}_notemp@`);
    try {
      const rootKey = randomBytes(32);
      // pg_proc is per database, and lists the temporary functions of every session in it.
      const functions = async () => {
        const inDatabase = new pg.Client({ connectionString: url });
        await inDatabase.connect();
        try {
          return Number((await inDatabase.query("SELECT count(*) FROM pg_proc WHERE proname = 'keyhold_audit_append'")).rows[0].count);
        } finally {
          await inDatabase.end();
        }
      };
      for (const [who, connection] of [['without TEMPORARY', notemp], ['with it', url]] as const) {
        const store = await open(connection);
        await store.useAuditKey(rootKey);
        // Groups of unsynced records, as a busy node writes them: after the first, each goes on from the head this node wrote.
        for (let group = 0; group < 5; group++) await writeGroup(store, group * 4);
        if (who === 'without TEMPORARY') expect(await functions(), who).to.equal(0);
        else expect(await functions(), who).to.be.at.least(1);
        await store.close();
        opened.splice(opened.indexOf(store), 1);
      }
      const reader = await open(url);
      await reader.useAuditKey(rootKey);
      expect((await reader.listAudit()).map((record) => record.Seq)).to.deep.equal(Array.from({ length: 40 }, (_, index) => index + 1));
      expect(await verifyAuditTrail(reader, rootKey)).to.deep.equal({ checked: 40, unchained: 0, journaled: 0, otherNodes: [] });
    } finally {
      await admin.end();
    }
  });

  it('goes on as SQL text, then the full transaction, when a connection lost its function; the chain stays whole', async () => {
    const { url, store, rootKey } = await auditedStore();
    await writeGroup(store, 0);
    await writeGroup(store, 4);
    // A superuser drops the store's temporary functions from its sessions' temporary schemas:
    // the next call on each of those connections fails with undefined_function.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const { rows } = await admin.query("SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = 'keyhold_audit_append'");
      expect(rows.length, 'the store made its function').to.be.at.least(1);
      for (const row of rows as Array<{ nspname: string }>) {
        await admin.query(`DROP FUNCTION ${row.nspname}.keyhold_audit_append(text, bytea, bytea, text[], bytea, integer[], integer[], boolean)`);
      }
    } finally {
      await admin.end();
    }
    for (let from = 8; from < 40; from += 4) await writeGroup(store, from);
    expect((await store.listAudit()).map((record) => record.Seq)).to.deep.equal(Array.from({ length: 40 }, (_, index) => index + 1));
    expect(await verifyAuditTrail(store, rootKey)).to.deep.equal({ checked: 40, unchained: 0, journaled: 0, otherNodes: [] });
  });

  it('takes the full transaction when its function meets a record put there by hand, and chains on after that record', async () => {
    const { url, store, rootKey } = await auditedStore();
    // Watched, not replaced: what the function path answers for each call.
    const internals = store as unknown as { callAppendFunction(...args: unknown[]): Promise<boolean> };
    const callAppendFunction = internals.callAppendFunction;
    const answers: boolean[] = [];
    internals.callAppendFunction = async function (this: unknown, ...args: unknown[]) {
      const written = await callAppendFunction.apply(this, args);
      answers.push(written);
      return written;
    };
    await writeGroup(store, 0);
    await writeGroup(store, 4);
    // The first group took the full transaction (no head of this node's yet), the second the function.
    expect(answers).to.deep.equal([true]);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // Someone with INSERT on the table puts a record (record 8, renumbered: its MAC is wrong) at
      // the key the next record takes: the function's insert meets a unique violation and rolls
      // back, and the full transaction reads the newest record and chains on after it. One write
      // alone, so that a failure could not hide behind the group commit's retry of each writer.
      const eighth = (await store.listAudit()).at(-1)!;
      expect(eighth.Seq).to.equal(8);
      await admin.query(`INSERT INTO ${RECORD_TABLES.audit} (key, value) VALUES ($1, $2)`, [auditRecordKey(9), Buffer.from(encodeCheckedJson({ ...eighth, Seq: 9 }), 'utf8')]);
    } finally {
      await admin.end();
    }
    await store.write(store.batch().audit(entry('Encrypt', 8)), { sync: false });
    // The head is still the one this node wrote: the function wrote nothing because of its insert.
    expect(answers, 'the function was called again, and wrote nothing').to.deep.equal([true, false]);
    await writeGroup(store, 9);
    expect((await store.listAudit()).map((record) => record.Seq)).to.deep.equal(Array.from({ length: 14 }, (_, index) => index + 1));
    const verdict = await verifyAuditTrail(store, rootKey);
    // The first break is the record put there by hand, named by where it is stored.
    expect(verdict).to.include({ checked: 8 });
    expect(verdict.problem).to.equal(`record 9 (stored as ${auditRecordKey(9)}) was altered or inserted: its MAC does not match`);
  });

  it("tells a node what another node changed, within a second", async () => {
    const url = postgres.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const seen: StoreChange[] = [];
    b.onExternalChange((change) => seen.push(change));
    const own: StoreChange[] = [];
    a.onExternalChange((change) => own.push(change));
    const key = sampleKeyRecord();
    const started = Date.now();
    await a.write(a.batch().putKey({ ...key, keyState: 'Disabled' }));
    while (seen.length === 0 && Date.now() - started < 1_000) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).to.deep.equal([{ keys: [{ keyId: key.keyId, keyState: 'Disabled', currentVersion: key.currentVersion }], aliases: false, credentials: false }]);
    // A node is not told of its own changes.
    expect(own).to.deep.equal([]);
  });

  it('reads a point-in-time snapshot while writes go on', async () => {
    const store = await open(postgres.createDatabase());
    const batch = store.batch();
    for (let index = 0; index < 30; index++) batch.putKey(sampleKeyRecord({ keyId: `${String(index).padStart(8, '0')}-0000-4000-8000-000000000000` }));
    await store.write(batch);
    const snapshot = store.openSnapshot();
    const first = await snapshot.next(5);
    await store.write(store.batch().putKey(sampleKeyRecord({ keyId: 'ffffffff-0000-4000-8000-000000000000' })));
    const entries = [...first];
    for (let page = await snapshot.next(7); page.length > 0; page = await snapshot.next(7)) entries.push(...page);
    await snapshot.close();
    const keys = entries.filter((stored) => stored.table === 'keys').map((stored) => stored.key);
    expect(keys).to.have.length(30);
    expect(keys).to.not.include('ffffffff-0000-4000-8000-000000000000');
  });

  it('survives the database ending a connection that is checked out between two queries (a snapshot between pages)', async () => {
    const database = postgres.createDatabase();
    const store = await open(database);
    const batch = store.batch();
    for (let index = 0; index < 10; index++) batch.putKey(sampleKeyRecord({ keyId: `${String(index).padStart(8, '0')}-0000-4000-8000-00000000000a` }));
    await store.write(batch);
    const snapshot = store.openSnapshot();
    await snapshot.next(2);
    // Every other session of the database ended by the server: the snapshot's connection among them.
    const admin = new pg.Client({ connectionString: database });
    await admin.connect();
    try {
      const ended = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      expect(ended.rowCount).to.be.at.least(1);
    } finally {
      await admin.end();
    }
    // An 'error' event with no listener would have ended this process by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await snapshot.next(2).catch((error: unknown) => error)).to.be.instanceOf(Error);
    await snapshot.close().catch(() => undefined);
    // The store reconnects for the next read.
    expect((await store.getKey('00000000-0000-4000-8000-00000000000a'))?.keyId).to.equal('00000000-0000-4000-8000-00000000000a');
  });

  it('answers 503 while the database is down and works again when it is back, without reopening', async () => {
    const store = await open(postgres.createDatabase());
    const key = sampleKeyRecord();
    await store.write(store.batch().putKey(key));
    postgres.stop();
    try {
      expect(await store.getKey(key.keyId).catch((e: unknown) => e)).to.be.instanceOf(ServiceUnavailableException);
      expect(await store.write(store.batch().putKey({ ...key, description: 'x' })).catch((e: unknown) => e)).to.be.instanceOf(ServiceUnavailableException);
      expect(store.isHealthy).to.equal(false);
    } finally {
      postgres.start();
    }
    // Healthy again by itself, before any request comes (a load balancer sends none to an unhealthy node).
    const until = Date.now() + 5_000;
    while (!store.isHealthy && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.isHealthy).to.equal(true);
    expect(await store.getKey(key.keyId)).to.deep.equal(key);
    await store.write(store.batch().putKey({ ...key, description: 'after' }));
    expect((await store.getKey(key.keyId))!.description).to.equal('after');
    expect(store.isHealthy).to.equal(true);
  });

  it('tells its caches to forget keys and aliases when the database goes, and to read the credentials again only once it is back', async () => {
    const store = await open(postgres.createDatabase());
    const told: StoreChange[] = [];
    store.onExternalChange((change) => told.push(change));
    postgres.stop();
    try {
      await waitUntil(() => told.length > 0, 5_000);
      // Not the credentials: they cannot be read now, and a cluster worker that fails to read them stops.
      expect(told).to.deep.equal([{ keys: [], aliases: true, credentials: false, everything: true }]);
    } finally {
      postgres.start();
    }
    // Announcements may have been missed meanwhile: once the connection is back, everything, credentials too.
    await waitUntil(() => told.length > 1, 10_000);
    expect(told.slice(1)).to.deep.equal([{ keys: [], aliases: true, credentials: true, everything: true }]);
  });

  it('fails to open with one line naming KEYHOLD_STORE_URL, never showing the password', async () => {
    const refused = await PostgresStore.open({ url: postgres.url.replace('keyhold@', 'keyhold:s3cret@').replace(/\/keyhold$/, '/no_such_db'), dataDir: dir.path }).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(StartupError);
    expect((refused as Error).message).to.include('KEYHOLD_STORE_URL').and.include('does not exist').and.not.include('s3cret');
    const unreachable = await PostgresStore.open({ url: 'postgres://keyhold:s3cret@127.0.0.1:1/keyhold', dataDir: dir.path }).catch((e: unknown) => e);
    expect((unreachable as Error).message).to.include('refuses connections').and.not.include('s3cret');
  });
});

/** Resolves once `condition` holds, checking every 20 ms; fails after `patienceMs`. */
async function waitUntil(condition: () => boolean, patienceMs: number): Promise<void> {
  const until = Date.now() + patienceMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`the condition did not hold within ${patienceMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
