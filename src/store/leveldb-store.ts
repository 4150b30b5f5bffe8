import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { ServiceUnavailableException } from '../errors.js';
import type { AuditEvent } from '../protocol/types.js';
import { AUDIT_ANCHOR_KEY, AUDIT_HEAD_KEY, AUDIT_JOURNAL_PREFIX, AuditChain, auditEntries, auditRecordKey, CHAINED_PREFIX, deriveAuditKey, recordsAfter, recordsOfEntry, type AuditAnchor, type AuditEntry, type AuditHead, type AuditJournalState, type JournalRecordText, type ChainedRecord } from './audit-record.js';
import { checkedJson, checkedText } from './checked-json.js';
import { checkTablesHolding, type TableCheckMemory } from './leveldb-files.js';
import { CommitSeal, type SealState } from './commit-seal.js';
import { COMMIT_KEY, IDENTITY_KEY, LAST_USED_PREFIX, parseScheduleRecordKey, ROOT_KEY, StoreBatch, versionRecordKey, type BatchOp, type ScheduledWork } from './store-batch.js';
import type { AliasRecord, AuditRecord, CredentialRecord, KeyRecord, KeyState, RootKeyRecord, RotationRecord } from './records.js';
import { AnsweredRequests, describeChange } from './store-change.js';
import { StoreHealth, storeFaultCause } from './store-health.js';
import { SUBLEVEL_NAMES, type SublevelName } from './records.js';
import { checkAgainstSeal, checkLevelFiles, createSeal, heldStoreEvidence, openLevel, readSeal, RESTORE_ADVICE, STORE_DIRECTORY, type StoreMarks } from './store-open.js';

import type { CommitListener, ExternalChangeListener, KeyWithVersion, Store, StoreChange, StoredEntry, StoreSnapshot } from './store.js';

// The value type is documentation: level's sublevel types do not carry it through.
type JsonSublevel<_V> = ReturnType<Level<string, unknown>['sublevel']>;

/**
 * One operation of the root db.batch. It is the only batch that spans sublevels of different
 * value types; level's types cannot express it, so operations are built here and cast once.
 */
type LevelOp =
  | { type: 'put'; sublevel: unknown; key: string; value: unknown; valueEncoding?: 'utf8' | 'buffer' }
  | { type: 'del'; sublevel: unknown; key: string };

/**
 * At most this many batches are merged into one LevelDB write: bounds the size of a write
 * and the wait of the first batch in it.
 */
const MAX_BATCHES_PER_WRITE = 1024;

/** Reopening after a failed write is retried after 0.5 s, then less often, at most every 10 s. */
const REOPEN_RETRY_MS = 500;
const MAX_REOPEN_RETRY_MS = 10_000;
/** Free space beyond the logs' size that a reopen waits for (LevelDB writes a table and a manifest). */
const REOPEN_MARGIN_BYTES = 1 << 20;

interface PendingWrite {
  operations: BatchOp[];
  /** Synced before it is acknowledged (every change); false only for audit records of requests that changed nothing. */
  sync: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The store on one LevelDB database (`level`), one sublevel per kind of record: the default,
 * for one machine. Reads are plain gets; every change goes through `write(batch)`.
 */
export class LevelDbStore implements Store {
  readonly meta: JsonSublevel<RootKeyRecord>;
  readonly keys: JsonSublevel<KeyRecord>;
  readonly versions: ReturnType<Level<string, unknown>['sublevel']>;
  readonly aliases: JsonSublevel<AliasRecord>;
  readonly rotations: JsonSublevel<RotationRecord>;
  readonly schedule: JsonSublevel<string>;
  readonly credentials: JsonSublevel<CredentialRecord>;
  readonly audit: JsonSublevel<AuditRecord>;
  /** Every sublevel, by its name (SUBLEVEL_NAMES): where a batch's operations go. */
  private readonly byName: Record<SublevelName, ReturnType<Level<string, unknown>['sublevel']>>;

  /** Whether the store can take writes, and the events it reports. */
  readonly health = new StoreHealth();

  // Group commit: batches that arrive while a write is in progress wait here and go to disk
  // together, in arrival order, as one synced LevelDB batch.
  private readonly pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;
  private commitListener: CommitListener | undefined;
  /** The number the next LevelDB write carries (meta `commit`); the seal follows it. */
  private nextCommit: number;
  private recovering: Promise<void> | undefined;
  private closed = false;
  /** What confirmAbsent remembers of the MANIFEST and of the tables it found intact. */
  private readonly checkedTables: TableCheckMemory = { intact: new Map() };
  /** Numbers and MACs the audit records as they are written (useAuditKey). */
  private auditChain: AuditChain | undefined;
  /** Requests whose audit record was written with their change. */
  private readonly answeredRequests = new AnsweredRequests();

  private constructor(
    readonly dataDir: string,
    readonly location: string,
    private readonly db: Level<string, unknown>,
    private readonly seal: CommitSeal,
  ) {
    this.meta = db.sublevel('meta', { valueEncoding: checkedJson }) as JsonSublevel<RootKeyRecord>;
    this.keys = db.sublevel('keys', { valueEncoding: checkedJson }) as JsonSublevel<KeyRecord>;
    this.versions = db.sublevel('versions', { valueEncoding: 'buffer' });
    this.aliases = db.sublevel('aliases', { valueEncoding: checkedJson }) as JsonSublevel<AliasRecord>;
    this.rotations = db.sublevel('rotations', { valueEncoding: checkedJson }) as JsonSublevel<RotationRecord>;
    this.schedule = db.sublevel('schedule', { valueEncoding: checkedJson }) as JsonSublevel<string>;
    this.credentials = db.sublevel('credentials', { valueEncoding: checkedJson }) as JsonSublevel<CredentialRecord>;
    this.audit = db.sublevel('audit', { valueEncoding: checkedJson }) as JsonSublevel<AuditRecord>;
    this.byName = {
      meta: this.meta, keys: this.keys, versions: this.versions, aliases: this.aliases,
      rotations: this.rotations, schedule: this.schedule, credentials: this.credentials, audit: this.audit,
    };
    this.nextCommit = seal.commit + 1;
  }

  /**
   * Opens the store in `dataDir`, creating it only in a data directory that never held one.
   * Before anything is written it checks that the database is the one the seal names and
   * holds every acknowledged commit (see CommitSeal); any failure is one StartupError line
   * naming KEYHOLD_DATA_DIR, the file at fault and what to do.
   */
  static async open(dataDir: string, options: { reseal?: boolean } = {}): Promise<LevelDbStore> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const location = path.join(dataDir, STORE_DIRECTORY);
    const evidence = heldStoreEvidence(dataDir);
    const sealState = readSeal(dataDir);
    await checkLevelFiles(location);
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    await openLevel(db, location, evidence.length === 0, evidence);
    try {
      // LevelDB makes its directory with the default mode: the wrapped keys are ours alone.
      chmodSync(location, 0o700);
      const meta = db.sublevel('meta', { valueEncoding: checkedJson }) as JsonSublevel<unknown>;
      const marks = await readMarks(db, meta);
      const decision = options.reseal ? resealDecision(dataDir, sealState, marks) : checkAgainstSeal(dataDir, location, sealState, marks);
      const state = 'create' in decision ? createSeal(dataDir) : decision.seal;
      const store = new LevelDbStore(dataDir, location, db, await CommitSeal.open(dataDir, state));
      if ('create' in decision || decision.identityMissing) {
        // The identity goes in with commit 1: from here on the seal and the store agree.
        await store.writeRaw([{ type: 'put', table: 'meta', key: IDENTITY_KEY, value: { storeId: state.storeId } }]);
      }
      return store;
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  /** Whether the store is open and can take writes: false answers 503 and /healthz 503. */
  get isHealthy(): boolean {
    return this.db.status === 'open' && this.health.healthy;
  }

  /** The store's identity (the seal names it too). */
  get storeId(): string {
    return this.seal.storeId;
  }

  get isOpen(): boolean {
    return this.db.status === 'open';
  }

  batch(): StoreBatch {
    return new StoreBatch();
  }

  /**
   * Writes a batch atomically and durably: it resolves only after the data is synced (and
   * after the commit listener, if any, has been told). Batches written concurrently are
   * merged into one synced LevelDB batch (group commit): each stays all-or-nothing, and
   * none is acknowledged before the merged batch is on disk.
   */
  write(batch: StoreBatch, options: { sync?: boolean } = {}): Promise<void> {
    return this.writeRaw(batch.operations, options.sync ?? true);
  }

  /**
   * Starts the audit chain (audit-record.ts): from here on every audit entry written is numbered
   * and MACed under the key derived from the root key. The chain continues from the newest
   * record the store holds, so that nothing already written is ever overwritten, even when
   * the head was moved back by hand (`keyhold admin audit verify` reports that).
   */
  async useAuditKey(rootKey: Buffer): Promise<{ headMatches: boolean }> {
    const head = await this.getAuditHead();
    const last = await this.auditNewest();
    const from = last && (!head || last.Seq >= head.Seq) ? { Seq: last.Seq, Mac: last.Mac } : head;
    this.auditChain = new AuditChain(deriveAuditKey(rootKey), head?.Chain ?? last?.Chain ?? this.storeId, from);
    return { headMatches: head === undefined ? last === undefined : last !== undefined && last.Seq === head.Seq && last.Mac === head.Mac };
  }

  /**
   * Whether a request's audit record was already written with the change it made (then the
   * record the API writes for it after answering is not written twice). Forgets it.
   */
  takeAnsweredRequest(requestId: string): boolean {
    return this.answeredRequests.take(requestId);
  }

  private writeRaw(batchOperations: BatchOp[], sync = true): Promise<void> {
    if (batchOperations.length === 0) return Promise.resolve();
    return this.enqueue([...batchOperations], sync);
  }

  /** Queues a batch for the next group commit; a synced one with no operations writes the commit number alone. */
  private enqueue(operations: BatchOp[], sync: boolean): Promise<void> {
    /* Precondition: after a write error nothing is written until the store has been reopened. */
    const refused = this.health.writeError;
    if (refused) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ operations, sync, resolve, reject });
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

  /** Nobody else writes this store: there is never an external change to tell. */
  onExternalChange(_listener: ExternalChangeListener | undefined): void {}

  /** One node: its replay memory (src/auth/replay-guard.ts) is the whole truth. */
  claimRequest(_fingerprint: string, _expiresAtMs: number): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** This process is the store's one writer: it does the background work. */
  leadsBackgroundWork(): Promise<boolean> {
    return Promise.resolve(true);
  }

  private async flush(): Promise<void> {
    const acknowledgements: Promise<void>[] = [];
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, MAX_BATCHES_PER_WRITE);
      const committed = await this.commitGroup(group);
      // The next group goes to disk while this one's seal and listener run: per key, the
      // callers' locks already order the writes, and each writer waits for its own.
      acknowledgements.push(this.acknowledge(committed));
    }
    this.flushing = undefined;
    await Promise.all(acknowledgements);
  }

  /** Writes a group as one batch; the writers whose operations are now durable, and the commit number. */
  private async commitGroup(group: PendingWrite[]): Promise<{ writes: PendingWrite[]; commit: number; synced: boolean }> {
    const refused = this.health.writeError;
    const synced = group.some((write) => write.sync);
    if (refused) {
      for (const write of group) write.reject(refused);
      return { writes: [], commit: 0, synced };
    }
    try {
      return { writes: group, commit: await this.commitOperations(group.flatMap((write) => write.operations), synced), synced };
    } catch (error) {
      if (this.failedWrite(error) || group.length === 1) {
        for (const write of group) write.reject(this.health.writeError ?? error);
        return { writes: [], commit: 0, synced };
      }
      // The merged batch wrote nothing (it is atomic). One writer's bad batch must not fail
      // the others: each is written alone, and only the failing ones are rejected.
      const committed: PendingWrite[] = [];
      let commit = 0;
      for (const write of group) {
        try {
          commit = await this.commitOperations(write.operations, write.sync);
          committed.push(write);
        } catch (alone) {
          this.failedWrite(alone);
          write.reject(this.health.writeError ?? alone);
        }
      }
      return { writes: committed, commit, synced: committed.some((write) => write.sync) };
    }
  }

  /**
   * One LevelDB batch (synced unless it holds only audit records of requests that changed
   * nothing) that also records its commit number, with its audit entries numbered and MACed
   * in the order written and the chain's new head.
   */
  private async commitOperations(operations: BatchOp[], sync: boolean): Promise<number> {
    /* Precondition: a store that failed a write takes no more until it has been reopened. */
    const refused = this.health.writeError;
    if (refused) throw refused;
    const mark = this.auditChain?.mark();
    // Only synced batches are numbered: the seal counts the changes acknowledged as durable,
    // and an unsynced batch (audit records of requests that changed nothing) is none.
    const commit = sync ? this.nextCommit++ : this.nextCommit - 1;
    try {
      const levelOps = this.levelOperations(operations);
      if (sync) levelOps.push({ type: 'put', sublevel: this.meta, key: COMMIT_KEY, value: { commit } });
      await this.db.batch(levelOps as never, { sync } as never);
    } catch (error) {
      // Nothing of the batch was written: its records' numbers are given again.
      if (mark) this.auditChain!.rollback(mark);
      throw error;
    }
    this.answeredRequests.remember(operations);
    return commit;
  }

  /**
   * The operations as LevelDB writes them, each audit entry made a chained record (all of them
   * stored as one entry), and the chain's head after them.
   */
  private levelOperations(operations: BatchOp[]): LevelOp[] {
    const levelOps: LevelOp[] = [];
    const records: ChainedRecord[] = [];
    for (const op of operations) {
      // Checks: this process is the store's one writer, and its callers' locks order each record's changes.
      if (op.type === 'check') continue;
      const sublevel = this.sublevelNamed(op.table);
      if (op.type === 'del') {
        levelOps.push({ type: 'del', sublevel, key: op.key });
      } else if (op.auditEntry) {
        const chain = this.auditChain;
        /* Precondition: audit records are written only once the chain knows its key. */
        if (!chain) throw new Error('an audit record was written before the store was given the audit key');
        records.push(chain.append(op.value as AuditEntry | JournalRecordText));
      } else if (op.raw) {
        // The bytes are stored as given, not encoded again by the sublevel's JSON encoding.
        levelOps.push({ type: 'put', sublevel, key: op.key, value: op.value, valueEncoding: 'buffer' });
      } else {
        levelOps.push({ type: 'put', sublevel, key: op.key, value: op.value });
      }
    }
    if (records.length > 0) {
      // Stored as the chain made their text (with the check the sublevel's encoding would add),
      // so that each record is serialized once; one entry for the whole group.
      for (const entry of auditEntries(records)) levelOps.push({ type: 'put', sublevel: this.audit, key: entry.key, value: checkedText(entry.text), valueEncoding: 'utf8' });
      levelOps.push({ type: 'put', sublevel: this.meta, key: AUDIT_HEAD_KEY, value: this.auditChain!.head() });
    }
    return levelOps;
  }

  /**
   * Whether a write error is the store's fault (a full disk, an I/O error): then the store
   * takes no more writes and starts to reopen itself. A caller's bad batch is not.
   */
  private failedWrite(error: unknown): boolean {
    if (error === this.health.writeError) return true;
    const cause = storeFaultCause(error);
    if (cause === undefined) return false;
    if (this.health.fail(cause)) this.recovering ??= this.recover();
    return true;
  }

  private async acknowledge({ writes, commit, synced }: { writes: PendingWrite[]; commit: number; synced: boolean }): Promise<void> {
    if (writes.length === 0) return;
    if (!synced) {
      // Audit records of requests that changed nothing: no change to seal or to tell.
      for (const write of writes) write.resolve();
      return;
    }
    try {
      // Acknowledged only once the seal says so: a store that later opens shorter is noticed.
      await this.seal.advance(commit);
    } catch (error) {
      const cause = storeFaultCause(error) ?? `cannot write ${this.seal.file}`;
      if (this.health.fail(cause)) this.recovering ??= this.recover();
      for (const write of writes) write.reject(this.health.writeError);
      await this.tell(describeChange(writes.flatMap((write) => write.operations)));
      return;
    }
    await this.tell(describeChange(writes.flatMap((write) => write.operations)));
    for (const write of writes) write.resolve();
  }

  private async tell(change: StoreChange): Promise<void> {
    const listener = this.commitListener;
    if (!listener) return;
    try {
      await listener(change);
    } catch {
      // Not the writers' failure: their data is durable. The listener handles its own errors.
    }
  }

  /**
   * After a failed write: waits for the writes in flight to settle, then closes and reopens
   * the database (LevelDB then starts a fresh log after the damaged one), checks it against
   * the seal, and takes writes again. While the disk is full it retries, at most every few
   * seconds; reads keep working from the open database until a reopen is tried.
   */
  private async recover(): Promise<void> {
    const started = Date.now();
    await new Promise((resolve) => setImmediate(resolve));
    await this.flushing;
    let failures = 0;
    let waitingForSpace = false;
    while (!this.closed) {
      // On a full disk the database stays open for reads until there is room to reopen it:
      // reopening writes what the log holds into a new table.
      const room = await this.roomToReopen();
      if (!room.enough) {
        if (!waitingForSpace) this.health.emit({ type: 'reopen-failed', cause: `waiting for ${room.needed} bytes of free space`, retryInMs: REOPEN_RETRY_MS });
        waitingForSpace = true;
        await sleep(REOPEN_RETRY_MS);
        continue;
      }
      try {
        await this.reopen();
        this.recovering = undefined;
        this.health.recovered(Date.now() - started);
        // A write that failed may still have reached the disk: every cache forgets everything.
        await this.tell({ keys: [], aliases: true, credentials: true, everything: true });
        return;
      } catch (error) {
        const retryInMs = Math.min(REOPEN_RETRY_MS * 2 ** failures++, MAX_REOPEN_RETRY_MS);
        this.health.emit({ type: 'reopen-failed', cause: storeFaultCause(error) ?? (error as Error).message, retryInMs });
        await sleep(retryInMs);
      }
    }
    this.recovering = undefined;
  }

  /** Whether the file system has room for LevelDB to reopen: its logs' size and a margin. */
  private async roomToReopen(): Promise<{ enough: boolean; needed: number }> {
    try {
      const names = await readdir(this.location);
      const sizes = await Promise.all(names.filter((name) => name.endsWith('.log')).map(async (name) => (await stat(path.join(this.location, name))).size));
      const needed = sizes.reduce((sum, size) => sum + size, 0) + REOPEN_MARGIN_BYTES;
      const space = await statfs(this.location);
      return { enough: space.bavail * space.bsize >= needed, needed };
    } catch {
      // Cannot tell: try, and let the open say what is wrong.
      return { enough: true, needed: 0 };
    }
  }

  private async reopen(): Promise<void> {
    if (this.db.status === 'open') await this.db.close();
    // A failed append leaves a torn end of the log, which is allowed; damage before it is not.
    await checkLevelFiles(this.location);
    await this.db.open({ createIfMissing: false });
    // Sublevels do not follow their database when it is opened again.
    await Promise.all(Object.values(this.byName).map((sublevel) => sublevel.open()));
    const marks = await readMarks(this.db, this.meta);
    /* Postcondition: the reopened store holds every acknowledged commit. */
    if (marks.identity?.storeId !== this.seal.storeId || marks.commit < this.seal.commit) {
      throw new Error(`the reopened store does not match its seal (commit ${marks.commit}, seal ${this.seal.commit}): ${RESTORE_ADVICE}`);
    }
    // The failed write may have landed: the next number follows whatever the store holds.
    this.nextCommit = Math.max(this.nextCommit, marks.commit + 1);
  }

  async getRootKeyRecord(): Promise<RootKeyRecord | undefined> {
    return (await this.read('the root key', () => this.meta.get(ROOT_KEY))) as RootKeyRecord | undefined;
  }

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const record = (await this.read(`key ${keyId}`, () => this.keys.get(keyId))) as KeyRecord | undefined;
    // Absent may mean damaged: a key is never NotFound because its table is damaged.
    if (record === undefined) await this.confirmAbsent(`key ${keyId}`, `${this.keys.prefix}${keyId}`);
    return record;
  }

  async getVersion(keyId: string, version: number): Promise<Buffer | undefined> {
    return (await this.read(`version ${version} of key ${keyId}`, () => this.versions.get(versionRecordKey(keyId, version)))) as Buffer | undefined;
  }

  /**
   * A key's record and, when an operation on the key's versions can use it (the key is Enabled,
   * its material is versions — `hasVersions`, the caller's decision, as the store knows no kinds
   * of key — and it has that version), the wrapped material of one of its versions (`'current'`:
   * the one the record names), as one read: a cluster worker asks the primary once for both,
   * and is sent no material it would not use.
   */
  async getKeyWithVersion(keyId: string, version: number | 'current', hasVersions: (record: KeyRecord) => boolean): Promise<KeyWithVersion> {
    const record = await this.getKey(keyId);
    if (!record || record.keyState !== 'Enabled' || !hasVersions(record)) return { record, wrapped: undefined };
    const wanted = version === 'current' ? record.currentVersion : version;
    const exists = Number.isInteger(wanted) && wanted >= 1 && wanted <= record.currentVersion;
    return { record, wrapped: exists ? await this.getVersion(keyId, wanted) : undefined };
  }

  /** Keys in KeyId order, starting after `afterKeyId`. */
  async listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    const range = afterKeyId === undefined ? { limit } : { gt: afterKeyId, limit };
    return (await this.read('the list of keys', () => this.keys.values(range).all())) as KeyRecord[];
  }

  async listAliases(): Promise<AliasRecord[]> {
    return (await this.read('the aliases', () => this.aliases.values().all())) as AliasRecord[];
  }

  /** Rotations of one key, oldest first, starting after `afterVersion`. */
  async listRotations(keyId: string, afterVersion: number, limit: number): Promise<RotationRecord[]> {
    return (await this.read(`the rotations of key ${keyId}`, () =>
      this.rotations.values({ gt: versionRecordKey(keyId, afterVersion), lt: `${keyId}!~`, limit }).all(),
    )) as RotationRecord[];
  }

  async dueWork(until: Date, limit: number): Promise<ScheduledWork[]> {
    const keys = await this.read('the schedule', () => this.schedule.keys({ lte: `${until.toISOString()}\uffff`, limit }).all());
    // An entry that does not parse is verify-store's to report; the scheduler passes over it.
    return keys.map(parseScheduleRecordKey).filter((work): work is ScheduledWork => work !== undefined);
  }

  /**
   * Compacts the whole database, so that deleted entries are gone from the files on disk
   * and not only from what reads return.
   *
   * LevelDB's compactRange first writes the in-memory table to a file, then compacts the
   * levels that held files before it: in a young store, whose records were all still in
   * memory, that file goes to level 2 untouched, a deleted record beside what deleted it.
   * A synced write of nothing but the commit number (its key is in that file's range) and
   * a second compactRange merge that file down, so that the deleted record leaves it.
   */
  async compact(): Promise<void> {
    const db = this.db as unknown as { compactRange(start: string, end: string): Promise<void> };
    await db.compactRange('', '\uffff');
    await this.enqueue([], true);
    await db.compactRange('', '\uffff');
  }

  async listCredentials(): Promise<CredentialRecord[]> {
    return (await this.read('the credentials', () => this.credentials.values().all())) as CredentialRecord[];
  }

  /** When a credential was last used (RFC 3339), if that was ever noted. */
  async getCredentialLastUsed(accessKeyId: string): Promise<string | undefined> {
    const used = (await this.read(`the last use of credential ${accessKeyId}`, () => this.meta.get(LAST_USED_PREFIX + accessKeyId))) as { date: string } | undefined;
    return used?.date;
  }

  /** The audit chain's head: its newest record's number and MAC, MACed under the audit key. */
  async getAuditHead(): Promise<AuditHead | undefined> {
    return (await this.read('the audit head', () => this.meta.get(AUDIT_HEAD_KEY))) as AuditHead | undefined;
  }

  /** The retention anchor: where verification starts once older records were removed. */
  async getAuditAnchor(): Promise<AuditAnchor | undefined> {
    return (await this.read('the audit anchor', () => this.meta.get(AUDIT_ANCHOR_KEY))) as AuditAnchor | undefined;
  }

  async getAuditJournal(journalId: string): Promise<AuditJournalState | undefined> {
    return (await this.read("an audit journal's position", () => this.meta.get(AUDIT_JOURNAL_PREFIX + journalId))) as AuditJournalState | undefined;
  }

  /** Every chained audit record, oldest first (for tests and small stores; the API pages through auditRange). */
  async listAudit(): Promise<AuditEvent[]> {
    return this.auditRange(0, Number.MAX_SAFE_INTEGER);
  }

  /** The newest chained audit record. */
  async auditNewest(): Promise<AuditEvent | undefined> {
    const [newest] = await this.read('the audit trail', async () =>
      (await this.audit.values({ gte: CHAINED_PREFIX, lt: `${CHAINED_PREFIX}~`, reverse: true, limit: 1 }).all()).map(recordsOfEntry),
    );
    return newest?.at(-1);
  }

  /** The retention anchor for the last record removed (MACed under the audit key). */
  auditAnchor(last: { Chain: string; Seq: number; Mac: string }, before: string): AuditAnchor {
    /* Precondition: only a store that writes audit records removes them. */
    if (!this.auditChain) throw new Error('the store has no audit key');
    return this.auditChain.anchor(last, before);
  }

  auditRecordMacMatches(record: AuditEvent): boolean {
    return this.chainForChecks().recordMacMatches(record);
  }

  auditAnchorMacMatches(anchor: AuditAnchor): boolean {
    return this.chainForChecks().anchorMacMatches(anchor);
  }

  private chainForChecks(): AuditChain {
    /* Precondition: the server gives the store the audit key before it answers requests. */
    if (!this.auditChain) throw new Error('the store has no audit key');
    return this.auditChain;
  }

  /** Up to `limit` chained audit records after number `afterSeq`, oldest first. */
  async auditRange(afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return recordsAfter((after, count) => this.auditGroups(after, count), afterSeq, limit);
  }

  /** Up to `limit` stored audit entries holding records after number `afterSeq`, each its records oldest first. */
  auditGroups(afterSeq: number, limit: number): Promise<AuditEvent[][]> {
    return this.read('the audit trail', async () =>
      (await this.audit.values({ gt: auditRecordKey(afterSeq), lt: `${CHAINED_PREFIX}~`, limit }).all()).map(recordsOfEntry),
    );
  }

  /**
   * A read whose failure is the store's (damaged data, an I/O error, the database being
   * reopened) answers 503 naming what could not be read, and is reported with its cause:
   * never a NotFound for a record that may exist, never a crash.
   */
  private async read<T>(what: string, reading: () => Promise<T>): Promise<T> {
    try {
      return await reading();
    } catch (error) {
      const cause = storeFaultCause(error) ?? (this.db.status === 'open' ? undefined : 'the store is not open (it is being reopened)');
      if (cause === undefined) throw error;
      this.health.emit({ type: 'read-failed', what, cause });
      throw new ServiceUnavailableException(`The key store could not read ${what}`);
    }
  }

  /**
   * For a read that found nothing: checks the tables that would hold it (checkTablesHolding)
   * and answers 503, reported like any failed read, when one is damaged. When the check itself
   * cannot be made (files moving under a compaction), LevelDB's answer stands.
   */
  private async confirmAbsent(what: string, userKey: string): Promise<void> {
    let problems: Awaited<ReturnType<typeof checkTablesHolding>>;
    try {
      problems = await checkTablesHolding(this.location, Buffer.from(userKey, 'utf8'), this.checkedTables);
    } catch {
      return;
    }
    if (problems.length === 0) return;
    this.health.emit({ type: 'read-failed', what, cause: `damaged data (${problems[0]!.message})` });
    throw new ServiceUnavailableException(`The key store could not read ${what}`);
  }

  /** Closes the store once the writes already queued are done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    await this.recovering;
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
    await this.seal.close();
  }

  /** One of the sublevels above by its name (`keys`, `versions`, …); throws for any other. */
  sublevelNamed(name: string): ReturnType<Level<string, unknown>['sublevel']> {
    /* Precondition: only the store's own sublevels are written by name. */
    if (!Object.hasOwn(this.byName, name)) throw new Error(`the store has no sublevel '${name.slice(0, 32)}'`);
    return this.byName[name as SublevelName];
  }

  async *scanRecords(table: SublevelName): AsyncGenerator<StoredEntry> {
    const iterator = (this.sublevelNamed(table) as unknown as RawSublevel).iterator({ valueEncoding: 'buffer' });
    try {
      for (;;) {
        const entries = await iterator.nextv(SCAN_BATCH);
        if (entries.length === 0) return;
        for (const [key, value] of entries) yield { key, value };
      }
    } finally {
      await iterator.close();
    }
  }

  readStoredEntry(table: SublevelName, key: string): Promise<Buffer | undefined> {
    return (this.sublevelNamed(table) as unknown as RawSublevel).get(key, { valueEncoding: 'buffer' });
  }

  /**
   * One iterator over every entry of every sublevel. A LevelDB iterator reads one snapshot,
   * so what it yields is one point in time however long it is read while writes go on.
   * Closing the store closes it too.
   */
  openSnapshot(): StoreSnapshot {
    const iterator = this.db.iterator({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
    return {
      // nextv may answer fewer entries than asked (what LevelDB had read ahead); only an empty
      // answer means the end.
      next: async (limit) => (await iterator.nextv(limit)).map(([key, value]) => storedEntry(key, value as Buffer)),
      close: () => iterator.close(),
    };
  }

}

/** Entries fetched per LevelDB call in a scan: enough to amortise the call, few enough to keep memory flat. */
const SCAN_BATCH = 256;

type RawSublevel = {
  iterator(options: { valueEncoding: 'buffer' }): { nextv(size: number): Promise<[string, Buffer][]>; close(): Promise<void> };
  get(key: string, options: { valueEncoding: 'buffer' }): Promise<Buffer | undefined>;
};

/** `!<sublevel>!<key>` as an entry of its kind of record; the store holds nothing outside its sublevels. */
function storedEntry(prefixedKey: string, value: Buffer): { table: SublevelName; key: string; value: Buffer } {
  const separator = prefixedKey.indexOf('!', 1);
  const table = prefixedKey.slice(1, separator);
  /* Postcondition: every entry belongs to a sublevel a restore knows how to write. */
  if (!prefixedKey.startsWith('!') || separator === -1 || !(SUBLEVEL_NAMES as readonly string[]).includes(table)) {
    throw new Error('the store holds an entry outside its sublevels');
  }
  return { table: table as SublevelName, key: prefixedKey.slice(separator + 1), value };
}

/**
 * `reseal`: an operator vouches for the store as it is (keyhold admin verify-store --reseal):
 * the seal is made anew from the store's own identity and newest commit.
 */
function resealDecision(dataDir: string, seal: SealState | undefined, marks: StoreMarks): { seal: SealState; identityMissing: boolean } {
  const state = { storeId: marks.identity?.storeId ?? seal?.storeId ?? randomBytes(16).toString('hex'), commit: marks.commit };
  CommitSeal.replace(dataDir, state);
  return { seal: state, identityMissing: marks.identity === undefined };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The identity and newest commit number the database holds, and whether it holds anything. */
async function readMarks(db: Level<string, unknown>, meta: JsonSublevel<unknown>): Promise<StoreMarks> {
  const identity = (await meta.get(IDENTITY_KEY)) as { storeId: string } | undefined;
  const commit = ((await meta.get(COMMIT_KEY)) as { commit: number } | undefined)?.commit ?? 0;
  const first = await db.keys({ limit: 1 }).all();
  return { identity, commit, empty: first.length === 0 };
}
