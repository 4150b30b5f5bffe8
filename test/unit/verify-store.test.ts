import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { macKeyAad, versionKeyAad, wrapKey } from '../../src/crypto/index.js';
import { KeyService } from '../../src/kms/key-service.js';
import { unwrapRootKeyRecord } from '../../src/kms/root-key.js';
import { describeCounts, verifyStoreRecords } from '../../src/kms/verify-store.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { versionRecordKey } from '../../src/store/store.js';
import { buildKeyholdStore, fixtureMasterKey, type KeyholdStoreFixture } from '../helpers/keyhold-store-fixture.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** Raw access to a sublevel, to damage a record as a disk or a bug would. */
type RawSublevel = {
  get(key: string, options?: { valueEncoding: string }): Promise<unknown>;
  put(key: string, value: unknown, options?: { valueEncoding: string }): Promise<void>;
  del(key: string): Promise<void>;
};
const raw = (sublevel: unknown) => sublevel as RawSublevel;

describe('verifyStoreRecords', function () {
  this.timeout(120_000);
  let temp: ReturnType<typeof makeTempDir>;
  let fixture: KeyholdStoreFixture;
  let store: LevelDbStore;
  let rootKey: Buffer;
  let copies = 0;

  before(async () => {
    temp = makeTempDir();
    fixture = await buildKeyholdStore(path.join(temp.path, 'fixture'));
  });
  after(() => temp.remove());
  beforeEach(async () => {
    const dataDir = path.join(temp.path, `copy-${copies++}`);
    cpSync(path.join(temp.path, 'fixture'), dataDir, { recursive: true });
    store = await LevelDbStore.open(dataDir);
    rootKey = await unwrapRootKeyRecord((await store.getRootKeyRecord())!, fixtureMasterKey());
  });
  afterEach(async () => {
    rootKey.fill(0);
    await store.close();
    rmSync(path.dirname(store.location), { recursive: true, force: true });
  });

  async function problems(): Promise<string[]> {
    return (await verifyStoreRecords(store, rootKey)).problems.map((entry) => entry.message);
  }

  it('finds a store made by the real KeyService intact, and counts every kind of record', async () => {
    const result = await verifyStoreRecords(store, rootKey);
    expect(result.problems).to.deep.equal([]);
    expect(result.problemCount).to.equal(0);
    // meta: the root key, the store's identity, its commit number and the audit chain's head.
    // 23 keys; versions: 20 + 3 (rotated) + 1 (pending) + 1 (private key).
    expect(result.counts).to.include({ meta: 4, keys: 23, versions: 25, aliases: 1, rotations: 2, schedule: 2, credentials: 1 });
    expect(result.counts.audit).to.be.greaterThan(20);
    expect(describeCounts(result.counts)).to.match(/^meta 4, keys 23, versions 25, aliases 1, rotations 2, schedule 2, credentials 1, audit \d+$/);
  });

  it('reports a key whose version record was deleted', async () => {
    await raw(store.versions).del(versionRecordKey(fixture.rotatedKeyId, 2));
    expect(await problems()).to.deep.equal([`keys/${fixture.rotatedKeyId}: missing version 2`]);
  });

  it('reports a key that lost its newest versions', async () => {
    await raw(store.versions).del(versionRecordKey(fixture.rotatedKeyId, 2));
    await raw(store.versions).del(versionRecordKey(fixture.rotatedKeyId, 3));
    expect(await problems()).to.deep.equal([`keys/${fixture.rotatedKeyId}: missing version 2..3`]);
  });

  it('reports a version whose wrapped bytes were altered', async () => {
    const key = versionRecordKey(fixture.rotatedKeyId, 3);
    const wrapped = (await store.getVersion(fixture.rotatedKeyId, 3))!;
    wrapped[20]! ^= 1;
    await raw(store.versions).put(key, wrapped);
    expect(await problems()).to.deep.equal([`versions/${key}: does not unwrap under the root key`]);
  });

  it('reports a version moved to another version number (its AAD names the old one)', async () => {
    const wrapped = (await store.getVersion(fixture.rotatedKeyId, 1))!;
    await raw(store.versions).put(versionRecordKey(fixture.rotatedKeyId, 2), wrapped);
    expect(await problems()).to.deep.equal([`versions/${versionRecordKey(fixture.rotatedKeyId, 2)}: does not unwrap under the root key`]);
  });

  it('reports an asymmetric key whose wrapped private key was altered', async () => {
    const wrapped = (await store.getVersion(fixture.asymmetricKeyId, 1))!;
    wrapped[wrapped.length - 1]! ^= 1;
    await raw(store.versions).put(versionRecordKey(fixture.asymmetricKeyId, 1), wrapped);
    expect(await problems()).to.deep.equal([`versions/${versionRecordKey(fixture.asymmetricKeyId, 1)}: does not unwrap under the root key`]);
  });

  it('finds HMAC keys intact, and reports HMAC material altered, or of another length than the spec under its own AAD', async () => {
    await store.useAuditKey(rootKey);
    const service = new KeyService({ store, rootKey });
    const altered = (await service.createKey({ keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' })).KeyId;
    const short = (await service.createKey({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' })).KeyId;
    expect(await problems()).to.deep.equal([]);
    const wrapped = (await store.getVersion(altered, 1))!;
    wrapped[14]! ^= 1;
    await raw(store.versions).put(versionRecordKey(altered, 1), wrapped);
    // 32 bytes wrapped exactly as an HMAC_384 key's 48 would be: unwraps, but is not that key's material.
    await raw(store.versions).put(versionRecordKey(short, 1), wrapKey(rootKey, randomBytes(32), macKeyAad(short, 1)));
    expect((await problems()).sort()).to.deep.equal(
      [`versions/${versionRecordKey(altered, 1)}: does not unwrap under the root key`, `versions/${versionRecordKey(short, 1)}: does not unwrap under the root key`].sort(),
    );
  });

  it('takes an imported HMAC secret of any length its spec accepts, and reports one outside it or under the envelope AAD', async () => {
    await store.useAuditKey(rootKey);
    const service = new KeyService({ store, rootKey });
    const keyId = (await service.createKey({ origin: 'EXTERNAL', keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' })).KeyId;
    // PendingImport: no version expected.
    expect(await problems()).to.deep.equal([]);
    const record = (await store.getKey(keyId))!;
    const imported = { ...record, keyState: 'Enabled' as const, importedMaterial: { fingerprint: 'AA==', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const } };
    await store.write(store.batch().putKey(imported));
    expect(await problems()).to.deep.equal([`keys/${keyId}: missing version 1`]);
    const put = (secret: Buffer, aad: string) => raw(store.versions).put(versionRecordKey(keyId, 1), wrapKey(rootKey, secret, aad));
    for (const length of [48, 100, 128]) {
      await put(randomBytes(length), macKeyAad(keyId, 1));
      expect(await problems(), `${length} bytes`).to.deep.equal([]);
    }
    const refused: [number, string][] = [[47, macKeyAad(keyId, 1)], [129, macKeyAad(keyId, 1)], [48, versionKeyAad(keyId, 1)]];
    for (const [length, aad] of refused) {
      await put(randomBytes(length), aad);
      expect(await problems(), `${length} bytes, ${aad}`).to.deep.equal([`versions/${versionRecordKey(keyId, 1)}: does not unwrap under the root key`]);
    }
    // Deleted material: the key expects no version, and the one left is reported.
    await store.write(store.batch().putKey({ ...imported, keyState: 'PendingImport', importedMaterial: { ...imported.importedMaterial, deleted: true } }));
    expect(await problems()).to.deep.equal([`versions/${versionRecordKey(keyId, 1)}: key ${keyId} has no version 1 (none key with 0)`]);
  });

  it('reports a version record of a key that does not exist', async () => {
    const ghost = randomUUID();
    await raw(store.versions).put(versionRecordKey(ghost, 1), (await store.getVersion(fixture.rotatedKeyId, 1))!);
    expect(await problems()).to.deep.equal([`versions/${versionRecordKey(ghost, 1)}: version of a key that does not exist`]);
  });

  it('reports a version past the key’s current version', async () => {
    await raw(store.versions).put(versionRecordKey(fixture.rotatedKeyId, 4), (await store.getVersion(fixture.rotatedKeyId, 1))!);
    expect(await problems()).to.deep.equal([
      `versions/${versionRecordKey(fixture.rotatedKeyId, 4)}: key ${fixture.rotatedKeyId} has no version 4 (symmetric key with 3)`,
    ]);
  });

  it('reports a version record whose key is not <KeyId>!<version>, also one equal to a KeyId', async () => {
    const wrapped = (await store.getVersion(fixture.rotatedKeyId, 1))!;
    await raw(store.versions).put(fixture.pendingKeyId, wrapped);
    await raw(store.versions).put(`${fixture.rotatedKeyId}!x`, wrapped);
    expect((await problems()).sort()).to.deep.equal(
      [`versions/${fixture.pendingKeyId}: not a <KeyId>!<version> key`, `versions/${fixture.rotatedKeyId}!x: not a <KeyId>!<version> key`].sort(),
    );
  });

  it('reports a key record that does not parse', async () => {
    await raw(store.keys).put(fixture.pendingKeyId, '{"keyId": ', { valueEncoding: 'utf8' });
    expect(await problems()).to.deep.equal([`keys/${fixture.pendingKeyId}: is not a readable key record`]);
  });

  it('reports an alias pointing at a missing key', async () => {
    const ghost = randomUUID();
    const now = new Date().toISOString();
    await store.write(store.batch().putAlias({ aliasName: 'alias/ghost', targetKeyId: ghost, creationDate: now, lastUpdatedDate: now }));
    expect(await problems()).to.deep.equal([`aliases/alias/ghost: points at key ${ghost}, which does not exist`]);
  });

  it('reports a schedule entry for a missing key', async () => {
    const keyId = randomUUID();
    await store.write(store.batch().putSchedule({ due: '2030-01-01T00:00:00.000Z', work: 'delete', keyId }));
    expect(await problems()).to.deep.equal([`schedule/2030-01-01T00:00:00.000Z!delete!${keyId}: schedules key ${keyId}, which does not exist`]);
  });

  it('reports a rotation record of a missing key', async () => {
    const ghost = randomUUID();
    await store.write(store.batch().putRotation({ keyId: ghost, version: 2, rotationDate: new Date().toISOString(), rotationType: 'ON_DEMAND' }));
    expect(await problems()).to.deep.equal([`rotations/${versionRecordKey(ghost, 2)}: rotation of key ${ghost}, which does not exist`]);
  });

  it('reports a credential whose wrapped secret was altered', async () => {
    const [credential] = await store.listCredentials();
    const wrapped = Buffer.from(credential!.wrappedSecret, 'base64');
    wrapped[15]! ^= 1;
    await store.write(store.batch().putCredential({ ...credential!, wrappedSecret: wrapped.toString('base64') }));
    expect(await problems()).to.deep.equal([`credentials/${fixture.accessKeyId}: secret does not unwrap under the root key`]);
  });

  it('reports an audit line that does not parse', async () => {
    await raw(store.audit).put('2030-01-01T00:00:00.000Z!000000000000', 'garbage', { valueEncoding: 'utf8' });
    expect(await problems()).to.deep.equal(['audit/2030-01-01T00:00:00.000Z!000000000000: is not a readable audit record']);
  });
});
