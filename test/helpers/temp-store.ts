import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyRecord } from '../../src/store/records.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { makeTempDir } from './temp-dir.js';

/** A real LevelDB store in a fresh temp dir (the caller closes it and removes the dir). */
export async function openTempStore(): Promise<{ dir: ReturnType<typeof makeTempDir>; store: LevelDbStore }> {
  const dir = makeTempDir();
  const store = await LevelDbStore.open(dir.path);
  // Any key will do for the audit chain of a store with no root key.
  await store.useAuditKey(randomBytes(32));
  return { dir, store };
}

/** An Enabled symmetric key record with a fresh KeyId, for store tests; `overrides` win. */
export function sampleKeyRecord(overrides: Partial<KeyRecord> = {}): KeyRecord {
  const keyId = overrides.keyId ?? randomUUID();
  return {
    keyId,
    description: `key ${keyId}`,
    keySpec: 'SYMMETRIC_DEFAULT',
    keyUsage: 'ENCRYPT_DECRYPT',
    keyState: 'Enabled',
    origin: 'KEYHOLD',
    creationDate: '2030-01-01T00:00:00.000Z',
    tags: [],
    currentVersion: 1,
    ...overrides,
  };
}
