import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Level } from 'level';
import { StartupError } from '../../src/errors.js';
import { hasVersions } from '../../src/kms/key-kinds/index.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { versionRecordKey } from '../../src/store/store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore, sampleKeyRecord as keyRecord } from '../helpers/temp-store.js';

const STORE_MODULE = new URL('../../src/store/leveldb-store.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx');


interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module snippet in a fresh `node --import tsx` process, another process than the test's. */
function runInChild(source: string, env: Record<string, string>): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', source], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('Store', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let store: LevelDbStore;

  beforeEach(async () => ({ dir, store } = await openTempStore()));
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  describe('open', () => {
    it('opens in a directory and, reopened, holds the same data', async () => {
      const record = keyRecord();
      const material = randomBytes(60);
      await store.write(
        store
          .batch()
          .putKey(record)
          .putVersion(record.keyId, 1, material)
          .putCredential({ accessKeyId: 'KHTEST', wrappedSecret: 'c2VjcmV0', admin: true, description: 'd', createdAt: 'now' })
          .auditChange({ principal: 'test' }, { action: 'CreateKey', keyId: record.keyId }, new Date('2030-01-01T00:00:00.000Z')),
      );
      expect(store.isOpen).to.equal(true);
      await store.close();
      expect(store.isOpen).to.equal(false);

      store = await LevelDbStore.open(dir.path);
      expect(await store.getKey(record.keyId)).to.deep.equal(record);
      expect((await store.getVersion(record.keyId, 1))!.equals(material)).to.equal(true);
      expect((await store.listCredentials()).map((credential) => credential.accessKeyId)).to.deep.equal(['KHTEST']);
      expect((await store.listAudit()).map(({ Time, Action, Principal, KeyId, Seq }) => ({ Time, Action, Principal, KeyId, Seq }))).to.deep.equal([
        { Time: '2030-01-01T00:00:00.000Z', Action: 'CreateKey', Principal: 'test', KeyId: record.keyId, Seq: 1 },
      ]);
    });

    it('creates the directory when it does not exist yet', async () => {
      const nested = `${dir.path}/not/yet/there`;
      const other = await LevelDbStore.open(nested);
      try {
        expect(other.isOpen).to.equal(true);
        expect(other.location).to.equal(`${nested}/store`);
      } finally {
        await other.close();
      }
    });

    it('answers undefined for records that are not there', async () => {
      expect(await store.getKey(randomUUID())).to.equal(undefined);
      expect(await store.getVersion(randomUUID(), 1)).to.equal(undefined);
      expect(await store.getRootKeyRecord()).to.equal(undefined);
    });

    it('refuses a second open of the same directory in this process with "store in use", naming KEYHOLD_DATA_DIR', async () => {
      let error: unknown;
      try {
        const second = await LevelDbStore.open(dir.path);
        await second.close();
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(StartupError);
      expect((error as StartupError).variable).to.equal('KEYHOLD_DATA_DIR');
      expect((error as StartupError).message).to.match(/^KEYHOLD_DATA_DIR: store in use/);
      expect(store.isOpen, 'the first store stays open').to.equal(true);
    });

    it('refuses a second process with "store in use", naming KEYHOLD_DATA_DIR', async () => {
      const result = await runInChild(
        `
        const { LevelDbStore } = await import(process.env.STORE_MODULE);
        try {
          const store = await LevelDbStore.open(process.env.DATA_DIR);
          await store.close();
          console.log(JSON.stringify({ opened: true }));
        } catch (error) {
          console.log(JSON.stringify({ name: error.name, variable: error.variable, message: error.message }));
        }
        `,
        { STORE_MODULE, DATA_DIR: dir.path },
      );
      expect(result.code, result.stderr).to.equal(0);
      const answer = JSON.parse(result.stdout) as { name: string; variable: string; message: string };
      expect(answer.name).to.equal('StartupError');
      expect(answer.variable).to.equal('KEYHOLD_DATA_DIR');
      expect(answer.message).to.match(/^KEYHOLD_DATA_DIR: store in use/);
    });

    it('opens again once the holder has closed it', async () => {
      await store.close();
      store = await LevelDbStore.open(dir.path);
      expect(store.isOpen).to.equal(true);
    });
  });

  describe('audit', () => {
    it('reads back in the order it was written, also within one millisecond', async () => {
      const sameInstant = new Date('2026-11-23T10:00:00.000Z');
      for (let i = 0; i < 20; i++) {
        await store.write(store.batch().auditChange({ principal: 'test' }, { action: `Step${i}` }, sameInstant));
      }
      const actions = (await store.listAudit()).map((entry) => entry.Action);
      expect(actions).to.deep.equal(Array.from({ length: 20 }, (_, i) => `Step${i}`));
    });
  });

  describe('write', () => {
    it('lands a batch over several sublevels whole', async () => {
      const record = keyRecord();
      const material = randomBytes(60);
      const batch = store
        .batch()
        .putKey(record)
        .putVersion(record.keyId, 1, material)
        .auditChange({ principal: 'test' }, { action: 'CreateKey', keyId: record.keyId }, new Date());
      expect(batch.operations).to.have.length(3);
      await store.write(batch);

      expect(await store.getKey(record.keyId)).to.deep.equal(record);
      expect((await store.getVersion(record.keyId, 1))!.equals(material)).to.equal(true);
      expect((await store.listAudit()).map((entry) => entry.KeyId)).to.deep.equal([record.keyId]);
    });

    it('writes none of a batch when one of its operations is invalid', async () => {
      const record = keyRecord();
      const batch = store
        .batch()
        .putKey(record)
        .putVersion(record.keyId, 1, undefined as unknown as Buffer)
        .auditChange({ principal: 'test' }, { action: 'CreateKey', keyId: record.keyId }, new Date());

      let failed = false;
      await store.write(batch).catch(() => (failed = true));
      expect(failed, 'the write rejects').to.equal(true);
      expect(await store.getKey(record.keyId)).to.equal(undefined);
      expect(await store.listAudit()).to.deep.equal([]);
    });

    it('treats an empty batch as nothing to do', async () => {
      await store.write(store.batch());
      expect(await store.listKeys(undefined, 10)).to.deep.equal([]);
    });

    it('asks LevelDB for a synced write (sync: true) for every batch', async () => {
      // A call-through spy on the LevelDB binding's batch, not a mock: the write still happens.
      const prototype = Level.prototype as unknown as { _batch: (operations: unknown[], options: object) => Promise<void> };
      const original = prototype._batch;
      const seen: Array<{ sync?: boolean }> = [];
      prototype._batch = function (this: unknown, operations, options) {
        seen.push(options);
        return original.call(this, operations, options);
      };
      const record = keyRecord();
      try {
        await store.write(store.batch().putKey(record));
        await store.write(store.batch().putKey({ ...record, keyState: 'Disabled' }));
      } finally {
        prototype._batch = original;
      }
      expect(seen).to.have.length(2);
      for (const options of seen) expect(options.sync).to.equal(true);
      expect((await store.getKey(record.keyId))!.keyState).to.equal('Disabled');
    });

    it('keeps every batch whose write resolved when the process is killed (SIGKILL) right after', async () => {
      await store.close();
      const keyIds = Array.from({ length: 20 }, () => randomUUID());
      const result = await runInChild(
        `
        const { LevelDbStore } = await import(process.env.STORE_MODULE);
        const store = await LevelDbStore.open(process.env.DATA_DIR);
        await store.useAuditKey(Buffer.alloc(32, 1));
        for (const keyId of JSON.parse(process.env.KEY_IDS)) {
          await store.write(
            store.batch()
              .putKey({ keyId, description: '', keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT',
                        keyState: 'Enabled', origin: 'KEYHOLD', creationDate: '2030-01-01T00:00:00.000Z',
                        tags: [], currentVersion: 1 })
              .putVersion(keyId, 1, Buffer.alloc(60, 7))
              .auditChange({ principal: 'child' }, { action: 'CreateKey', keyId }, new Date()),
          );
        }
        process.kill(process.pid, 'SIGKILL');
        `,
        { STORE_MODULE, DATA_DIR: dir.path, KEY_IDS: JSON.stringify(keyIds) },
      );
      expect(result.signal, result.stderr).to.equal('SIGKILL');

      store = await LevelDbStore.open(dir.path);
      const stored = await store.listKeys(undefined, 100);
      expect(stored.map((record) => record.keyId)).to.have.members(keyIds);
      for (const keyId of keyIds) {
        expect((await store.getVersion(keyId, 1))!.equals(Buffer.alloc(60, 7)), keyId).to.equal(true);
      }
      expect(await store.listAudit()).to.have.length(keyIds.length);
    });
  });

  describe('getKeyWithVersion', () => {
    it("reads a key's record with the wrapped material of its current version, or of the one asked for", async () => {
      const record = keyRecord({ currentVersion: 2 });
      const [one, two] = [randomBytes(60), randomBytes(60)];
      await store.write(store.batch().putKey(record).putVersion(record.keyId, 1, one).putVersion(record.keyId, 2, two));
      const current = await store.getKeyWithVersion(record.keyId, 'current', hasVersions);
      expect(current.record).to.deep.equal(record);
      expect(current.wrapped!.equals(two)).to.equal(true);
      expect((await store.getKeyWithVersion(record.keyId, 1, hasVersions)).wrapped!.equals(one)).to.equal(true);
    });

    it('reads no material for a version the record does not have, and nothing for a missing key', async () => {
      const record = keyRecord({ currentVersion: 1 });
      // A stray version beyond the record's is never handed out.
      await store.write(store.batch().putKey(record).putVersion(record.keyId, 1, randomBytes(60)).putVersion(record.keyId, 2, randomBytes(60)));
      for (const version of [0, 2, 1.5, -1]) {
        const read = await store.getKeyWithVersion(record.keyId, version, hasVersions);
        expect(read.record).to.deep.equal(record);
        expect(read.wrapped).to.equal(undefined);
      }
      expect(await store.getKeyWithVersion(randomUUID(), 'current', hasVersions)).to.deep.equal({ record: undefined, wrapped: undefined });
    });

    it('sends no material of a key a symmetric operation cannot use: not Enabled, or asymmetric', async () => {
      for (const record of [
        keyRecord({ keyState: 'Disabled' }),
        keyRecord({ keyState: 'PendingDeletion', deletionDate: '2030-02-01T00:00:00.000Z' }),
        keyRecord({ keySpec: 'RSA_2048' }),
      ]) {
        await store.write(store.batch().putKey(record).putVersion(record.keyId, 1, randomBytes(60)));
        expect(await store.getKeyWithVersion(record.keyId, 'current', hasVersions)).to.deep.equal({ record, wrapped: undefined });
      }
    });
  });

  describe('listKeys', () => {
    const keyIds = [
      '9a000000-0000-4000-8000-000000000000',
      '1b000000-0000-4000-8000-000000000000',
      'f3000000-0000-4000-8000-000000000000',
      '4c000000-0000-4000-8000-000000000000',
      '07000000-0000-4000-8000-000000000000',
    ];
    const sorted = [...keyIds].sort();

    beforeEach(async () => {
      const batch = store.batch();
      for (const keyId of keyIds) batch.putKey(keyRecord({ keyId }));
      await store.write(batch);
    });

    it('lists keys in KeyId order, at most `limit` of them', async () => {
      expect((await store.listKeys(undefined, 10)).map((record) => record.keyId)).to.deep.equal(sorted);
      expect((await store.listKeys(undefined, 2)).map((record) => record.keyId)).to.deep.equal(sorted.slice(0, 2));
    });

    it('starts after `afterKeyId`, so pages follow one another without overlap', async () => {
      const pages: string[][] = [];
      let after: string | undefined;
      for (let request = 0; request < keyIds.length + 1; request += 1) {
        const page = (await store.listKeys(after, 2)).map((record) => record.keyId);
        if (page.length === 0) break;
        pages.push(page);
        after = page[page.length - 1];
      }
      expect(pages).to.deep.equal([sorted.slice(0, 2), sorted.slice(2, 4), sorted.slice(4)]);
    });

    it('starts after an `afterKeyId` that is not itself stored', async () => {
      const page = await store.listKeys('50000000-0000-4000-8000-000000000000', 10);
      expect(page.map((record) => record.keyId)).to.deep.equal(sorted.filter((keyId) => keyId > '5'));
    });
  });

  describe('compact', () => {
    /** The names of the files in the store's LevelDB directory that hold `bytes`. */
    const filesHolding = (bytes: Buffer) => readdirSync(store.location).filter((name) => readFileSync(path.join(store.location, name)).includes(bytes));

    it("takes deleted material out of LevelDB's files, also in a young store whose every record was still in memory", async () => {
      const record = keyRecord();
      const material = randomBytes(48);
      await store.write(store.batch().putKey(record).putVersion(record.keyId, 1, material));
      // The search can succeed: the material is in the write-ahead log.
      expect(filesHolding(material)).to.not.deep.equal([]);
      await store.write(store.batch().deleteKey(record));
      await store.compact();
      expect(await store.getVersion(record.keyId, 1)).to.equal(undefined);
      expect(filesHolding(material)).to.deep.equal([]);
    });

    it('keeps what was not deleted, across a reopen', async () => {
      const kept = keyRecord();
      const gone = keyRecord();
      await store.write(store.batch().putKey(kept).putVersion(kept.keyId, 1, Buffer.from('kept')).putKey(gone).putVersion(gone.keyId, 1, Buffer.from('gone')));
      await store.write(store.batch().deleteKey(gone));
      await store.compact();
      await store.close();
      store = await LevelDbStore.open(dir.path);
      expect(await store.getKey(kept.keyId)).to.deep.equal(kept);
      expect((await store.getVersion(kept.keyId, 1))!.toString()).to.equal('kept');
      expect(await store.getKey(gone.keyId)).to.equal(undefined);
    });
  });

  describe('versionRecordKey', () => {
    it('is `<KeyId>!<version as 10 digits>`', () => {
      const keyId = '1b000000-0000-4000-8000-000000000000';
      expect(versionRecordKey(keyId, 1)).to.equal(`${keyId}!0000000001`);
      expect(versionRecordKey(keyId, 42)).to.equal(`${keyId}!0000000042`);
      expect(versionRecordKey(keyId, 0xffff_ffff)).to.equal(`${keyId}!4294967295`);
    });

    it('makes the versions of one key sort numerically in the store', async () => {
      const record = keyRecord();
      const other = keyRecord();
      const versions = [10, 2, 100, 1, 9, 11];
      const batch = store.batch();
      for (const version of versions) {
        batch.putVersion(record.keyId, version, Buffer.from([version]));
        batch.putVersion(other.keyId, version, Buffer.from([0]));
      }
      await store.write(batch);

      const stored = await store.versions.keys({ gt: `${record.keyId}!`, lt: `${record.keyId}!~` }).all();
      expect(stored).to.deep.equal([1, 2, 9, 10, 11, 100].map((version) => versionRecordKey(record.keyId, version)));
      expect((await store.getVersion(record.keyId, 100))!.equals(Buffer.from([100]))).to.equal(true);
    });
  });
});
