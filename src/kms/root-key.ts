import { randomBytes } from 'node:crypto';
import { keyCheckMatches, keyCheckValue } from '../crypto/index.js';
import { StartupError } from '../errors.js';
import type { MasterKeyProvider } from '../providers/master-key.js';
import type { RootKeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

export const STORE_VERSION = 1;

/**
 * Unwraps the store's root key with the master-key provider, or, on a new store, makes a
 * 32-byte root key and stores it wrapped, with its key-check value, in one sync batch.
 * A master key that does not fit fails here, before anything is written.
 */
export async function openRootKey(
  store: Store,
  provider: MasterKeyProvider,
  now: Date = new Date(),
): Promise<{ rootKey: Buffer; created: boolean }> {
  const record = await store.getRootKeyRecord();
  if (!record) {
    const rootKey = randomBytes(32);
    const { master, wrappedRootKey } = await provider.wrapRootKey(rootKey);
    await store.write(
      store
        .batch()
        .putRootKey({
          storeVersion: STORE_VERSION,
          master,
          wrappedRootKey: wrappedRootKey.toString('base64'),
          keyCheckValue: keyCheckValue(rootKey).toString('base64'),
          createdAt: now.toISOString(),
        })
        .audit({ action: 'InitializeStore', principal: 'system', detail: master.kind }, now),
    );
    return { rootKey, created: true };
  }
  return { rootKey: await unwrapRootKeyRecord(record, provider), created: false };
}

/**
 * Unwraps a stored root key with a provider, checking first that the provider is of the
 * kind that wrapped it and after that the key-check value. Writes nothing.
 */
export async function unwrapRootKeyRecord(record: RootKeyRecord, provider: MasterKeyProvider): Promise<Buffer> {
  if (record.storeVersion !== STORE_VERSION) {
    throw new StartupError(`store version ${record.storeVersion} is not supported by this Keyhold`, 'KEYHOLD_DATA_DIR');
  }
  if (record.master.kind !== provider.kind) {
    throw new StartupError(
      `this store's master key is ${record.master.kind}, but KEYHOLD_MASTER is ${provider.kind}`,
      'KEYHOLD_MASTER',
    );
  }
  const rootKey = await provider.unwrapRootKey(record.master, Buffer.from(record.wrappedRootKey, 'base64'));
  /* Postcondition: the unwrapped root key is the one the store was made with. */
  if (!keyCheckMatches(rootKey, Buffer.from(record.keyCheckValue, 'base64'))) {
    rootKey.fill(0);
    throw new StartupError('the master key does not match this store (key-check value differs); nothing was changed', 'KEYHOLD_MASTER');
  }
  return rootKey;
}
