import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { streamBackup } from '../../src/api/actions/backup-store.js';
import type { Principal } from '../../src/auth/principal.js';
import { BACKUP_FORMAT, BackupFormatError, encodeHeader, encodeRecord, encodeTrailer, MAX_LINE_BYTES, type BackupRecord } from '../../src/backup/format.js';
import { MAX_OPEN_SNAPSHOTS, SNAPSHOT_PAGE_RECORDS, StoreSnapshots } from '../../src/backup/snapshots.js';
import { BackupVerifier } from '../../src/backup/verifier.js';
import { runsOnPrimary } from '../../src/cluster/protocol.js';
import { AccessDeniedException, ThrottlingException } from '../../src/errors.js';
import type { RootKeyRecord } from '../../src/store/records.js';
import type { Store } from '../../src/store/store.js';
import { rejectionOf } from '../helpers/rejection.js';
import { openTempStore, sampleKeyRecord } from '../helpers/temp-store.js';

const ROOT: RootKeyRecord = {
  storeVersion: 1,
  master: { kind: 'passphrase', kdf: 'pbkdf2-sha256', iterations: 1000, salt: 'c2FsdA==' },
  wrappedRootKey: 'd3JhcHBlZA==',
  keyCheckValue: 'Y2hlY2s=',
  createdAt: '2030-01-01T00:00:00.000Z',
};

/** A well-formed backup of `records` plus the store's root-key record. */
function backupOf(records: BackupRecord[]): Buffer {
  const all = [...records, { sublevel: 'meta' as const, key: 'root', value: Buffer.from(JSON.stringify(ROOT)) }];
  const body = encodeHeader({ format: BACKUP_FORMAT, version: 1, createdAt: '2030-01-02T00:00:00.000Z', storeVersion: 1, rootKey: ROOT }) + all.map(encodeRecord).join('');
  return Buffer.from(body + encodeTrailer(all.length, createHash('sha256').update(body).digest('hex')));
}

function verify(bytes: Buffer, chunkBytes = bytes.length): BackupRecord[] {
  const verifier = new BackupVerifier();
  const records: BackupRecord[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) records.push(...verifier.push(bytes.subarray(at, at + chunkBytes)));
  verifier.finish();
  return records;
}

function refusal(bytes: Buffer): string {
  try {
    verify(bytes);
  } catch (error) {
    expect(error).to.be.instanceOf(BackupFormatError);
    return (error as Error).message;
  }
  return expect.fail('the backup should have been refused');
}

const RECORDS: BackupRecord[] = [
  { sublevel: 'keys', key: 'k1', value: Buffer.from('{"keyId":"k1"}') },
  { sublevel: 'versions', key: 'k1!0000000001', value: Buffer.from([0, 1, 2, 255]) },
];

describe('backup file', () => {
  it('reads back every record, also when the bytes arrive one at a time', () => {
    const bytes = backupOf(RECORDS);
    for (const chunk of [1, 3, 64, bytes.length]) {
      const records = verify(bytes, chunk);
      expect(records.map((record) => [record.sublevel, record.key, record.value.toString('hex')])).to.deep.equal([
        ['keys', 'k1', Buffer.from('{"keyId":"k1"}').toString('hex')],
        ['versions', 'k1!0000000001', '000102ff'],
        ['meta', 'root', Buffer.from(JSON.stringify(ROOT)).toString('hex')],
      ]);
    }
  });

  it('refuses a backup with one byte changed (checksum)', () => {
    const bytes = backupOf(RECORDS);
    const at = bytes.indexOf('"value":"') + 10;
    bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
    expect(refusal(bytes)).to.match(/checksum does not match/);
  });

  it('refuses a backup cut at any point', () => {
    const bytes = backupOf(RECORDS);
    for (let length = 0; length < bytes.length; length += 7) expect(refusal(bytes.subarray(0, length))).to.match(/incomplete|ends early/);
    // Cut exactly after a record line: the last line is no trailer.
    const lastRecordEnd = bytes.lastIndexOf('\n', bytes.length - 2) + 1;
    expect(refusal(bytes.subarray(0, lastRecordEnd))).to.match(/incomplete/);
  });

  it('refuses a file that is not a Keyhold backup', () => {
    expect(refusal(Buffer.from('{"format":"other"}\n'))).to.match(/not a Keyhold backup/);
    expect(refusal(Buffer.from('hello\n'))).to.match(/not valid JSON/);
  });

  it('refuses a trailer whose record count differs', () => {
    const text = backupOf(RECORDS).toString().replace(/"records":3/, '"records":4');
    expect(refusal(Buffer.from(text))).to.match(/holds 3 records, its trailer says 4/);
  });

  it('refuses a record of an unknown sublevel', () => {
    expect(refusal(backupOf([{ sublevel: 'elsewhere' as never, key: 'x', value: Buffer.from('1') }]))).to.match(/unknown sublevel/);
  });

  it("refuses a root-key record that differs from the header's", () => {
    const other = { ...ROOT, keyCheckValue: 'b3RoZXI=' };
    const body =
      encodeHeader({ format: BACKUP_FORMAT, version: 1, createdAt: 'x', storeVersion: 1, rootKey: ROOT }) +
      encodeRecord({ sublevel: 'meta', key: 'root', value: Buffer.from(JSON.stringify(other)) });
    const bytes = Buffer.from(body + encodeTrailer(1, createHash('sha256').update(body).digest('hex')));
    expect(refusal(bytes)).to.match(/differs from its header/);
  });

  it('refuses a line longer than MAX_LINE_BYTES without holding it', () => {
    const verifier = new BackupVerifier();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    expect(() => {
      for (let sent = 0; sent <= MAX_LINE_BYTES + chunk.length; sent += chunk.length) verifier.push(chunk);
    }).to.throw(BackupFormatError, /longer than/);
  });
});

describe('store snapshots', () => {
  let store: Store;
  let remove: () => void;
  beforeEach(async () => {
    const opened = await openTempStore();
    store = opened.store;
    remove = () => opened.dir.remove();
    await store.write(store.batch().putRootKey(ROOT));
  });
  afterEach(async () => {
    await store.close();
    remove();
  });

  async function readAll(snapshots: StoreSnapshots, snapshotId: string): Promise<BackupRecord[]> {
    const records: BackupRecord[] = [];
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await snapshots.next(snapshotId);
      records.push(...page.records);
      if (page.done) return records;
    }
    return expect.fail('the snapshot never ended');
  }

  it('is one point in time: writes after it opened are not in it', async () => {
    const earlier = sampleKeyRecord();
    await store.write(store.batch().putKey(earlier));
    const snapshots = new StoreSnapshots(store);
    const { snapshotId, rootKey } = await snapshots.open();
    expect(rootKey).to.deep.equal(ROOT);
    const later = sampleKeyRecord();
    await store.write(store.batch().putKey(later).deleteKey(earlier));
    const keys = (await readAll(snapshots, snapshotId)).filter((record) => record.sublevel === 'keys').map((record) => record.key);
    expect(keys).to.deep.equal([earlier.keyId]);
    expect(snapshots.size).to.equal(0);
  });

  it('pages through more entries than LevelDB reads ahead, every page full but the last', async () => {
    const count = SNAPSHOT_PAGE_RECORDS * 3 + 17;
    const batch = store.batch();
    for (let index = 0; index < count; index++) batch.putVersion(`key-${String(index).padStart(6, '0')}`, 1, Buffer.alloc(60, index));
    await store.write(batch);
    const snapshots = new StoreSnapshots(store);
    const { snapshotId } = await snapshots.open();
    const sizes: number[] = [];
    for (let page = await snapshots.next(snapshotId); ; page = await snapshots.next(snapshotId)) {
      sizes.push(page.records.length);
      if (page.done) break;
    }
    // Besides the versions: the store's identity and its commit number (meta), and one more.
    expect(sizes.reduce((sum, size) => sum + size, 0)).to.equal(count + 3);
    expect(sizes.slice(0, 3)).to.deep.equal([SNAPSHOT_PAGE_RECORDS, SNAPSHOT_PAGE_RECORDS, SNAPSHOT_PAGE_RECORDS]);
  });

  it('closes a snapshot nobody reads after its idle time', async () => {
    const snapshots = new StoreSnapshots(store, 20);
    await snapshots.open();
    for (let waited = 0; snapshots.size > 0 && waited < 200; waited++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(snapshots.size).to.equal(0);
  });

  it(`refuses more than ${MAX_OPEN_SNAPSHOTS} snapshots at once with ThrottlingException`, async () => {
    const snapshots = new StoreSnapshots(store);
    for (let index = 0; index < MAX_OPEN_SNAPSHOTS; index++) await snapshots.open();
    await rejectionOf(snapshots.open(), ThrottlingException);
    await snapshots.closeAll();
    expect(snapshots.size).to.equal(0);
  });

  it('restores the stored bytes exactly with putRaw', async () => {
    const record = sampleKeyRecord();
    await store.write(store.batch().putKey(record).putVersion(record.keyId, 1, Buffer.from([9, 8, 7])));
    const snapshots = new StoreSnapshots(store);
    const records = await readAll(snapshots, (await snapshots.open()).snapshotId);
    const target = await openTempStore();
    try {
      const batch = target.store.batch();
      for (const each of records) batch.putRaw(each.sublevel, each.key, each.value);
      await target.store.write(batch);
      expect(await target.store.getKey(record.keyId)).to.deep.equal(record);
      expect(await target.store.getVersion(record.keyId, 1)).to.deep.equal(Buffer.from([9, 8, 7]));
      expect(await target.store.getRootKeyRecord()).to.deep.equal(ROOT);
      expect(() => target.store.batch().putRaw('elsewhere', 'x', Buffer.alloc(1))).to.throw(/no sublevel/);
    } finally {
      await target.store.close();
      target.dir.remove();
    }
  });
});

describe('BackupStore action', () => {
  it('refuses a credential that is not admin with AccessDeniedException (403)', async () => {
    const { store, dir } = await openTempStore();
    try {
      await store.write(store.batch().putRootKey(ROOT));
      const principal: Principal = { accessKeyId: 'KHREADONLY', admin: false };
      const source = new StoreSnapshots(store);
      const error = await rejectionOf(streamBackup({} as never, { source, principal, requestId: 'r', security: [], clock: () => new Date() }), AccessDeniedException);
      expect(error.status).to.equal(403);
      expect(source.size).to.equal(0);
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('is reachable from a worker only through the snapshot calls', () => {
    for (const method of ['open', 'next', 'close']) expect(runsOnPrimary('snapshots', method), method).to.equal(true);
    expect(runsOnPrimary('snapshots', 'closeAll')).to.equal(false);
    expect(runsOnPrimary('snapshots', 'constructor')).to.equal(false);
  });
});
