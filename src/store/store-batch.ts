import { ServiceUnavailableException } from '../errors.js';
import { AUDIT_ANCHOR_KEY, AUDIT_JOURNAL_PREFIX, auditRecordKey, changeEntry, type AuditAnchor, type AuditEntry, type AuditJournalState, type ChangeAuthor, type JournalRecordText, type RecordTextParts } from './audit-record.js';
import { SUBLEVEL_NAMES, type AliasRecord, type CredentialRecord, type KeyRecord, type RootKeyRecord, type RotationRecord, type SublevelName } from './records.js';

/**
 * One change of a batch, by the kind of record it touches (`table`: the LevelDB sublevel, or
 * the PostgreSQL table, of that name) and the record's key. The store turns these into its
 * own writes; nothing above src/store names a sublevel or builds a store key.
 */
export type BatchOp =
  | {
      type: 'put';
      table: SublevelName;
      key: string;
      value: unknown;
      /** An audit entry: the store numbers, MACs and keys it as it writes it. */
      auditEntry?: true;
      /** The entry is the record of the request that made this change. */
      answersRequest?: true;
      /** `value` is the stored bytes as they are (a restore), not a record to encode. */
      raw?: true;
    }
  | { type: 'del'; table: SublevelName; key: string }
  /**
   * Lands only if the record at `key` is still `value` (undefined: still absent) when the
   * batch is written; else the whole batch is refused with WriteConflictError. A store with
   * one writing process, whose callers' locks already order the changes of a record (LevelDB),
   * may pass over it; a store that several nodes write (PostgreSQL) checks it under a row lock.
   */
  | { type: 'check'; table: SublevelName; key: string; value: unknown };

/**
 * A batch's check failed: another writer (another node) changed the record since it was read.
 * Nothing of the batch was written; the caller reads the record again and retries. One that
 * reaches a client (a change that does not retry) answers 503, which clients retry.
 */
export class WriteConflictError extends ServiceUnavailableException {
  constructor(
    readonly table: SublevelName,
    readonly key: string,
  ) {
    super(`The ${table} record '${key.slice(0, 80)}' was changed on another node at the same time; try again`);
  }
}

export const ROOT_KEY = 'root';
/** Meta records: the store's identity (its seal names it) and the number of its newest commit. */
export const IDENTITY_KEY = 'identity';
export const COMMIT_KEY = 'commit';
/** Meta records `last-used!<AccessKeyId>`: when a credential was last used (a hint, written unsynced). */
export const LAST_USED_PREFIX = 'last-used!';

/**
 * Work the scheduler is to do on a key from a date on (`work`: the service's name for it, such
 * as `delete` or `rotate`). The store indexes them by date, so that due work is found without
 * reading every key.
 */
export interface ScheduledWork {
  /** RFC 3339 (UTC, as toISOString writes it: such dates sort as text). */
  due: string;
  /** Lowercase letters. */
  work: string;
  keyId: string;
}

/** `<due>!<work>!<KeyId>`: the key of a schedule entry, sorting by date. */
export function scheduleRecordKey({ due, work, keyId }: ScheduledWork): string {
  return `${due}!${work}!${keyId}`;
}

/** A schedule entry's key read back, or undefined when it is not one (a damaged store). */
export function parseScheduleRecordKey(key: string): ScheduledWork | undefined {
  const match = /^(.+)!([a-z]+)!([^!]+)$/.exec(key);
  if (!match || Number.isNaN(Date.parse(match[1]!))) return undefined;
  return { due: match[1]!, work: match[2]!, keyId: match[3]! };
}

/** `<KeyId>!<version as 10 digits>`: versions of one key sort together, in order. */
export function versionRecordKey(keyId: string, version: number): string {
  return `${keyId}!${String(version).padStart(10, '0')}`;
}

/**
 * A set of changes that the store writes as one atomic, durable unit (a synced LevelDB
 * batch; a PostgreSQL transaction): it lands whole or not at all, and survives a power cut
 * once `Store.write` has resolved.
 */
export class StoreBatch {
  readonly operations: BatchOp[] = [];

  /** The root key: only into a store that has none yet (two nodes starting at once make one). */
  putRootKey(record: RootKeyRecord): this {
    this.operations.push({ type: 'check', table: 'meta', key: ROOT_KEY, value: undefined });
    return this.put('meta', ROOT_KEY, record);
  }

  /** The key record is still `record` (undefined: no such key) when the batch lands (see BatchOp `check`). */
  expectKey(keyId: string, record: KeyRecord | undefined): this {
    this.operations.push({ type: 'check', table: 'keys', key: keyId, value: record });
    return this;
  }

  /** The alias is still `record` (undefined: no such alias) when the batch lands. */
  expectAlias(aliasName: string, record: AliasRecord | undefined): this {
    this.operations.push({ type: 'check', table: 'aliases', key: aliasName, value: record });
    return this;
  }

  putKey(record: KeyRecord): this {
    return this.put('keys', record.keyId, record);
  }

  putVersion(keyId: string, version: number, wrappedMaterial: Buffer): this {
    return this.put('versions', versionRecordKey(keyId, version), wrappedMaterial);
  }

  /** Removes one version's material (imported material that was deleted or expired). */
  deleteVersion(keyId: string, version: number): this {
    return this.delete('versions', versionRecordKey(keyId, version));
  }

  /** Removes a key and everything of it: record, every version, its rotations. */
  deleteKey(record: KeyRecord): this {
    this.delete('keys', record.keyId);
    for (let version = 1; version <= record.currentVersion; version++) {
      const key = versionRecordKey(record.keyId, version);
      this.delete('versions', key);
      this.delete('rotations', key);
    }
    return this;
  }

  putRotation(record: RotationRecord): this {
    return this.put('rotations', versionRecordKey(record.keyId, record.version), record);
  }

  putAlias(record: AliasRecord): this {
    return this.put('aliases', record.aliasName, record);
  }

  deleteAlias(aliasName: string): this {
    return this.delete('aliases', aliasName);
  }

  /** Schedules work on a key (see ScheduledWork). */
  putSchedule(scheduled: ScheduledWork): this {
    return this.put('schedule', scheduleRecordKey(scheduled), '');
  }

  deleteSchedule(scheduled: ScheduledWork): this {
    return this.delete('schedule', scheduleRecordKey(scheduled));
  }

  putCredential(record: CredentialRecord): this {
    return this.put('credentials', record.accessKeyId, record);
  }

  /** Removes a credential and the note of its last use. */
  deleteCredential(accessKeyId: string): this {
    this.delete('credentials', accessKeyId);
    return this.delete('meta', LAST_USED_PREFIX + accessKeyId);
  }

  /** When a credential was last used (RFC 3339). */
  putCredentialLastUsed(accessKeyId: string, date: string): this {
    return this.put('meta', LAST_USED_PREFIX + accessKeyId, { date });
  }

  /**
   * An audit record, chained as the batch is written (audit-record.ts). `answersRequest`: it is the
   * record of the API request that made this change, which then writes no second one.
   */
  audit(entry: AuditEntry, options: { answersRequest?: boolean } = {}): this {
    const op: BatchOp = { type: 'put', table: 'audit', key: '', value: entry, auditEntry: true };
    if (options.answersRequest && entry.RequestId) op.answersRequest = true;
    this.operations.push(op);
    return this;
  }

  /** A record moved from a worker's audit journal (its text, checked): chained as the batch is written, like `audit`. */
  auditJournalRecord(journalText: string, parts?: RecordTextParts): this {
    const value: JournalRecordText = parts === undefined ? { journalText } : { journalText, parts };
    this.operations.push({ type: 'put', table: 'audit', key: '', value, auditEntry: true });
    return this;
  }

  /** The audit record of a change (the request's own record when a request made it). */
  auditChange(author: ChangeAuthor, change: Parameters<typeof changeEntry>[1], now: Date): this {
    return this.audit(changeEntry(author, change, now), { answersRequest: author.request !== undefined });
  }

  /**
   * Removes the stored audit entry kept under record `seq`, the last of its group (retention:
   * with the anchor that keeps the rest verifiable).
   */
  deleteAuditRecord(seq: number): this {
    return this.delete('audit', auditRecordKey(seq));
  }

  /** Where verification starts once older records are removed (Store.auditAnchor makes it). */
  putAuditAnchor(anchor: AuditAnchor): this {
    return this.put('meta', AUDIT_ANCHOR_KEY, anchor);
  }

  /** How far a worker's audit journal was moved into the trail (with the records moved). */
  putAuditJournal(journalId: string, state: AuditJournalState): this {
    return this.put('meta', AUDIT_JOURNAL_PREFIX + journalId, state);
  }

  deleteAuditJournal(journalId: string): this {
    return this.delete('meta', AUDIT_JOURNAL_PREFIX + journalId);
  }

  /**
   * Puts the stored bytes of an entry as they are, for a restore (src/backup): `table` is one
   * of the store's sublevels by name, `value` the bytes a backup took from it.
   */
  putRaw(table: string, key: string, value: Buffer): this {
    /* Precondition: only the store's own kinds of record are written by name. */
    if (!(SUBLEVEL_NAMES as readonly string[]).includes(table)) throw new Error(`the store has no sublevel '${table.slice(0, 32)}'`);
    // The identity and commit number belong to the store written to, and its seal names them:
    // a restore must not carry over those of the store it was copied from.
    if (table === 'meta' && (key === IDENTITY_KEY || key === COMMIT_KEY)) return this;
    // Nor the positions of the audit journals of the data directory it was copied from (a restore
    // goes into an empty directory: those journals are not there, and were moved before the copy).
    if (table === 'meta' && key.startsWith(AUDIT_JOURNAL_PREFIX)) return this;
    this.operations.push({ type: 'put', table: table as SublevelName, key, value, raw: true });
    return this;
  }

  /** Removes an entry by its store key (a restore's own marker). */
  deleteRaw(table: SublevelName, key: string): this {
    return this.delete(table, key);
  }

  private put(table: SublevelName, key: string, value: unknown): this {
    this.operations.push({ type: 'put', table, key, value });
    return this;
  }

  private delete(table: SublevelName, key: string): this {
    this.operations.push({ type: 'del', table, key });
    return this;
  }
}
