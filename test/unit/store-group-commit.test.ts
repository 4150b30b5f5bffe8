import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { type StoreChange } from '../../src/store/store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore, sampleKeyRecord as keyRecord } from '../helpers/temp-store.js';


type BatchFunction = (operations: unknown[], options: unknown) => Promise<void>;

/** The LevelDB batch calls a store makes, with a hook to hold or fail them. */
function watchBatches(store: LevelDbStore, around: (write: () => Promise<void>, operations: unknown[]) => Promise<void> = (write) => write()) {
  const db = (store as unknown as { db: { batch: BatchFunction } }).db;
  const original = db.batch.bind(db);
  const calls: { operations: unknown[]; options: unknown }[] = [];
  db.batch = (operations, options) => {
    calls.push({ operations, options });
    return around(() => original(operations, options), operations);
  };
  return calls;
}

function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return Promise.race([promise.then(() => true, () => true), new Promise((resolve) => setImmediate(() => resolve(marker)))]).then(
    (value) => value !== marker,
  );
}

describe('Store group commit', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let store: LevelDbStore;

  beforeEach(async () => ({ dir, store } = await openTempStore()));
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('merges writes made while another is on its way to disk into one synced LevelDB batch', async () => {
    const calls = watchBatches(store);
    const records = Array.from({ length: 50 }, () => keyRecord());
    await Promise.all(records.map((record) => store.write(store.batch().putKey(record).putVersion(record.keyId, 1, randomBytes(60)))));
    expect(calls.length).to.be.lessThan(records.length);
    expect(calls.length).to.be.at.most(2);
    for (const call of calls) expect(call.options).to.deep.include({ sync: true });
    for (const record of records) {
      expect(await store.getKey(record.keyId)).to.deep.equal(record);
      expect(await store.getVersion(record.keyId, 1)).to.have.length(60);
    }
  });

  it('acknowledges no write before the batch that holds it is synced', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    watchBatches(store, async (write) => {
      await held;
      await write();
    });
    const record = keyRecord();
    const writing = store.write(store.batch().putKey(record));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await isSettled(writing)).to.equal(false);
    release();
    await writing;
    expect(await store.getKey(record.keyId)).to.deep.equal(record);
  });

  it('keeps one batch all-or-nothing and fails only it when it cannot be written with the others', async () => {
    const good = Array.from({ length: 5 }, () => keyRecord());
    const bad = keyRecord();
    // A batch LevelDB refuses (the value cannot be encoded), among good ones in the same group.
    const badBatch = store.batch().putKey(bad);
    (badBatch.operations[0] as { value: unknown }).value = undefined;
    badBatch.putVersion(bad.keyId, 1, randomBytes(60));
    const writes = [...good.map((record) => store.write(store.batch().putKey(record))), store.write(badBatch)];
    const results = await Promise.allSettled(writes);
    expect(results.slice(0, 5).map((result) => result.status)).to.deep.equal(Array(5).fill('fulfilled'));
    expect(results[5]!.status).to.equal('rejected');
    for (const record of good) expect(await store.getKey(record.keyId)).to.deep.equal(record);
    expect(await store.getVersion(bad.keyId, 1), 'nothing of the failed batch').to.equal(undefined);
  });

  it('tells the commit listener what changed, and answers the writers only after it has finished', async () => {
    const changes: StoreChange[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.onCommit(async (change) => {
      changes.push(change);
      await held;
    });
    const enabled = keyRecord({ currentVersion: 3 });
    const deleted = keyRecord({ currentVersion: 2, keyState: 'PendingDeletion' });
    const writing = Promise.all([
      store.write(store.batch().putKey(enabled).putVersion(enabled.keyId, 3, randomBytes(60))),
      store.write(store.batch().deleteKey(deleted)),
      store.write(store.batch().putAlias({ aliasName: 'alias/a', targetKeyId: enabled.keyId, creationDate: '', lastUpdatedDate: '' })),
      store.write(
        store.batch().putCredential({ accessKeyId: 'KHTEST', wrappedSecret: '', admin: false, description: '', createdAt: '' }),
      ),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await isSettled(writing)).to.equal(false);
    release();
    await writing;
    const keys = changes.flatMap((change) => change.keys);
    expect(keys).to.have.deep.members([
      { keyId: enabled.keyId, keyState: 'Enabled', currentVersion: 3 },
      { keyId: deleted.keyId, keyState: 'Deleted', currentVersion: 2 },
    ]);
    expect(changes.some((change) => change.aliases)).to.equal(true);
    expect(changes.some((change) => change.credentials)).to.equal(true);
  });

  it('answers the writers even if the commit listener fails: their data is durable', async () => {
    store.onCommit(() => Promise.reject(new Error('listener failed')));
    const record = keyRecord();
    await store.write(store.batch().putKey(record));
    expect(await store.getKey(record.keyId)).to.deep.equal(record);
  });

  it('finishes the writes already queued before it closes', async () => {
    const record = keyRecord();
    const writing = store.write(store.batch().putKey(record));
    await store.close();
    await writing;
    store = await LevelDbStore.open(dir.path);
    expect(await store.getKey(record.keyId)).to.deep.equal(record);
  });
});
