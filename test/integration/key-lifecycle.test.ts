import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyService } from '../../src/kms/key-service.js';
import { openRootKey } from '../../src/kms/root-key.js';
import { PassphraseMasterKey } from '../../src/providers/master-keys/passphrase.js';
import { openHarness, openTestStore, storedRecords, TEST_PASSPHRASE, type Harness } from '../helpers/service-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const DAY = 86_400_000;

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function versionOf(blob: string): number {
  return Buffer.from(blob, 'base64').readUInt32BE(17);
}

describe('key lifecycle (rotation, aliases, tags, deletion)', () => {
  let h: Harness;
  let now: number;

  before(async () => {
    now = Date.parse('2026-11-23T12:00:00Z');
    h = await openHarness({ clock: () => new Date(now) });
  });
  after(async () => {
    await h.close();
  });

  async function createKey(body: object = {}): Promise<string> {
    return (await h.call('createkey', body).expect(200)).body.KeyMetadata.KeyId;
  }

  async function encrypt(keyId: string, text: string): Promise<string> {
    return (await h.call('encrypt', { KeyId: keyId, Plaintext: b64(text) }).expect(200)).body.CiphertextBlob;
  }

  async function errorType(action: string, body: object, status = 400): Promise<string> {
    return (await h.call(action, body).expect(status)).body.__type;
  }

  describe('rotation', () => {
    it('rotatekeyondemand adds versions; encrypt uses the newest; blobs of every version keep decrypting', async () => {
      const keyId = await createKey();
      const blobs = [await encrypt(keyId, 'v1')];
      for (let i = 2; i <= 4; i++) {
        const res = await h.call('rotatekeyondemand', { KeyId: keyId }).expect(200);
        expect(res.body).to.deep.equal({ KeyId: keyId, CurrentKeyVersion: i });
        blobs.push(await encrypt(keyId, `v${i}`));
      }
      expect(blobs.map(versionOf)).to.deep.equal([1, 2, 3, 4]);
      for (const [i, blob] of blobs.entries()) {
        const res = await h.call('decrypt', { CiphertextBlob: blob }).expect(200);
        expect(Buffer.from(res.body.Plaintext, 'base64').toString()).to.equal(`v${i + 1}`);
      }
      expect((await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata.CurrentKeyVersion).to.equal(4);
    });

    it('reencrypt moves a blob to the newest version, also of its own key', async () => {
      const keyId = await createKey();
      const old = await encrypt(keyId, 'upgrade me');
      await h.call('rotatekeyondemand', { KeyId: keyId }).expect(200);
      const res = await h.call('reencrypt', { CiphertextBlob: old, DestinationKeyId: keyId }).expect(200);
      expect(versionOf(res.body.CiphertextBlob)).to.equal(2);
      expect(res.body).to.include({ KeyId: keyId, SourceKeyId: keyId });
    });

    it('listkeyrotations pages through the rotations, oldest first', async () => {
      const keyId = await createKey();
      for (let i = 0; i < 5; i++) await h.call('rotatekeyondemand', { KeyId: keyId }).expect(200);
      const seen: { RotationType: string; RotationDate: string }[] = [];
      let marker: string | undefined;
      do {
        const page = (await h.call('listkeyrotations', { KeyId: keyId, Limit: 2, ...(marker ? { Marker: marker } : {}) }).expect(200)).body;
        seen.push(...page.Rotations);
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
      expect(seen).to.have.length(5);
      expect(seen.every((rotation) => rotation.RotationType === 'ON_DEMAND')).to.equal(true);
      expect(await errorType('listkeyrotations', { KeyId: keyId, Marker: 'bogus' })).to.equal('ValidationException');
    });

    it('enablekeyrotation takes 90..2560 days (default 365); status and describekey show it; disable turns it off', async () => {
      const keyId = await createKey();
      for (const days of [89, 2561, 100.5]) {
        expect(await errorType('enablekeyrotation', { KeyId: keyId, RotationPeriodInDays: days })).to.equal('ValidationException');
      }
      await h.call('enablekeyrotation', { KeyId: keyId }).expect(200);
      const status = (await h.call('getkeyrotationstatus', { KeyId: keyId }).expect(200)).body;
      expect(status).to.deep.equal({
        KeyId: keyId,
        KeyRotationEnabled: true,
        RotationPeriodInDays: 365,
        NextRotationDate: new Date(now + 365 * DAY).toISOString(),
      });
      const metadata = (await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata;
      expect(metadata).to.include({ KeyRotationEnabled: true, RotationPeriodInDays: 365 });
      await h.call('disablekeyrotation', { KeyId: keyId }).expect(200);
      expect((await h.call('getkeyrotationstatus', { KeyId: keyId }).expect(200)).body).to.deep.equal({ KeyId: keyId, KeyRotationEnabled: false });
    });

    it('refuses to rotate or change rotation of a disabled or pending-deletion key', async () => {
      const keyId = await createKey();
      await h.call('disablekey', { KeyId: keyId }).expect(200);
      for (const action of ['rotatekeyondemand', 'enablekeyrotation', 'disablekeyrotation']) {
        expect(await errorType(action, { KeyId: keyId })).to.equal('DisabledException');
      }
      await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
      for (const action of ['rotatekeyondemand', 'enablekeyrotation', 'getkeyrotationstatus']) {
        expect(await errorType(action, { KeyId: keyId })).to.equal('KMSInvalidStateException');
      }
    });

    it('rotates due keys automatically when the clock passes their rotation date', async () => {
      const keyId = await createKey();
      const other = await createKey();
      await h.call('enablekeyrotation', { KeyId: keyId, RotationPeriodInDays: 90 }).expect(200);
      await h.call('enablekeyrotation', { KeyId: other, RotationPeriodInDays: 200 }).expect(200);
      const blob = await encrypt(keyId, 'before rotation');

      now += 91 * DAY;
      const work = await h.keyService.runScheduledWork(new Date(now));
      expect(work.rotated).to.include(keyId).and.not.include(other);

      const status = (await h.call('getkeyrotationstatus', { KeyId: keyId }).expect(200)).body;
      expect(status.NextRotationDate).to.equal(new Date(now + 90 * DAY).toISOString());
      const rotations = (await h.call('listkeyrotations', { KeyId: keyId }).expect(200)).body.Rotations;
      expect(rotations).to.deep.equal([{ KeyId: keyId, RotationDate: new Date(now).toISOString(), RotationType: 'AUTOMATIC' }]);
      expect(versionOf(await encrypt(keyId, 'after'))).to.equal(2);
      await h.call('decrypt', { CiphertextBlob: blob }).expect(200);
      expect((await h.keyService.runScheduledWork(new Date(now))).rotated).to.not.include(keyId);
    });
  });

  describe('aliases', () => {
    it('resolve in every action that takes a KeyId, by name and by resource name', async () => {
      const keyId = await createKey();
      await h.call('createalias', { AliasName: 'alias/payments', TargetKeyId: keyId }).expect(200);
      const blob = await encrypt('alias/payments', 'via alias');
      const names = ['alias/payments', 'keyhold:alias/payments'];
      for (const name of names) {
        expect((await h.call('describekey', { KeyId: name }).expect(200)).body.KeyMetadata.KeyId).to.equal(keyId);
        await h.call('decrypt', { CiphertextBlob: blob, KeyId: name }).expect(200);
        await h.call('generatedatakey', { KeyId: name, KeySpec: 'AES_256' }).expect(200);
        await h.call('generatedatakeywithoutplaintext', { KeyId: name, KeySpec: 'AES_128' }).expect(200);
        await h.call('reencrypt', { CiphertextBlob: blob, DestinationKeyId: name }).expect(200);
        await h.call('disablekey', { KeyId: name }).expect(200);
        await h.call('enablekey', { KeyId: name }).expect(200);
        await h.call('rotatekeyondemand', { KeyId: name }).expect(200);
        await h.call('enablekeyrotation', { KeyId: name }).expect(200);
        await h.call('getkeyrotationstatus', { KeyId: name }).expect(200);
        await h.call('disablekeyrotation', { KeyId: name }).expect(200);
        await h.call('listkeyrotations', { KeyId: name }).expect(200);
        await h.call('tagresource', { KeyId: name, Tags: [{ TagKey: 'via', TagValue: name }] }).expect(200);
        await h.call('untagresource', { KeyId: name, TagKeys: ['via'] }).expect(200);
        await h.call('listresourcetags', { KeyId: name }).expect(200);
        expect((await h.call('listaliases', { KeyId: name }).expect(200)).body.Aliases).to.have.length(1);
        await h.call('schedulekeydeletion', { KeyId: name }).expect(200);
        await h.call('cancelkeydeletion', { KeyId: name }).expect(200);
        await h.call('enablekey', { KeyId: name }).expect(200);
      }
      expect((await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata.Aliases).to.deep.equal(['alias/payments']);
    });

    it('lists aliases with their targets, per key and in pages', async () => {
      const keyA = await createKey();
      const keyB = await createKey();
      for (const name of ['alias/list/a1', 'alias/list/a2', 'alias/list/a3']) {
        await h.call('createalias', { AliasName: name, TargetKeyId: keyA }).expect(200);
      }
      await h.call('createalias', { AliasName: 'alias/list/b1', TargetKeyId: keyB }).expect(200);
      const perKey = (await h.call('listaliases', { KeyId: keyA }).expect(200)).body;
      expect(perKey.Aliases.map((a: { AliasName: string }) => a.AliasName)).to.deep.equal(['alias/list/a1', 'alias/list/a2', 'alias/list/a3']);
      expect(perKey.Aliases[0]).to.include({ TargetKeyId: keyA, AliasArn: 'keyhold:alias/list/a1' });
      const first = (await h.call('listaliases', { KeyId: keyA, Limit: 2 }).expect(200)).body;
      expect(first.Truncated).to.equal(true);
      const second = (await h.call('listaliases', { KeyId: keyA, Limit: 2, Marker: first.NextMarker }).expect(200)).body;
      expect(second.Aliases.map((a: { AliasName: string }) => a.AliasName)).to.deep.equal(['alias/list/a3']);
      const listed = (await h.call('listkeys', { Limit: 1000 }).expect(200)).body.Keys.find((k: { KeyId: string }) => k.KeyId === keyB);
      expect(listed.Aliases).to.deep.equal(['alias/list/b1']);
    });

    it('updatealias points an alias at another key; deletealias removes it', async () => {
      const keyA = await createKey();
      const keyB = await createKey();
      await h.call('createalias', { AliasName: 'alias/moving', TargetKeyId: keyA }).expect(200);
      await h.call('updatealias', { AliasName: 'alias/moving', TargetKeyId: keyB }).expect(200);
      expect((await h.call('describekey', { KeyId: 'alias/moving' }).expect(200)).body.KeyMetadata.KeyId).to.equal(keyB);
      await h.call('deletealias', { AliasName: 'alias/moving' }).expect(200);
      expect(await errorType('describekey', { KeyId: 'alias/moving' }, 404)).to.equal('NotFoundException');
      expect(await errorType('deletealias', { AliasName: 'alias/moving' }, 404)).to.equal('NotFoundException');
      expect(await errorType('updatealias', { AliasName: 'alias/moving', TargetKeyId: keyA }, 404)).to.equal('NotFoundException');
    });

    it('refuses invalid, reserved and duplicate names, and missing or pending-deletion targets', async () => {
      const keyId = await createKey();
      for (const name of ['payments', 'alias/', 'alias/has space', 'alias/ünïcode', `alias/${'x'.repeat(251)}`, 'alias/keyhold/internal']) {
        expect(await errorType('createalias', { AliasName: name, TargetKeyId: keyId }), name).to.equal('ValidationException');
      }
      await h.call('createalias', { AliasName: 'alias/taken', TargetKeyId: keyId }).expect(200);
      expect(await errorType('createalias', { AliasName: 'alias/taken', TargetKeyId: keyId })).to.equal('AlreadyExistsException');
      expect(await errorType('createalias', { AliasName: 'alias/chained', TargetKeyId: 'alias/taken' })).to.equal('ValidationException');
      expect(await errorType('createalias', { AliasName: 'alias/nowhere', TargetKeyId: '00000000-0000-4000-8000-000000000000' }, 404)).to.equal('NotFoundException');
      const doomed = await createKey();
      await h.call('schedulekeydeletion', { KeyId: doomed }).expect(200);
      expect(await errorType('createalias', { AliasName: 'alias/doomed', TargetKeyId: doomed })).to.equal('KMSInvalidStateException');
      expect(await errorType('updatealias', { AliasName: 'alias/taken', TargetKeyId: doomed })).to.equal('KMSInvalidStateException');
    });
  });

  describe('tags', () => {
    it('createkey takes Tags; tagresource adds and replaces; untagresource removes; listresourcetags pages', async () => {
      const keyId = await createKey({ Tags: [{ TagKey: 'team', TagValue: 'a' }, { TagKey: 'env', TagValue: 'dev' }] });
      await h.call('tagresource', { KeyId: keyId, Tags: [{ TagKey: 'team', TagValue: 'b' }, { TagKey: 'cost', TagValue: '' }] }).expect(200);
      await h.call('untagresource', { KeyId: keyId, TagKeys: ['env', 'absent'] }).expect(200);
      const all = (await h.call('listresourcetags', { KeyId: keyId }).expect(200)).body;
      expect(all).to.deep.equal({ Tags: [{ TagKey: 'cost', TagValue: '' }, { TagKey: 'team', TagValue: 'b' }], Truncated: false });
      const first = (await h.call('listresourcetags', { KeyId: keyId, Limit: 1 }).expect(200)).body;
      const second = (await h.call('listresourcetags', { KeyId: keyId, Limit: 1, Marker: first.NextMarker }).expect(200)).body;
      expect([...first.Tags, ...second.Tags]).to.deep.equal(all.Tags);
    });

    it('refuses more than 50 tags with LimitExceededException and oversized tags with TagException', async () => {
      const keyId = await createKey();
      const fifty = Array.from({ length: 50 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' }));
      await h.call('tagresource', { KeyId: keyId, Tags: fifty }).expect(200);
      expect(await errorType('tagresource', { KeyId: keyId, Tags: [{ TagKey: 'one-more', TagValue: 'v' }] })).to.equal('LimitExceededException');
      expect(await errorType('createkey', { Tags: [...fifty, { TagKey: 'x', TagValue: '' }] })).to.equal('LimitExceededException');
      expect(await errorType('tagresource', { KeyId: keyId, Tags: [{ TagKey: 'k'.repeat(129), TagValue: '' }] })).to.equal('TagException');
      expect(await errorType('tagresource', { KeyId: keyId, Tags: [{ TagKey: '', TagValue: '' }] })).to.equal('TagException');
      expect(await errorType('tagresource', { KeyId: keyId, Tags: [{ TagKey: 'k0', TagValue: 'v'.repeat(257) }] })).to.equal('TagException');
      expect(await errorType('tagresource', { KeyId: keyId, Tags: 'not a list' })).to.equal('ValidationException');
    });
  });

  describe('deletion', () => {
    it('honours a cancellation that came after the schedule was read: a key no longer pending is not deleted', async () => {
      const keyId = await createKey();
      await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
      await h.call('cancelkeydeletion', { KeyId: keyId }).expect(200);
      // As the scheduler would, with the schedule it read before the cancellation.
      expect(await h.keyService.deleteIfDue(keyId, new Date(now + 30 * DAY))).to.equal(false);
      expect((await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata.KeyState).to.equal('Disabled');
      // Nor is a key whose (new) date has not come.
      await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 30 }).expect(200);
      expect(await h.keyService.deleteIfDue(keyId, new Date(now + 8 * DAY))).to.equal(false);
      await h.call('describekey', { KeyId: keyId }).expect(200);
      await h.call('cancelkeydeletion', { KeyId: keyId }).expect(200);
    });

    /**
     * Makes a key with two versions, a blob and an alias on `harness`, lets `beforeDeletion` look
     * at what is stored of it, schedules its deletion and runs the scheduled work past its date;
     * checks that nothing of it answers or is read any more. Returns its id and wrapped versions.
     */
    async function deleteKeyForGood(harness: Harness, aliasName: string, beforeDeletion: (wrapped: Buffer[], keyId: string) => Promise<void>) {
      const keyId = (await harness.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId as string;
      const blob = (await harness.call('encrypt', { KeyId: keyId, Plaintext: b64('soon unreadable') }).expect(200)).body.CiphertextBlob;
      await harness.call('rotatekeyondemand', { KeyId: keyId }).expect(200);
      await harness.call('createalias', { AliasName: aliasName, TargetKeyId: keyId }).expect(200);
      const wrapped = [(await harness.store.getVersion(keyId, 1))!, (await harness.store.getVersion(keyId, 2))!];
      await beforeDeletion(wrapped, keyId);
      await harness.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);

      now += 6 * DAY;
      expect((await harness.keyService.runScheduledWork(new Date(now))).deleted).to.not.include(keyId);
      now += 2 * DAY;
      expect((await harness.keyService.runScheduledWork(new Date(now))).deleted).to.include(keyId);

      const errorOf = async (action: string, body: object) => (await harness.call(action, body).expect(404)).body.__type;
      expect(await errorOf('describekey', { KeyId: keyId })).to.equal('NotFoundException');
      expect(await errorOf('decrypt', { CiphertextBlob: blob })).to.equal('NotFoundException');
      expect(await errorOf('describekey', { KeyId: aliasName })).to.equal('NotFoundException');
      expect(await harness.store.getVersion(keyId, 1)).to.equal(undefined);
      expect(await harness.store.listRotations(keyId, 0, 10)).to.deep.equal([]);
      // (The audit trail keeps the key id: it is the history of what happened to the key.)
      expect(await harness.store.listAudit()).to.satisfy((audit: { Action: string; KeyId: string | null }[]) =>
        audit.some((entry) => entry.Action === 'DeleteKey' && entry.KeyId === keyId),
      );
      return { keyId, wrapped };
    }

    it('deletes a key for good once its deletion date has passed: metadata, versions, aliases, and every stored record of it', async () => {
      const holding = async (material: Buffer) => (await storedRecords(h.store)).some((stored) => stored.includes(material));
      const { wrapped } = await deleteKeyForGood(h, 'alias/doomed-key', async (versions) => {
        // The search below can fail: before deletion the wrapped versions are stored.
        for (const material of versions) expect(await holding(material)).to.equal(true);
      });
      for (const material of wrapped) expect(await holding(material), 'wrapped material still stored').to.equal(false);
    });

    it("leaves no byte of a deleted key in LevelDB's files (on LevelDB in every run)", async () => {
      const onLevelDb = await openHarness({ store: 'leveldb', clock: () => new Date(now) });
      try {
        const storeDir = path.join(onLevelDb.dataDir, 'store');
        const rawStore = () => readdirSync(storeDir).map((name) => ({ name, bytes: readFileSync(path.join(storeDir, name)) }));
        const { keyId, wrapped } = await deleteKeyForGood(onLevelDb, 'alias/doomed-on-disk', async (_, made) => {
          // The search below can fail: before deletion the records are there to be found.
          expect(rawStore().some((file) => file.bytes.includes(`!versions!${made}`))).to.equal(true);
        });
        // No raw LevelDB file holds the wrapped material any more, and no data file (tables,
        // write-ahead log) the key's records. (The MANIFEST may still name the key id as the
        // boundary of a table that was compacted away: a name, not material.)
        const files = rawStore();
        for (const material of wrapped) {
          expect(files.some((file) => file.bytes.includes(material)), 'wrapped material still on disk').to.equal(false);
        }
        const dataFiles = files.filter((file) => /\.(ldb|sst|log)$/.test(file.name)).map((file) => file.bytes);
        expect(dataFiles.length).to.be.greaterThan(0);
        for (const record of [`!keys!${keyId}`, `!versions!${keyId}`, `!rotations!${keyId}`]) {
          expect(dataFiles.some((file) => file.includes(record)), `${record} is still in a data file`).to.equal(false);
        }
      } finally {
        await onLevelDb.close();
      }
    });
  });
});

describe('rotation across a restart', () => {
  it('every version of a rotated key decrypts after the store is reopened', async () => {
    const dir = makeTempDir();
    const provider = new PassphraseMasterKey({ value: TEST_PASSPHRASE, source: 'KEYHOLD_PASSPHRASE' }, 'pbkdf2');
    // The run's store; reopened on the same directory, the same database on PostgreSQL.
    let store = await openTestStore(dir.path);
    let service = new KeyService({ store, rootKey: (await openRootKey(store, provider)).rootKey });
    const { KeyId } = await service.createKey({});
    const blobs: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      blobs.push((await service.encrypt({ keyId: KeyId, plaintext: Buffer.from(`version ${i + 1}`) })).ciphertextBlob);
      await service.rotation.rotateOnDemand({ keyId: KeyId }, { principal: 'test' });
    }
    await store.close();

    store = await openTestStore(dir.path);
    service = new KeyService({ store, rootKey: (await openRootKey(store, provider)).rootKey });
    for (const [i, blob] of blobs.entries()) {
      expect((await service.decrypt({ ciphertextBlob: blob })).plaintext.toString()).to.equal(`version ${i + 1}`);
    }
    expect((await service.describeKey({ keyId: KeyId })).CurrentKeyVersion).to.equal(5);
    await store.close();
    dir.remove();
  });
});
