import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { keyCheckMatches, keyCheckValue } from '../crypto/index.js';
import { StartupError } from '../errors.js';
import type { MasterKeyProvider } from '../providers/master-keys/master-key.js';
import type { RootKeyRecord } from '../store/records.js';
import { ADMIN_CREDENTIALS_FILE, RESTORE_ADVICE } from '../store/store-open.js';
import { WriteConflictError, type Store } from '../store/store.js';

/**
 * The version of what a store holds. 2: audit records may be stored several to an entry
 * (decision 108), which a Keyhold that knows only version 1 would misread, so it refuses the
 * store. A version-1 store is raised to 2 when this Keyhold opens it.
 */
export const STORE_VERSION = 2;
const SUPPORTED_STORE_VERSIONS: readonly number[] = [1, 2];

/**
 * Unwraps the store's root key with the master-key provider, or, on a new store, makes a
 * 32-byte root key and stores it wrapped, with its key-check value, in one sync batch.
 * A master key that does not fit fails here, before anything is written.
 */
export async function openRootKey(
  store: Store,
  provider: MasterKeyProvider,
  now: Date = new Date(),
): Promise<{ rootKey: Buffer; created: boolean; auditHeadMatches: boolean }> {
  const record = await store.getRootKeyRecord();
  if (!record) {
    await refuseRootKeyOverOldStore(store);
    const rootKey = randomBytes(32);
    const { master, wrappedRootKey } = await provider.wrapRootKey(rootKey);
    await store.useAuditKey(rootKey);
    try {
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
          .auditChange({ principal: 'system' }, { action: 'InitializeStore', detail: { Master: master.kind } }, now),
      );
    } catch (error) {
      rootKey.fill(0);
      // Another node sharing the store made the root key first: use that one.
      if (error instanceof WriteConflictError) return openRootKey(store, provider, now);
      throw error;
    }
    return { rootKey, created: true, auditHeadMatches: true };
  }
  const rootKey = await unwrapRootKeyRecord(record, provider);
  try {
    // Every writer of the store chains its audit records under the key the root key gives.
    const { headMatches } = await store.useAuditKey(rootKey);
    if (record.storeVersion < STORE_VERSION) {
      // Before this Keyhold writes anything older versions could misread.
      await store.write(
        store
          .batch()
          .putRootKey({ ...record, storeVersion: STORE_VERSION })
          .auditChange({ principal: 'system' }, { action: 'UpgradeStore', detail: { From: record.storeVersion, To: STORE_VERSION } }, now),
      );
    }
    return { rootKey, created: false, auditHeadMatches: headMatches };
  } catch (error) {
    rootKey.fill(0);
    throw error;
  }
}

/**
 * A store is created once. A root key is made only in a store that never held one: not where
 * keys or credentials exist (their root key is lost, and a new one would open none of them),
 * nor beside an admin credential file (written only after the first root key was committed).
 */
async function refuseRootKeyOverOldStore(store: Store): Promise<void> {
  const remains: string[] = [];
  if ((await store.listKeys(undefined, 1)).length > 0) remains.push('keys');
  if ((await store.listCredentials()).length > 0) remains.push('credentials');
  if (existsSync(path.join(store.dataDir, ADMIN_CREDENTIALS_FILE))) remains.push(ADMIN_CREDENTIALS_FILE);
  if (remains.length === 0) return;
  throw new StartupError(
    `the store at ${store.location} has no root key, but it holds ${remains.join(' and ')} made under one; ` +
      `Keyhold never makes a new root key over an old store: ${RESTORE_ADVICE}`,
    'KEYHOLD_DATA_DIR',
  );
}

/**
 * Unwraps a stored root key with a provider, checking first that the provider is of the
 * kind that wrapped it and after that the key-check value. Writes nothing.
 */
export async function unwrapRootKeyRecord(record: RootKeyRecord, provider: MasterKeyProvider): Promise<Buffer> {
  if (!SUPPORTED_STORE_VERSIONS.includes(record.storeVersion)) {
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
