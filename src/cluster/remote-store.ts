import type { AliasRecord, CredentialRecord, KeyRecord, RotationRecord } from '../store/records.js';
import type { KeyStore, KeyWithVersion, ScheduledWork } from '../store/store.js';
import type { PrimaryChannel } from './primary-channel.js';
import type { StoreRead } from './protocol.js';

/**
 * A worker's view of the store: reads go to the primary, which owns the LevelDB database
 * (LevelDB allows one process). Writes are refused: every change is a KeyService call that
 * the worker forwards whole (see KEY_SERVICE_CALLS), so that the primary's per-key locks
 * see every writer.
 */
export class RemoteStore implements KeyStore {
  constructor(private readonly primary: PrimaryChannel) {}

  get isOpen(): boolean {
    return this.primary.healthy;
  }

  getKey(keyId: string): Promise<KeyRecord | undefined> {
    return this.read('getKey', [keyId]) as Promise<KeyRecord | undefined>;
  }

  getVersion(keyId: string, version: number): Promise<Buffer | undefined> {
    return this.read('getVersion', [keyId, version]) as Promise<Buffer | undefined>;
  }

  /**
   * `hasVersions` is not sent (a function cannot be): the primary passes its own, the same
   * decision of the key kinds (see createCallHandler).
   */
  getKeyWithVersion(keyId: string, version: number | 'current', _hasVersions: (record: KeyRecord) => boolean): Promise<KeyWithVersion> {
    return this.read('getKeyWithVersion', [keyId, version]) as Promise<KeyWithVersion>;
  }

  listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    return this.read('listKeys', [afterKeyId, limit]) as Promise<KeyRecord[]>;
  }

  listAliases(): Promise<AliasRecord[]> {
    return this.read('listAliases', []) as Promise<AliasRecord[]>;
  }

  listRotations(keyId: string, afterVersion: number, limit: number): Promise<RotationRecord[]> {
    return this.read('listRotations', [keyId, afterVersion, limit]) as Promise<RotationRecord[]>;
  }

  dueWork(until: Date, limit: number): Promise<ScheduledWork[]> {
    return this.read('dueWork', [until, limit]) as Promise<ScheduledWork[]>;
  }

  listCredentials(): Promise<CredentialRecord[]> {
    return this.read('listCredentials', []) as Promise<CredentialRecord[]>;
  }

  getCredentialLastUsed(accessKeyId: string): Promise<string | undefined> {
    return this.read('getCredentialLastUsed', [accessKeyId]) as Promise<string | undefined>;
  }

  /* Precondition: a worker never writes; a change that reaches here was not forwarded. */
  batch(): never {
    throw new Error('a worker cannot write to the store: this change must be forwarded to the primary (KEY_SERVICE_CALLS)');
  }

  write(): never {
    return this.batch();
  }

  compact(): never {
    return this.batch();
  }

  private read(method: StoreRead, args: unknown[]): Promise<unknown> {
    return this.primary.call('store', method, args);
  }
}
