/**
 * Loads many keys into a closed store fast, for the "encrypt over 1,000,000 keys" scenario.
 * KeyService.createKey writes one sync batch per key (about 3k/s here); this writes the same
 * records — a KeyRecord and its wrapped version 1, as KeyRegistry.create does — ten thousand
 * to a batch, with the src/crypto functions.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { versionKeyAad, wrapKey } from '../src/crypto/index.js';
import { loadConfig } from '../src/config.js';
import { openRootKey } from '../src/kms/root-key.js';
import { createMasterKeyProvider } from '../src/providers/master-keys/index.js';
import type { KeyRecord } from '../src/store/records.js';
import { LevelDbStore } from '../src/store/leveldb-store.js';
import { cleanEnv } from './processes.js';

const BATCH_SIZE = 10_000;

/**
 * Adds `count` enabled keys to the store at `dataDir` and returns `sampleSize` of their ids,
 * spread evenly over the load order (KeyIds are random, so also over the key space).
 */
export async function loadKeys(
  dataDir: string,
  masterEnv: Record<string, string>,
  count: number,
  sampleSize: number,
  onProgress: (loaded: number) => void = () => {},
): Promise<string[]> {
  const config = loadConfig(cleanEnv({ ...masterEnv, KEYHOLD_DATA_DIR: dataDir }));
  const store = await LevelDbStore.open(config.dataDir);
  const provider = createMasterKeyProvider(config, () => {});
  const sample: string[] = [];
  const sampleEvery = Math.max(1, Math.floor(count / sampleSize));
  try {
    const { rootKey } = await openRootKey(store, provider);
    const creationDate = new Date().toISOString();
    for (let loaded = 0; loaded < count; ) {
      const batch = store.batch();
      for (const end = Math.min(count, loaded + BATCH_SIZE); loaded < end; loaded++) {
        const record: KeyRecord = {
          keyId: randomUUID(),
          description: '',
          keySpec: 'SYMMETRIC_DEFAULT',
          keyUsage: 'ENCRYPT_DECRYPT',
          keyState: 'Enabled',
          origin: 'KEYHOLD',
          creationDate,
          tags: [],
          currentVersion: 1,
        };
        const material = randomBytes(32);
        batch.putKey(record).putVersion(record.keyId, 1, wrapKey(rootKey, material, versionKeyAad(record.keyId, 1)));
        material.fill(0);
        if (loaded % sampleEvery === 0 && sample.length < sampleSize) sample.push(record.keyId);
      }
      await store.write(batch);
      onProgress(loaded);
    }
    rootKey.fill(0);
    return sample;
  } finally {
    await store.close();
    await provider.close();
  }
}
