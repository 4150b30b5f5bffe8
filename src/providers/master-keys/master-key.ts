import type { MasterKeyDescriptor } from '../../store/records.js';

/**
 * A master-key provider holds the key-encryption key (KEK) that wraps the root key. The
 * root key is unwrapped once at start; no request touches the provider.
 */
export interface MasterKeyProvider {
  readonly kind: MasterKeyDescriptor['kind'];
  /** Wraps a root key under this provider's KEK; returns what to store beside it. */
  wrapRootKey(rootKey: Buffer): Promise<{ master: MasterKeyDescriptor; wrappedRootKey: Buffer }>;
  /**
   * Unwraps a root key wrapped by `master`. Throws a StartupError naming the setting at
   * fault (wrong passphrase, wrong token key) when the KEK does not fit.
   */
  unwrapRootKey(master: MasterKeyDescriptor, wrappedRootKey: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}
