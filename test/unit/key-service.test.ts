import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { format2DerivationKey, versionKeyAad, wrapKey } from '../../src/crypto/index.js';
import { InvalidCiphertextException, KmsError } from '../../src/errors.js';
import { KeyRegistry } from '../../src/kms/key-registry.js';
import { KeyService } from '../../src/kms/key-service.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { rejectionOf } from '../helpers/rejection.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore } from '../helpers/temp-store.js';

function kmsErrorOf(promise: Promise<unknown>): Promise<KmsError> {
  return rejectionOf(promise, KmsError);
}

const VERSION_OFFSET = 17;

describe('KeyService on a real store', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let store: LevelDbStore;
  // A real random root key: openRootKey and its KDF are tested in passphrase.test.ts.
  const rootKey = randomBytes(32);

  beforeEach(async () => ({ dir, store } = await openTempStore()));
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  async function auditOf(keyId: string) {
    return (await store.listAudit()).filter((entry) => entry.KeyId === keyId && entry.Action !== 'CreateKey');
  }

  describe('enableKey and disableKey', () => {
    it('end in the state of the last call when many run at once on one key, auditing each real change once', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      const calls = ['disable', 'disable', 'enable', 'disable', 'enable', 'enable', 'disable', 'enable', 'disable', 'disable'];

      const results = await Promise.all(
        calls.map((call) => (call === 'disable' ? service.disableKey({ keyId: KeyId }) : service.enableKey({ keyId: KeyId }))),
      );

      // The per-key lock runs the calls one after another, in the order they were made.
      const expectedStates: string[] = [];
      const expectedChanges: string[] = [];
      let state = 'Enabled';
      for (const call of calls) {
        const next = call === 'disable' ? 'Disabled' : 'Enabled';
        if (next !== state) expectedChanges.push(`${state} -> ${next}`);
        state = next;
        expectedStates.push(state);
      }
      expect(results.map((metadata) => metadata.KeyState)).to.deep.equal(expectedStates);
      expect((await service.describeKey({ keyId: KeyId })).KeyState).to.equal(state);
      expect((await store.getKey(KeyId))!.keyState).to.equal(state);

      // Compared as sorted lists: audit ids within one millisecond do not keep write order.
      const audit = await auditOf(KeyId);
      expect(audit.map((entry) => `${entry.Action}: ${entry.Detail?.State}`).sort()).to.deep.equal(
        expectedChanges.map((change) => `${change.endsWith('Disabled') ? 'DisableKey' : 'EnableKey'}: ${change}`).sort(),
      );
    });

    it('write no audit record when the key is already in the asked state', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      await service.enableKey({ keyId: KeyId });
      await service.disableKey({ keyId: KeyId });
      await service.disableKey({ keyId: KeyId });

      expect((await auditOf(KeyId)).map((entry) => entry.Detail?.State)).to.deep.equal(['Enabled -> Disabled']);
    });

    it('record the caller as the principal of the change', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      await service.disableKey({ keyId: KeyId }, { principal: 'KHALICE' });

      expect((await auditOf(KeyId)).map((entry) => entry.Principal)).to.deep.equal(['KHALICE']);
    });

    it('keep a key usable after disable then enable, unwrapping its version key again', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      const plaintext = Buffer.from('survives a disable');
      const { ciphertextBlob } = await service.encrypt({ keyId: KeyId, plaintext });

      await service.disableKey({ keyId: KeyId });
      expect((await kmsErrorOf(service.decrypt({ ciphertextBlob }))).type).to.equal('DisabledException');
      await service.enableKey({ keyId: KeyId });

      expect((await service.decrypt({ ciphertextBlob })).plaintext.equals(plaintext)).to.equal(true);
    });
  });

  describe('the version-key cache', () => {
    it('unwraps again what it evicted: two keys used alternately through a cache of one', async () => {
      const service = new KeyService({ store, rootKey, versionKeyCacheSize: 1 });
      const first = await service.createKey({});
      const second = await service.createKey({});
      const blobs: Array<{ keyId: string; plaintext: Buffer; ciphertextBlob: Buffer }> = [];

      for (let round = 0; round < 3; round += 1) {
        for (const { KeyId } of [first, second]) {
          const plaintext = Buffer.from(`round ${round} of ${KeyId}`);
          const { ciphertextBlob } = await service.encrypt({ keyId: KeyId, plaintext });
          blobs.push({ keyId: KeyId, plaintext, ciphertextBlob });
        }
      }
      for (const { keyId, plaintext, ciphertextBlob } of blobs) {
        const decrypted = await service.decrypt({ ciphertextBlob });
        expect(decrypted.keyId).to.equal(keyId);
        expect(decrypted.plaintext.equals(plaintext)).to.equal(true);
        // A service with nothing cached unwraps this blob's own key from the store.
        const fresh = await new KeyService({ store, rootKey }).decrypt({ ciphertextBlob });
        expect(fresh.plaintext.equals(plaintext)).to.equal(true);
      }
    });

    it('drops a key on disable and unwraps it again after enable, while the other key stays usable', async () => {
      const service = new KeyService({ store, rootKey, versionKeyCacheSize: 1 });
      const first = await service.createKey({});
      const second = await service.createKey({});
      const firstBlob = (await service.encrypt({ keyId: first.KeyId, plaintext: Buffer.from('first') })).ciphertextBlob;
      const secondBlob = (await service.encrypt({ keyId: second.KeyId, plaintext: Buffer.from('second') })).ciphertextBlob;

      await service.disableKey({ keyId: second.KeyId });
      await service.enableKey({ keyId: second.KeyId });

      for (let round = 0; round < 2; round += 1) {
        expect((await service.decrypt({ ciphertextBlob: secondBlob })).plaintext.toString()).to.equal('second');
        expect((await service.decrypt({ ciphertextBlob: firstBlob })).plaintext.toString()).to.equal('first');
      }
    });

    it('drops the unwrapped version key on disable, so that after enable it is unwrapped from the store again', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      const { ciphertextBlob } = await service.encrypt({ keyId: KeyId, plaintext: Buffer.from('cached') });
      // Replace the stored material behind the service's back: only a fresh unwrap can see it.
      const replacement = wrapKey(rootKey, randomBytes(32), versionKeyAad(KeyId, 1)) as Buffer;
      await store.write(store.batch().putVersion(KeyId, 1, replacement));
      expect((await service.decrypt({ ciphertextBlob })).plaintext.toString(), 'still cached').to.equal('cached');

      await service.disableKey({ keyId: KeyId });
      await service.enableKey({ keyId: KeyId });

      const error = await kmsErrorOf(service.decrypt({ ciphertextBlob }));
      expect(error).to.be.instanceOf(InvalidCiphertextException);
      const fresh = await service.encrypt({ keyId: KeyId, plaintext: Buffer.from('new material') });
      expect((await service.decrypt({ ciphertextBlob: fresh.ciphertextBlob })).plaintext.toString()).to.equal('new material');
    });

    it("keeps each version key's format-2 derivation key beside it, and zeroes both as they leave the cache", async () => {
      const { KeyId } = await new KeyService({ store, rootKey }).createKey({});
      const registry = new KeyRegistry({ store, rootKey, versionKeyCacheSize: 1 });
      // Held past their turn only here, to look at them after they left the cache.
      const [versionKey, derivationKey] = await registry.withVersionKey(await registry.loadKey(KeyId), 1, (key, derived) => [key, derived] as const);
      expect(derivationKey.equals(format2DerivationKey(versionKey))).to.equal(true);
      expect(versionKey.some((byte) => byte !== 0) && derivationKey.some((byte) => byte !== 0)).to.equal(true);
      registry.clearCaches();
      expect(versionKey.every((byte) => byte === 0), 'version key zeroed').to.equal(true);
      expect(derivationKey.every((byte) => byte === 0), 'derivation key zeroed').to.equal(true);
    });

    it('decrypts with a fresh service after clearCaches, reading the wrapped material from the store', async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      const { ciphertextBlob } = await service.encrypt({ keyId: KeyId, plaintext: Buffer.from('from disk') });
      service.clearCaches();

      const fresh = new KeyService({ store, rootKey });
      expect((await fresh.decrypt({ ciphertextBlob })).plaintext.toString()).to.equal('from disk');
      expect((await service.decrypt({ ciphertextBlob })).plaintext.toString()).to.equal('from disk');
    });
  });

  describe('ciphertext formats', () => {
    it('writes format 2 unless told, format 1 when told, and reads both either way', async () => {
      const second = new KeyService({ store, rootKey });
      const first = new KeyService({ store, rootKey, ciphertextFormat: 1 });
      const { KeyId } = await second.createKey({});
      const context = { tenant: 'acme' };
      const blobs = [
        (await second.encrypt({ keyId: KeyId, plaintext: Buffer.from('two'), encryptionContext: context })).ciphertextBlob,
        (await first.encrypt({ keyId: KeyId, plaintext: Buffer.from('one'), encryptionContext: context })).ciphertextBlob,
        (await first.generateDataKey({ keyId: KeyId, keySpec: 'AES_256', encryptionContext: context })).ciphertextBlob,
      ];
      expect(blobs.map((blob) => blob[0])).to.deep.equal([2, 1, 1]);
      for (const service of [second, first]) {
        expect((await service.decrypt({ ciphertextBlob: blobs[0]!, encryptionContext: context })).plaintext.toString()).to.equal('two');
        expect((await service.decrypt({ ciphertextBlob: blobs[1]!, encryptionContext: context })).plaintext.toString()).to.equal('one');
        expect((await service.decrypt({ ciphertextBlob: blobs[2]!, encryptionContext: context })).plaintext.length).to.equal(32);
      }
      // reencrypt writes the format of the service that does it.
      const moved = await second.reEncrypt({ ciphertextBlob: blobs[1]!, sourceEncryptionContext: context, destinationKeyId: KeyId });
      expect(moved.ciphertextBlob[0]).to.equal(2);
    });
  });

  describe('decrypt', () => {
    it("refuses a blob whose version is above the key's current version as InvalidCiphertextException", async () => {
      const service = new KeyService({ store, rootKey });
      const { KeyId } = await service.createKey({});
      const { ciphertextBlob } = await service.encrypt({ keyId: KeyId, plaintext: Buffer.from('version one') });
      expect(ciphertextBlob.readUInt32BE(VERSION_OFFSET)).to.equal(1);

      for (const version of [2, 0xffff_ffff]) {
        const future = Buffer.from(ciphertextBlob);
        future.writeUInt32BE(version, VERSION_OFFSET);
        const error = await kmsErrorOf(service.decrypt({ ciphertextBlob: future }));
        expect(error, String(version)).to.be.instanceOf(InvalidCiphertextException);
      }
    });
  });

  describe('listKeys', () => {
    it('walks every key one page at a time through nextMarker', async () => {
      const service = new KeyService({ store, rootKey });
      const created: string[] = [];
      for (let index = 0; index < 4; index += 1) created.push((await service.createKey({})).KeyId);

      const seen: string[] = [];
      let marker: string | undefined;
      for (let page = 0; page < 10; page += 1) {
        const result = await service.listKeys(marker === undefined ? { limit: 1 } : { limit: 1, marker });
        expect(result.keys).to.have.length(1);
        seen.push(result.keys[0]!.KeyId);
        if (!result.truncated) {
          expect(result.nextMarker).to.equal(undefined);
          break;
        }
        expect(result.nextMarker).to.be.a('string');
        marker = result.nextMarker;
      }
      expect(seen).to.deep.equal([...created].sort());
    });

    it('refuses a marker it did not hand out as ValidationException', async () => {
      const service = new KeyService({ store, rootKey });
      for (const marker of ['garbage', Buffer.from('k:not-a-key-id').toString('base64url')]) {
        expect((await kmsErrorOf(service.listKeys({ limit: 1, marker }))).type, marker).to.equal('ValidationException');
      }
    });
  });

  describe('with an injected clock', () => {
    const now = new Date('2031-05-06T07:08:09.000Z');
    const clock = () => now;

    it('scheduleKeyDeletion sets DeletionDate to the clock plus the pending window', async () => {
      const service = new KeyService({ store, rootKey, clock });
      const { KeyId, CreationDate } = await service.createKey({});
      expect(CreationDate).to.equal(now.toISOString());

      const scheduled = await service.scheduleKeyDeletion({ keyId: KeyId, pendingWindowInDays: 7 });
      expect(scheduled.deletionDate).to.equal('2031-05-13T07:08:09.000Z');
      expect(scheduled.keyState).to.equal('PendingDeletion');
      expect((await service.describeKey({ keyId: KeyId })).DeletionDate).to.equal('2031-05-13T07:08:09.000Z');
      expect((await store.getKey(KeyId))!.deletionDate).to.equal('2031-05-13T07:08:09.000Z');
      expect((await auditOf(KeyId)).map((entry) => entry.Time)).to.deep.equal([now.toISOString()]);
    });

    it('scheduleKeyDeletion defaults to a 30-day window', async () => {
      const service = new KeyService({ store, rootKey, clock });
      const { KeyId } = await service.createKey({});
      expect((await service.scheduleKeyDeletion({ keyId: KeyId })).deletionDate).to.equal('2031-06-05T07:08:09.000Z');
    });
  });
});
