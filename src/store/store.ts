import { chmodSync, mkdirSync } from 'node:fs';
import { Level } from 'level';
import { StartupError } from '../errors.js';
import type { AliasRecord, AuditRecord, CredentialRecord, KeyRecord, KeyState, RootKeyRecord, RotationRecord } from './records.js';

// The value type is documentation: level's sublevel types do not carry it through.
type JsonSublevel<_V> = ReturnType<Level<string, unknown>['sublevel']>;

// The root db.batch with sublevel ops is the only batch that spans sublevels of different
// value types; level's types cannot express it, so ops are built here and cast once.
type BatchOp =
  | { type: 'put'; sublevel: unknown; key: string; value: unknown }
  | { type: 'del'; sublevel: unknown; key: string };

const ROOT_KEY = 'root';
let auditSequence = 0;

/**
 * At most this many batches are merged into one LevelDB write: bounds the size of a write
 * and the wait of the first batch in it.
 */
const MAX_BATCHES_PER_WRITE = 1024;

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
}

/** A key's record and the wrapped material of one of its versions, read together. */
export interface KeyWithVersion {
  record: KeyRecord | undefined;
  /** Undefined when the key does not exist, is not an Enabled symmetric key, or lacks that version. */
  wrapped: Buffer | undefined;
}

/** Called after a write is durable and before its writers are told: see Store.onCommit. */
export type CommitListener = (change: StoreChange) => Promise<void>;

interface PendingWrite {
  operations: BatchOp[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

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

  audit(record: Omit<AuditRecord, 'time'>, now: Date): this {
    // Time, then a sequence number of this process: the audit trail reads back in the
    // order it was written, also within one millisecond (one process owns the store).
    const id = `${now.toISOString()}!${String(auditSequence++).padStart(12, '0')}`;
    this.operations.push({ type: 'put', sublevel: this.store.audit, key: id, value: { time: now.toISOString(), ...record } });
    return this;
  }

  /**
   * Puts the stored bytes of an entry as they are, for a restore (src/backup): `sublevel` is
   * one of the store's sublevels by name, `value` the bytes a backup took from it.
   */
  putRaw(sublevel: string, key: string, value: Buffer): this {
    const target = this.store.sublevelNamed(sublevel);
    // The bytes are stored as given, not encoded again by the sublevel's JSON encoding.
    this.operations.push({ type: 'put', sublevel: target, key, value, valueEncoding: 'buffer' } as BatchOp);
    return this;
  }
}

/**
 * Keyhold's persistence on one LevelDB database (`level`), with the sublevels of
 * DESIGN.md. Reads are plain gets; every change goes through `write(batch)`.
 */
export class Store {
  readonly meta: JsonSublevel<RootKeyRecord>;
  readonly keys: JsonSublevel<KeyRecord>;
  readonly versions: ReturnType<Level<string, unknown>['sublevel']>;
  readonly aliases: JsonSublevel<AliasRecord>;
  readonly rotations: JsonSublevel<RotationRecord>;
  readonly schedule: JsonSublevel<string>;
  readonly credentials: JsonSublevel<CredentialRecord>;
  readonly audit: JsonSublevel<AuditRecord>;

  // Group commit: batches that arrive while a write is in progress wait here and go to disk
  // together, in arrival order, as one synced LevelDB batch.
  private readonly pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;
  private commitListener: CommitListener | undefined;

  private constructor(
    readonly location: string,
    private readonly db: Level<string, unknown>,
  ) {
    this.meta = db.sublevel('meta', { valueEncoding: 'json' }) as JsonSublevel<RootKeyRecord>;
    this.keys = db.sublevel('keys', { valueEncoding: 'json' }) as JsonSublevel<KeyRecord>;
    this.versions = db.sublevel('versions', { valueEncoding: 'buffer' });
    this.aliases = db.sublevel('aliases', { valueEncoding: 'json' }) as JsonSublevel<AliasRecord>;
    this.rotations = db.sublevel('rotations', { valueEncoding: 'json' }) as JsonSublevel<RotationRecord>;
    this.schedule = db.sublevel('schedule', { valueEncoding: 'json' }) as JsonSublevel<string>;
    this.credentials = db.sublevel('credentials', { valueEncoding: 'json' }) as JsonSublevel<CredentialRecord>;
    this.audit = db.sublevel('audit', { valueEncoding: 'json' }) as JsonSublevel<AuditRecord>;
  }

  /**
   * Opens (creating if needed) the store in `directory`. A second process on the same
   * directory gets a StartupError naming KEYHOLD_DATA_DIR, never a LevelDB stack.
   */
  static async open(directory: string): Promise<Store> {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const location = `${directory}/store`;
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code === 'LEVEL_LOCKED') {
        throw new StartupError(`store in use: another Keyhold process has ${location} open`, 'KEYHOLD_DATA_DIR');
      }
      throw new StartupError(`cannot open the store at ${location}: ${(error as Error).message}`, 'KEYHOLD_DATA_DIR');
    }
    // LevelDB makes its directory with the default mode: the wrapped keys are ours alone.
    chmodSync(location, 0o700);
    return new Store(location, db);
  }

  get isOpen(): boolean {
    return this.db.status === 'open';
  }

  batch(): StoreBatch {
    return new StoreBatch(this);
  }

  /**
   * Writes a batch atomically and durably: it resolves only after the data is synced (and
   * after the commit listener, if any, has been told). Batches written concurrently are
   * merged into one synced LevelDB batch (group commit): each stays all-or-nothing, and
   * none is acknowledged before the merged batch is on disk.
   */
  write(batch: StoreBatch): Promise<void> {
    if (batch.operations.length === 0) return Promise.resolve();
    const operations = [...batch.operations];
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ operations, resolve, reject });
      // Started on the next turn of the event loop, so that the writes issued by the
      // requests of this turn join the first group too.
      this.flushing ??= new Promise<void>((done) => setImmediate(() => void this.flush().then(done)));
    });
  }

  /**
   * Registers the one listener told of every committed change (the cluster primary, which
   * tells its workers to drop what they cached). A write resolves only after the listener
   * has resolved; the listener must not reject, since the change is already durable.
   */
  onCommit(listener: CommitListener | undefined): void {
    this.commitListener = listener;
  }

  private async flush(): Promise<void> {
    const acknowledgements: Promise<void>[] = [];
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, MAX_BATCHES_PER_WRITE);
      const committed = await this.commitGroup(group);
      // The next group goes to disk while this one's listener runs: per key, the callers'
      // locks already order the writes, and each writer waits for its own listener call.
      acknowledgements.push(this.acknowledge(committed));
    }
    this.flushing = undefined;
    await Promise.all(acknowledgements);
  }

  /** Writes a group as one batch; the writers whose operations are now durable. */
  private async commitGroup(group: PendingWrite[]): Promise<PendingWrite[]> {
    try {
      await this.db.batch(group.flatMap((write) => write.operations) as never, { sync: true } as never);
      return group;
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return [];
      }
      // The merged batch wrote nothing (it is atomic). One writer's bad batch must not fail
      // the others: each is written alone, and only the failing ones are rejected.
      const committed: PendingWrite[] = [];
      for (const write of group) {
        try {
          await this.db.batch(write.operations as never, { sync: true } as never);
          committed.push(write);
        } catch (alone) {
          write.reject(alone);
        }
      }
      return committed;
    }
  }

  private async acknowledge(committed: PendingWrite[]): Promise<void> {
    if (committed.length === 0) return;
    const listener = this.commitListener;
    if (listener) {
      try {
        await listener(this.describe(committed.flatMap((write) => write.operations)));
      } catch {
        // Not the writers' failure: their data is durable. The listener handles its own errors.
      }
    }
    for (const write of committed) write.resolve();
  }

  /** What a set of operations changed: the keys, aliases and credentials it touched. */
  private describe(operations: BatchOp[]): StoreChange {
    const keys = new Map<string, StoreChange['keys'][number]>();
    const lastVersions = new Map<string, number>();
    let aliases = false;
    let credentials = false;
    for (const op of operations) {
      if (op.sublevel === this.keys) {
        const record = op.type === 'put' ? (op.value as KeyRecord) : undefined;
        keys.set(op.key, {
          keyId: op.key,
          keyState: record ? record.keyState : 'Deleted',
          currentVersion: record ? record.currentVersion : 0,
        });
      } else if (op.sublevel === this.versions) {
        const separator = op.key.lastIndexOf('!');
        const keyId = op.key.slice(0, separator);
        lastVersions.set(keyId, Math.max(lastVersions.get(keyId) ?? 0, Number(op.key.slice(separator + 1))));
      } else if (op.sublevel === this.aliases) {
        aliases = true;
      } else if (op.sublevel === this.credentials) {
        credentials = true;
      }
    }
    // A deleted record names no version: the deleted versions say how many there were.
    for (const entry of keys.values()) {
      if (entry.keyState === 'Deleted') entry.currentVersion = lastVersions.get(entry.keyId) ?? 0;
    }
    return { keys: [...keys.values()], aliases, credentials };
  }

  async getRootKeyRecord(): Promise<RootKeyRecord | undefined> {
    return (await this.meta.get(ROOT_KEY)) as RootKeyRecord | undefined;
  }

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    return (await this.keys.get(keyId)) as KeyRecord | undefined;
  }

  async getVersion(keyId: string, version: number): Promise<Buffer | undefined> {
    return (await this.versions.get(versionRecordKey(keyId, version))) as Buffer | undefined;
  }

  /**
   * A key's record and, when a symmetric operation can use it (the key is Enabled and
   * SYMMETRIC_DEFAULT, and has that version), the wrapped material of one of its versions
   * (`'current'`: the one the record names), as one read: a cluster worker asks the primary
   * once for both, and is sent no material it would not use.
   */
  async getKeyWithVersion(keyId: string, version: number | 'current'): Promise<KeyWithVersion> {
    const record = await this.getKey(keyId);
    if (!record || record.keyState !== 'Enabled' || record.keySpec !== 'SYMMETRIC_DEFAULT') return { record, wrapped: undefined };
    const wanted = version === 'current' ? record.currentVersion : version;
    const exists = Number.isInteger(wanted) && wanted >= 1 && wanted <= record.currentVersion;
    return { record, wrapped: exists ? await this.getVersion(keyId, wanted) : undefined };
  }

  /** Keys in KeyId order, starting after `afterKeyId`. */
  async listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    const range = afterKeyId === undefined ? { limit } : { gt: afterKeyId, limit };
    return (await this.keys.values(range).all()) as KeyRecord[];
  }

  async listAliases(): Promise<AliasRecord[]> {
    return (await this.aliases.values().all()) as AliasRecord[];
  }

  /** Rotations of one key, oldest first, starting after `afterVersion`. */
  async listRotations(keyId: string, afterVersion: number, limit: number): Promise<RotationRecord[]> {
    return (await this.rotations
      .values({ gt: versionRecordKey(keyId, afterVersion), lt: `${keyId}!~`, limit })
      .all()) as RotationRecord[];
  }

  /** Schedule entries due at or before `until` (entries begin with an RFC 3339 date). */
  async dueScheduleEntries(until: Date, limit: number): Promise<string[]> {
    return this.schedule.keys({ lte: `${until.toISOString()}\uffff`, limit }).all();
  }

  /**
   * Compacts the whole database, so that deleted entries are gone from the files on disk
   * and not only from what reads return.
   */
  async compact(): Promise<void> {
    await (this.db as unknown as { compactRange(start: string, end: string): Promise<void> }).compactRange('', '\uffff');
  }

  async listCredentials(): Promise<CredentialRecord[]> {
    return (await this.credentials.values().all()) as CredentialRecord[];
  }

  async listAudit(): Promise<AuditRecord[]> {
    return (await this.audit.values().all()) as AuditRecord[];
  }

  /** Closes the store once the writes already queued are done. */
  async close(): Promise<void> {
    await this.flushing;
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }

  /** One of the sublevels above by its name (`keys`, `versions`, …); throws for any other. */
  sublevelNamed(name: string): ReturnType<Level<string, unknown>['sublevel']> {
    const sublevels: Record<string, ReturnType<Level<string, unknown>['sublevel']>> = {
      meta: this.meta, keys: this.keys, versions: this.versions, aliases: this.aliases,
      rotations: this.rotations, schedule: this.schedule, credentials: this.credentials, audit: this.audit,
    };
    /* Precondition: only the store's own sublevels are written by name. */
    if (!Object.hasOwn(sublevels, name)) throw new Error(`the store has no sublevel '${name.slice(0, 32)}'`);
    return sublevels[name]!;
  }

  /**
   * One iterator over every entry of every sublevel. A LevelDB iterator reads one snapshot,
   * so what it yields is one point in time however long it is read while writes go on.
   * Keys keep their sublevel prefix (`!keys!<KeyId>`); values are the stored bytes. The
   * caller closes it (closing the store closes it too).
   */
  snapshotIterator() {
    return this.db.iterator({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  }
}
