import { timingSafeEqual } from 'node:crypto';
import { StartupError } from '../errors.js';
import type { MasterKeyProvider } from '../providers/master-keys/master-key.js';
import type { MasterKeyDescriptor } from '../store/records.js';
import type { Store } from '../store/store.js';
import { unwrapRootKeyRecord } from './root-key.js';

/** The steps of a rekey, in order; a fault injected at any of them must leave the store as it was. */
export const REKEY_STEPS = ['unwrap-old', 'wrap-new', 'verify-new', 'write'] as const;
export type RekeyStep = (typeof REKEY_STEPS)[number];

export interface RekeyOptions {
  store: Store;
  from: MasterKeyProvider;
  to: MasterKeyProvider;
  now?: Date;
  principal?: string;
  /** Test hook: called before each step; throwing there simulates a failure at that step. */
  beforeStep?: (step: RekeyStep) => void;
}

/**
 * Rewraps the root key under a new master key: change the passphrase, move from a
 * passphrase to a PKCS#11 token or back, or to another token key. Only the root-key record
 * changes, in one sync batch, and only after the new wrapping has been shown to unwrap to
 * the same root key; any failure before that leaves the store exactly as it was.
 */
export async function rekeyRootKey(options: RekeyOptions): Promise<{ from: MasterKeyDescriptor; to: MasterKeyDescriptor }> {
  const { store, from, to, beforeStep = () => {} } = options;
  const now = options.now ?? new Date();
  const record = await store.getRootKeyRecord();
  if (!record) {
    throw new StartupError('the store has no root key yet: start the server on it once first', 'KEYHOLD_DATA_DIR');
  }
  beforeStep('unwrap-old');
  const rootKey = await unwrapRootKeyRecord(record, from);
  let check: Buffer | undefined;
  try {
    await store.useAuditKey(rootKey);
    beforeStep('wrap-new');
    const { master, wrappedRootKey } = await to.wrapRootKey(rootKey);
    beforeStep('verify-new');
    check = await to.unwrapRootKey(master, wrappedRootKey);
    /* Precondition: the new wrapping unwraps to the same root key before anything is written. */
    if (check.length !== rootKey.length || !timingSafeEqual(check, rootKey)) {
      throw new StartupError('the new master key did not give back the same root key; nothing was changed', 'KEYHOLD_MASTER');
    }
    beforeStep('write');
    await store.write(
      store
        .batch()
        .putRootKey({ ...record, master, wrappedRootKey: wrappedRootKey.toString('base64'), rekeyedAt: now.toISOString() })
        .auditChange({ principal: options.principal ?? 'keyhold admin rekey' }, { action: 'RekeyMasterKey', detail: { Master: `${record.master.kind} -> ${master.kind}` } }, now),
    );
    return { from: record.master, to: master };
  } finally {
    rootKey.fill(0);
    check?.fill(0);
  }
}
