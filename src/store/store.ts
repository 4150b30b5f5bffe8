import type { AuditEvent } from '../protocol/types.js';
import type { AuditAnchor, AuditHead, AuditJournalState } from './audit-record.js';
import type { AliasRecord, CredentialRecord, KeyRecord, KeyState, RootKeyRecord, RotationRecord, SublevelName } from './records.js';
import type { ScheduledWork, StoreBatch } from './store-batch.js';
import type { StoreHealth } from './store-health.js';

export type { StoreEvent } from './store-health.js';
export { StoreBatch, versionRecordKey, WriteConflictError, type ScheduledWork } from './store-batch.js';

/*
 * What Keyhold asks of a store, whatever keeps the records: typed records in, typed records
 * out, and atomic durable batches (StoreBatch). Nothing of LevelDB or SQL shows above
 * src/store. LevelDbStore (leveldb-store.ts) is the default; a cluster worker's RemoteStore
 * (src/cluster) implements KeyStore by asking the primary.
 */

/**
 * The reads and writes of the service layer (KeyService, its KeyRegistry, CredentialService).
 * In a cluster worker the reads go to the primary and writing throws: a worker forwards every
 * change whole to the primary.
 */
export interface KeyStore {
  /** Whether reads can be answered now (false answers 503). */
  readonly isOpen: boolean;
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  getVersion(keyId: string, version: number): Promise<Buffer | undefined>;
  /**
   * A key's record and, when an operation on the key's versions can use it (the key is Enabled,
   * `hasVersions(record)`, and it has that version), the wrapped material of one of its versions
   * (`'current'`: the one the record names), as one read.
   */
  getKeyWithVersion(keyId: string, version: number | 'current', hasVersions: (record: KeyRecord) => boolean): Promise<KeyWithVersion>;
  /** Keys in KeyId order, starting after `afterKeyId`. */
  listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]>;
  listAliases(): Promise<AliasRecord[]>;
  /** Rotations of one key, oldest first, starting after `afterVersion`. */
  listRotations(keyId: string, afterVersion: number, limit: number): Promise<RotationRecord[]>;
  /** Up to `limit` scheduled works due at or before `until`, soonest first. */
  dueWork(until: Date, limit: number): Promise<ScheduledWork[]>;
  listCredentials(): Promise<CredentialRecord[]>;
  /** When a credential was last used (RFC 3339), if that was ever noted. */
  getCredentialLastUsed(accessKeyId: string): Promise<string | undefined>;
  batch(): StoreBatch;
  /** Reclaims the space of deleted records, so that deleted key material is gone from the disk too. */
  compact(): Promise<void>;
  /**
   * Writes a batch atomically and durably: resolves only once it is on disk (unless
   * `sync: false`, for audit records of requests that changed nothing and usage notes).
   */
  write(batch: StoreBatch, options?: { sync?: boolean }): Promise<void>;
}

/** The store as the process that owns it uses it: KeyStore, and the store's own life, audit chain and health. */
export interface Store extends KeyStore {
  /** The data directory the server was started with: its files beside the store (TLS, admin.credentials, the seal). */
  readonly dataDir: string;
  /** Where the records are, for messages: a directory, or a database URL without its password. */
  readonly location: string;
  /** The store's identity (its seal names it; a backup carries it). */
  readonly storeId: string;
  /** Open and taking writes: false answers 503 and /readyz 503. */
  readonly isHealthy: boolean;
  /** Whether the store can take writes, and the events it reports (failed writes, reopening). */
  readonly health: StoreHealth;
  getRootKeyRecord(): Promise<RootKeyRecord | undefined>;
  /** Starts numbering and MACing audit records under the key derived from the root key. */
  useAuditKey(rootKey: Buffer): Promise<{ headMatches: boolean }>;
  /** Whether a request's audit record went in with its change (then none is written after it); forgets it. */
  takeAnsweredRequest(requestId: string): boolean;
  /** The one listener told of every committed change, before the change's writers are. */
  onCommit(listener: CommitListener | undefined): void;
  /**
   * The one listener told of the changes other nodes committed to a store that several nodes
   * share (PostgreSQL), soon after they commit; never called by a store only this process writes.
   */
  onExternalChange(listener: ExternalChangeListener | undefined): void;
  /**
   * Whether this process is the one that runs background work (rotations, deletions, audit
   * retention, import expiry) now: always for a store only this process writes; for a shared
   * store, the one node that holds its lease, which passes to another node within seconds of
   * that node's death.
   */
  leadsBackgroundWork(): Promise<boolean>;
  /**
   * Claims a state-changing request's signature for the nodes that share the store until
   * `expiresAtMs`: false when another node already did. Always true for a store only this
   * process writes (the process's own replay memory is the whole truth there).
   */
  claimRequest(fingerprint: string, expiresAtMs: number): Promise<boolean>;
  getAuditHead(): Promise<AuditHead | undefined>;
  getAuditAnchor(): Promise<AuditAnchor | undefined>;
  /** How far a worker's audit journal was moved into the trail, if it ever was (see StoreBatch.putAuditJournal). */
  getAuditJournal(journalId: string): Promise<AuditJournalState | undefined>;
  /** The retention anchor for the last record removed (MACed under the audit key). */
  auditAnchor(last: { Chain: string; Seq: number; Mac: string }, before: string): AuditAnchor;
  /**
   * Whether a stored record's Mac, or the retention anchor's AnchorMac, is right under the audit
   * key: what listauditevents' Verify asks, where the key is (it never leaves the store).
   */
  auditRecordMacMatches(record: AuditEvent): boolean;
  auditAnchorMacMatches(anchor: AuditAnchor): boolean;
  auditNewest(): Promise<AuditEvent | undefined>;
  /** Up to `limit` chained audit records after number `afterSeq`, oldest first. */
  auditRange(afterSeq: number, limit: number): Promise<AuditEvent[]>;
  /**
   * Up to `limit` stored audit entries holding records after number `afterSeq`, oldest first,
   * each the records one store write chained (retention removes whole entries).
   */
  auditGroups(afterSeq: number, limit: number): Promise<AuditEvent[][]>;
  /** Every chained audit record, oldest first (for tests and small stores). */
  listAudit(): Promise<AuditEvent[]>;
  /** Every stored entry of one kind of record in key order, undecoded (for verifiers): memory stays flat. */
  scanRecords(table: SublevelName): AsyncGenerator<StoredEntry>;
  /** One stored entry, undecoded; undefined when absent. */
  readStoredEntry(table: SublevelName, key: string): Promise<Buffer | undefined>;
  /** A point-in-time copy of every entry of every kind of record, read a page at a time (what a backup streams). */
  openSnapshot(): StoreSnapshot;
  /** Closes the store once the writes already queued are done. */
  close(): Promise<void>;
}

/** One stored entry, undecoded: a verifier must see a value that does not parse, not an exception. */
export interface StoredEntry {
  key: string;
  value: Buffer;
}

/** An open point-in-time copy of the store. */
export interface StoreSnapshot {
  /** Up to `limit` entries (maybe fewer); none means the end. */
  next(limit: number): Promise<{ table: SublevelName; key: string; value: Buffer }[]>;
  close(): Promise<void>;
}

/**
 * What one committed write changed, for the processes that cache the store's contents
 * (src/cluster): the key records written or deleted, and whether aliases or credentials
 * changed. Derived from the batch's operations, so no writer can forget to report a change.
 */
export interface StoreChange {
  /** Each key written (its new state and newest version) or deleted (`Deleted`, with its last version). */
  keys: { keyId: string; keyState: KeyState | 'Deleted'; currentVersion: number }[];
  aliases: boolean;
  credentials: boolean;
  /** Set when the store was reopened after a failed write: forget everything cached. */
  everything?: boolean;
}

/** A key's record and the wrapped material of one of its versions, read together. */
export interface KeyWithVersion {
  record: KeyRecord | undefined;
  /** Undefined when the key does not exist, is not Enabled, has no versions (see getKeyWithVersion) or lacks that version. */
  wrapped: Buffer | undefined;
}

/** Told what another node changed: see Store.onExternalChange. */
export type ExternalChangeListener = (change: StoreChange) => void;

/** Called after a write is durable and before its writers are told: see Store.onCommit. */
export type CommitListener = (change: StoreChange) => Promise<void>;

