import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { ServiceUnavailableException } from '../../src/errors.js';
import { KeyService } from '../../src/kms/key-service.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore, sampleKeyRecord } from '../helpers/temp-store.js';
import { rejectionOf } from '../helpers/rejection.js';

/**
 * Damage that appears while the server runs (after the start-up check): a read that hits it is
 * a 503 naming what could not be read, reported to the store's listeners, never a crash.
 */
describe('a store read that hits damaged data', function () {
  this.timeout(60_000);

  it('answers ServiceUnavailableException for what it cannot read, and reports it', async () => {
    const dir = makeTempDir();
    try {
      let store = await LevelDbStore.open(dir.path);
      const records = Array.from({ length: 3000 }, (_, index) => sampleKeyRecord({ description: `key number ${index} `.repeat(8) }));
      for (let start = 0; start < records.length; start += 500) {
        const batch = store.batch();
        for (const record of records.slice(start, start + 500)) batch.putKey(record);
        await store.write(batch);
      }
      await store.compact();
      await store.close();

      store = await LevelDbStore.open(dir.path);
      const reported: string[] = [];
      store.health.on((event) => {
        if (event.type === 'read-failed') reported.push(event.what);
      });
      // Damage the tables now, behind the open store's back, as a failing disk would.
      const storeDir = path.join(dir.path, 'store');
      for (const name of readdirSync(storeDir).filter((file) => file.endsWith('.ldb'))) {
        const file = path.join(storeDir, name);
        const bytes = readFileSync(file);
        for (let offset = 100; offset < statSync(file).size - 2000; offset += 4096) bytes[offset]! ^= 0xff;
        writeFileSync(file, bytes);
      }
      let refused = 0;
      let missing = 0;
      for (const record of records) {
        try {
          const found = await store.getKey(record.keyId);
          // What LevelDB could still read is whole; what it could not is refused, never silently gone.
          if (found === undefined) missing++;
          else expect(found).to.deep.equal(record);
        } catch (error) {
          expect(error).to.be.instanceOf(ServiceUnavailableException);
          expect((error as Error).message).to.equal(`The key store could not read key ${record.keyId}`);
          refused++;
        }
      }
      expect(refused, "reads hit the damage").to.be.greaterThan(0);
      expect(missing, "keys answered as absent").to.equal(0);
      expect(reported.length).to.equal(refused);
      await store.close();
    } finally {
      dir.remove();
    }
  });

  it('answers ServiceUnavailableException, not a 500, for key material that no longer unwraps', async () => {
    const { dir, store } = await openTempStore();
    try {
      const service = new KeyService({ store, rootKey: randomBytes(32) });
      const { KeyId } = await service.createKey({});
      const wrapped = (await store.getVersion(KeyId, 1))!;
      wrapped[wrapped.length - 1]! ^= 0x01;
      await store.write(store.batch().putVersion(KeyId, 1, wrapped));
      service.clearCaches();
      const error = await rejectionOf(service.encrypt({ keyId: KeyId, plaintext: Buffer.from('x') }), ServiceUnavailableException);
      expect(error.message).to.equal(`The key store holds damaged material for version 1 of key ${KeyId}`);
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
