import { changeEntry, type AuditEntry, type ChangeAuthor } from './audit-record.js';
import type { AliasRecord, CredentialRecord, KeyRecord, RootKeyRecord, RotationRecord } from './records.js';
import type { Store } from './store.js';

// The root db.batch with sublevel ops is the only batch that spans sublevels of different
// value types; level's types cannot express it, so ops are built here and cast once.
export type BatchOp =
  | {
      type: 'put';
      sublevel: unknown;
      key: string;
      value: unknown;
      /** An audit entry: the store numbers, MACs and keys it as it writes it. */
      auditEntry?: true;
      /** The entry is the record of the request that made this change. */
      answersRequest?: true;
    }
  | { type: 'del'; sublevel: unknown; key: string };

export const ROOT_KEY = 'root';
/** Meta records: the store's identity (its seal names it) and the number of its newest commit. */
export const IDENTITY_KEY = 'identity';
export const COMMIT_KEY = 'commit';

/** `<KeyId>!<version as 10 digits>`: versions of one key sort together, in order. */
export function versionRecordKey(keyId: string, version: number): string {
  return `${keyId}!${String(version).padStart(10, '0')}`;
}

/**
 * A set of changes that is written as one LevelDB batch with `sync: true`, so that it
 * lands whole or not at all and survives a power cut once `Store.write` has resolved.
 */
export class StoreBatch {
  readonly operations: BatchOp[] = [];

  constructor(private readonly store: Store) {}

  putRootKey(record: RootKeyRecord): this {
    this.operations.push({ type: 'put', sublevel: this.store.meta, key: ROOT_KEY, value: record });
    return this;
  }

  putKey(record: KeyRecord): this {
    this.operations.push({ type: 'put', sublevel: this.store.keys, key: record.keyId, value: record });
    return this;
  }

  putVersion(keyId: string, version: number, wrappedMaterial: Buffer): this {
    this.operations.push({
      type: 'put',
      sublevel: this.store.versions,
      key: versionRecordKey(keyId, version),
      value: wrappedMaterial,
    });
    return this;
  }

  /** Removes one version's material (imported material that was deleted or expired). */
  deleteVersion(keyId: string, version: number): this {
    this.operations.push({ type: 'del', sublevel: this.store.versions, key: versionRecordKey(keyId, version) });
    return this;
  }

  /** Removes a key and everything of it: record, every version, its rotations. */
  deleteKey(record: KeyRecord): this {
    this.operations.push({ type: 'del', sublevel: this.store.keys, key: record.keyId });
    for (let version = 1; version <= record.currentVersion; version++) {
      const key = versionRecordKey(record.keyId, version);
      this.operations.push({ type: 'del', sublevel: this.store.versions, key });
      this.operations.push({ type: 'del', sublevel: this.store.rotations, key });
    }
    return this;
  }

  putRotation(record: RotationRecord): this {
    this.operations.push({ type: 'put', sublevel: this.store.rotations, key: versionRecordKey(record.keyId, record.version), value: record });
    return this;
  }

  putAlias(record: AliasRecord): this {
    this.operations.push({ type: 'put', sublevel: this.store.aliases, key: record.aliasName, value: record });
    return this;
  }

  deleteAlias(aliasName: string): this {
    this.operations.push({ type: 'del', sublevel: this.store.aliases, key: aliasName });
    return this;
  }

  /** Schedule entries index the keys due for rotation or deletion by date. */
  putSchedule(entry: string): this {
    this.operations.push({ type: 'put', sublevel: this.store.schedule, key: entry, value: '' });
    return this;
  }

  deleteSchedule(entry: string): this {
    this.operations.push({ type: 'del', sublevel: this.store.schedule, key: entry });
    return this;
  }

  putCredential(record: CredentialRecord): this {
    this.operations.push({ type: 'put', sublevel: this.store.credentials, key: record.accessKeyId, value: record });
    return this;
  }

  /**
   * An audit record, chained as the batch is written (audit-record.ts). `answersRequest`: it is the
   * record of the API request that made this change, which then writes no second one.
   */
  audit(entry: AuditEntry, options: { answersRequest?: boolean } = {}): this {
    const op: BatchOp = { type: 'put', sublevel: this.store.audit, key: '', value: entry, auditEntry: true };
    if (options.answersRequest && entry.RequestId) op.answersRequest = true;
    this.operations.push(op);
    return this;
  }

  /** The audit record of a change (the request's own record when a request made it). */
  auditChange(author: ChangeAuthor, change: Parameters<typeof changeEntry>[1], now: Date): this {
    return this.audit(changeEntry(author, change, now), { answersRequest: author.request !== undefined });
  }

  /**
   * Puts the stored bytes of an entry as they are, for a restore (src/backup): `sublevel` is
   * one of the store's sublevels by name, `value` the bytes a backup took from it.
   */
  putRaw(sublevel: string, key: string, value: Buffer): this {
    // The identity and commit number belong to the store written to, and its seal names them:
    // a restore must not carry over those of the store it was copied from.
    if (sublevel === 'meta' && (key === IDENTITY_KEY || key === COMMIT_KEY)) return this;
    const target = this.store.sublevelNamed(sublevel);
    // The bytes are stored as given, not encoded again by the sublevel's JSON encoding.
    this.operations.push({ type: 'put', sublevel: target, key, value, valueEncoding: 'buffer' } as BatchOp);
    return this;
  }
}
