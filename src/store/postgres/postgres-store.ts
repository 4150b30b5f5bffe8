import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { ServiceUnavailableException, StartupError } from '../../errors.js';
import type { AuditEvent } from '../../protocol/types.js';
import { anchorMacMatches, AUDIT_ANCHOR_KEY, AUDIT_HEAD_KEY, AUDIT_JOURNAL_PREFIX, AuditChain, auditEntries, auditRecordKey, CHAINED_PREFIX, deriveAuditKey, recordMacMatches, recordsAfter, recordsOfEntry, type AuditAnchor, type AuditEntry, type AuditHead, type AuditJournalState, type JournalRecordText, type ChainedRecord } from '../audit-record.js';
import { canonicalJson } from '../audit-record.js';
import { checkedText, DamagedValueError, decodeCheckedJson, encodeCheckedJson } from '../checked-json.js';
import { SUBLEVEL_NAMES, type AliasRecord, type CredentialRecord, type KeyRecord, type RootKeyRecord, type RotationRecord, type SublevelName } from '../records.js';
import { IDENTITY_KEY, LAST_USED_PREFIX, parseScheduleRecordKey, ROOT_KEY, StoreBatch, versionRecordKey, WriteConflictError, type BatchOp, type ScheduledWork } from '../store-batch.js';
import { AnsweredRequests, describeChange, isEmptyChange } from '../store-change.js';
import { StoreHealth } from '../store-health.js';
import type { CommitListener, ExternalChangeListener, KeyWithVersion, Store, StoreChange, StoredEntry, StoreSnapshot } from '../store.js';
import { migrate, SchemaTooNewError } from './migrate.js';
import { RECORD_TABLES, REPLAY_TABLE } from './schema.js';

/** The channel on which every node announces its committed changes to the others. */
const CHANGES_CHANNEL = 'keyhold_changes';
/** NOTIFY payloads must stay under 8,000 bytes; a larger change is announced as "everything". */
const MAX_NOTIFY_BYTES = 7_000;
/** Serialises the audit chain's writers across nodes: "keyholda" in ASCII. */
const AUDIT_LOCK = 0x6b6579686f6c6461n;
/** The background work's lease: a session advisory lock ("keyholdb"), released when its holder's connection ends. */
const BACKGROUND_LOCK = 0x6b6579686f6c6462n;
/** At most this many batches are merged into one transaction. */
const MAX_BATCHES_PER_TRANSACTION = 1024;
/** Rows fetched per query by scans and snapshots: memory stays flat at a million keys. */
const PAGE_ROWS = 500;
/** The listening connection is opened again after 0.5 s, then less often, at most every 5 s. */
const RELISTEN_MS = 500;
const MAX_RELISTEN_MS = 5_000;
/** Expired replay claims are swept at most this often (by whichever node claims). */
const PRUNE_CLAIMS_MS = 60_000;
/** While the database fails, it is asked this often whether it is back. */
const PROBE_INTERVAL_MS = 1_000;
/** Connections per node: the group commit needs one, reads take the rest. */
const POOL_SIZE = 10;

/**
 * appendAuditRecords as one PL/pgSQL function, made on each pooled connection when it opens, as
 * a temporary function (pg_temp: it lives and dies with the connection, and the database's
 * schema does not change). Called with bound parameters, it takes about a quarter less of the
 * database's CPU per record than the same steps sent as SQL text (bench/RESULTS.md,
 * "PostgreSQL: the audit append as a function"): no parsing and planning of five statements per
 * call, and the records' entries sent as one binary parameter (packValues). Each of its
 * statements reads with a snapshot taken after the lock, as the statements of a transaction do
 * under READ COMMITTED.
 */
const APPEND_FUNCTION = 'pg_temp.keyhold_audit_append';
const CREATE_APPEND_FUNCTION = `CREATE FUNCTION ${APPEND_FUNCTION}(head_key text, own bytea, new_head bytea, entry_keys text[], entry_bytes bytea, entry_offsets integer[], entry_lengths integer[], synced boolean)
RETURNS integer LANGUAGE plpgsql AS $keyhold$
BEGIN
  IF NOT synced THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  PERFORM pg_advisory_xact_lock(${AUDIT_LOCK});
  IF NOT EXISTS (SELECT 1 FROM ${RECORD_TABLES.meta} WHERE key = head_key AND value = own) THEN RETURN 0; END IF;
  INSERT INTO ${RECORD_TABLES.audit} (key, value) ${packedRows('entry_keys', 'entry_bytes', 'entry_offsets', 'entry_lengths')};
  UPDATE ${RECORD_TABLES.meta} SET value = new_head WHERE key = head_key;
  RETURN 1;
END
$keyhold$`;
/**
 * Each pooled connection's compression of large values: lz4 where the server offers it
 * (PostgreSQL 14 and later, built with lz4) and nobody chose another (in postgresql.conf, for
 * the database or role, or in the URL's options). Never an error: elsewhere nothing changes.
 */
const PREFER_LZ4 = `SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings WHERE name = 'default_toast_compression' AND source = 'default' AND 'lz4' = ANY(enumvals)`;
/** PostgreSQL's undefined_function: the connection lost its function (a pooler that swapped it), or never had it. */
const UNDEFINED_FUNCTION = '42883';

interface PendingWrite {
  operations: BatchOp[];
  sync: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The meta record a restore writes first and removes last: no node starts while it is there. */
export const RESTORE_MARKER_KEY = 'restore-in-progress';

/** Options of PostgresStore.open. */
export interface PostgresStoreOptions {
  /** Opened by `keyhold admin restore`, which writes and then removes the marker itself. */
  restoring?: boolean;
  /** postgres://user:password@host:port/database?sslmode=…: the database every node shares. */
  url: string;
  /** The node's own data directory: TLS files, admin.credentials; no records. */
  dataDir: string;
}

/**
 * The store on a PostgreSQL database that any number of Keyhold nodes share (one table per
 * kind of record, schema.ts). Each batch is one transaction, synced by the database's own
 * commit. Batches written concurrently on this node go in one transaction (group commit).
 * Checks (BatchOp `check`) read their record under a row lock, so a change read on one node
 * and written after another node changed the record is refused (WriteConflictError), never
 * lost. Audit records of every node go on one chain, its writers serialised by an advisory
 * lock held for the transaction. Every committed change is announced with NOTIFY, and each
 * node tells its caches (onExternalChange) what the others changed.
 */
export class PostgresStore implements Store {
  readonly health = new StoreHealth();
  private readonly pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;
  private commitListener: CommitListener | undefined;
  private externalListener: ExternalChangeListener | undefined;
  private auditKey: Buffer | undefined;
  private readonly answeredRequests = new AnsweredRequests();
  private closed = false;
  /** This process, in the announcements of its changes: it does not tell itself what it did. */
  private readonly nodeId = randomBytes(8).toString('hex');
  private listener: pg.Client | undefined;
  private relistenTimer: NodeJS.Timeout | undefined;
  /** The connection that holds the background work's lease, while this node holds it. */
  private leaseHolder: pg.Client | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** When expired replay claims were last swept. */
  private prunedAt = 0;
  /** The cause of the last failed query, until one succeeds again. */
  private lastFailure: string | undefined;
  /**
   * The audit chain's head as this node stored it last, with its stored bytes: while it is
   * still the stored head (no other node wrote records since), a transaction of audit records
   * alone goes on from it in one round trip (appendAuditRecords). Undefined when unknown.
   */
  private ownHead: { head: AuditHead; stored: Buffer } | undefined;

  private constructor(
    readonly dataDir: string,
    readonly location: string,
    readonly storeId: string,
    private readonly pool: pg.Pool,
    private readonly url: string,
    /** The pooled connections on which APPEND_FUNCTION was made. */
    private readonly withAppendFunction: WeakSet<pg.ClientBase> = new WeakSet(),
  ) {}

  /**
   * Connects, brings the schema up to date (migrate.ts) and reads the store's identity, making
   * it when the database holds none. Every failure is one StartupError naming KEYHOLD_STORE_URL,
   * with nothing changed in the database beyond the schema.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const location = redactedUrl(options.url);
    const withAppendFunction = new WeakSet<pg.ClientBase>();
    const pool = new pg.Pool({
      connectionString: options.url,
      max: POOL_SIZE,
      // The pool hands a new connection out once this has run. Where the function cannot be made
      // (no TEMPORARY privilege on the database, a read-only standby), the same steps go as SQL
      // text instead; an error here must not end the connection, so it is swallowed.
      onConnect: async (client: pg.ClientBase) => {
        // Large values (the audit trail's entries of up to 64 KiB) compressed with lz4 rather
        // than pglz: about a quarter of the database's CPU per record (decision 114).
        await client.query(PREFER_LZ4).catch(() => undefined);
        try {
          await client.query(CREATE_APPEND_FUNCTION);
          withAppendFunction.add(client);
        } catch {
          // The text path.
        }
      },
    });
    // An idle connection that the server closes is reported here; the next query reconnects.
    pool.on('error', () => undefined);
    // A connection the server closes while it is checked out between two queries (a transaction
    // waiting for its next statement, a snapshot between pages) reports it on the client, where
    // pg-pool listens only while it is idle: without a listener that error ends the process.
    // The next query on it fails (and is answered 503); the connection is released as broken.
    pool.on('connect', (client) => client.on('error', () => undefined));
    try {
      const client = await pool.connect().catch((error: unknown) => {
        throw new StartupError(`cannot connect to the database at ${location}: ${connectionCause(error)}`, 'KEYHOLD_STORE_URL');
      });
      let storeId: string;
      try {
        await migrate(client).catch((error: unknown) => {
          if (error instanceof SchemaTooNewError) throw new StartupError(`${error.message}; nothing was changed`, 'KEYHOLD_STORE_URL');
          throw new StartupError(`cannot prepare the database at ${location}: ${connectionCause(error)}`, 'KEYHOLD_STORE_URL');
        });
        storeId = await ensureIdentity(client);
        if (!options.restoring && (await readJson(client, 'meta', RESTORE_MARKER_KEY).catch(() => 'damaged')) !== undefined) {
          throw new StartupError(`a restore into the database at ${location} stopped half-way: empty the database (drop and create it) and restore again`, 'KEYHOLD_STORE_URL');
        }
      } finally {
        client.release();
      }
      const store = new PostgresStore(options.dataDir, location, storeId, pool, options.url, withAppendFunction);
      await store.listen();
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  /** Whether a restore into this database started and did not finish. */
  async hasRestoreMarker(): Promise<boolean> {
    return (await this.readStoredEntry('meta', RESTORE_MARKER_KEY)) !== undefined;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get isHealthy(): boolean {
    return !this.closed && this.lastFailure === undefined;
  }

  batch(): StoreBatch {
    return new StoreBatch();
  }

  async useAuditKey(rootKey: Buffer): Promise<{ headMatches: boolean }> {
    this.auditKey = deriveAuditKey(rootKey);
    const head = await this.getAuditHead();
    const last = await this.auditNewest();
    return { headMatches: head === undefined ? last === undefined : last !== undefined && last.Seq === head.Seq && last.Mac === head.Mac };
  }

  takeAnsweredRequest(requestId: string): boolean {
    return this.answeredRequests.take(requestId);
  }

  onCommit(listener: CommitListener | undefined): void {
    this.commitListener = listener;
  }

  onExternalChange(listener: ExternalChangeListener | undefined): void {
    this.externalListener = listener;
  }

  /**
   * Whether this node holds the background work's lease: a session advisory lock on a
   * connection of its own. When the node dies, its connection ends (at once for a killed
   * process, within the server's TCP keepalive for a lost machine) and the next node to ask
   * gets the lease. A lease whose connection failed is given up before the work runs.
   */
  async leadsBackgroundWork(): Promise<boolean> {
    if (this.closed) return false;
    if (this.leaseHolder) {
      try {
        await this.leaseHolder.query('SELECT 1');
        return true;
      } catch {
        await this.leaseHolder.end().catch(() => undefined);
        this.leaseHolder = undefined;
      }
    }
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1) AS held', [BACKGROUND_LOCK.toString()]);
      if (rows[0]?.held && !this.closed) {
        this.leaseHolder = client;
        return true;
      }
    } catch {
      // The database cannot be reached: no lease, and no work, until it can.
    }
    await client.end().catch(() => undefined);
    return false;
  }

  /**
   * One statement: the claim goes in unless an unexpired one is there. Expired claims are
   * taken over here and swept once a minute (pruneClaims). Committed like any change, so a
   * claim answered true survives the database's crash.
   */
  async claimRequest(fingerprint: string, expiresAtMs: number): Promise<boolean> {
    const rows = await this.query(
      'the replay claims',
      'claim-request',
      `INSERT INTO ${REPLAY_TABLE} (fingerprint, expires_at) VALUES ($1, $2)
         ON CONFLICT (fingerprint) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE ${REPLAY_TABLE}.expires_at <= $3
         RETURNING 1 AS claimed`,
      [fingerprint, Math.ceil(expiresAtMs), Date.now()],
    );
    this.pruneClaimsSoon();
    return rows.length === 1;
  }

  private pruneClaimsSoon(): void {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_CLAIMS_MS) return;
    this.prunedAt = now;
    this.pool.query(`DELETE FROM ${REPLAY_TABLE} WHERE expires_at <= $1`, [now]).catch(() => undefined);
  }

  write(batch: StoreBatch, options: { sync?: boolean } = {}): Promise<void> {
    const operations = batch.operations;
    if (operations.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new ServiceUnavailableException('The key store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ operations: [...operations], sync: options.sync ?? true, resolve, reject });
      // Started on the next turn, so that the writes of this turn's requests join the group.
      this.flushing ??= new Promise<void>((done) => setImmediate(() => void this.flush().then(done)));
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, MAX_BATCHES_PER_TRANSACTION);
      const committed = await this.commitGroup(group);
      await this.acknowledge(committed);
    }
    this.flushing = undefined;
  }

  /** One transaction for the group; when it fails for one writer's batch, each is written alone. */
  private async commitGroup(group: PendingWrite[]): Promise<PendingWrite[]> {
    try {
      await this.transaction(group.flatMap((write) => write.operations), group.some((write) => write.sync));
      return group;
    } catch (error) {
      if (group.length === 1 || isConnectionFault(error)) {
        for (const write of group) write.reject(this.writeError(error));
        return [];
      }
      const committed: PendingWrite[] = [];
      for (const write of group) {
        try {
          await this.transaction(write.operations, write.sync);
          committed.push(write);
        } catch (alone) {
          write.reject(this.writeError(alone));
        }
      }
      return committed;
    }
  }

  /** What a failed write answers: a conflict as it is (the caller retries), the rest 503. */
  private writeError(error: unknown): unknown {
    if (error instanceof WriteConflictError) return error;
    const cause = connectionCause(error);
    this.failed(cause);
    return new ServiceUnavailableException(`The key store cannot write: ${cause}`);
  }

  private async acknowledge(writes: PendingWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const operations = writes.flatMap((write) => write.operations);
    this.answeredRequests.remember(operations);
    const change = describeChange(operations);
    if (!isEmptyChange(change) && this.commitListener) {
      try {
        await this.commitListener(change);
      } catch {
        // Not the writers' failure: their data is durable. The listener handles its own errors.
      }
    }
    for (const write of writes) write.resolve();
  }

  /**
   * The operations in one transaction, in three round trips whatever their number: (1) one
   * message with BEGIN, every lock the transaction needs, in one order on every node (the
   * checked records' names sorted, then the audit chain), so that two transactions never wait
   * for each other's locks, and then the read of the checked records, the chain's head and its
   * newest record; (2) one statement with every write (the last operation on a record wins, as
   * in a LevelDB batch), the chain's new head and the announcement; (3) COMMIT.
   */
  private async transaction(operations: BatchOp[], sync: boolean): Promise<void> {
    if (this.ownHead && operations.every((op) => op.type === 'put' && op.auditEntry) && isEmptyChange(describeChange(operations))) {
      if (await this.appendAuditRecords(operations, sync, this.ownHead)) return;
    }
    const checks = operations.filter((op): op is Extract<BatchOp, { type: 'check' }> => op.type === 'check');
    checks.sort((x, y) => (lockName(x.table, x.key) < lockName(y.table, y.key) ? -1 : 1));
    const audited = operations.some((op) => op.type === 'put' && op.auditEntry);
    /* Precondition: audit records are written only once the store knows the audit key. */
    if (audited && !this.auditKey) throw new Error('an audit record was written before the store was given the audit key');
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // A batch of audit records of requests that changed nothing is written like LevelDB's
      // unsynced batch: lost at most to a crash of the database's machine, never to Keyhold's.
      const opening = ['BEGIN', ...(sync ? [] : ['SET LOCAL synchronous_commit = off'])];
      for (const name of new Set(checks.map((check) => lockName(check.table, check.key)))) {
        opening.push(`SELECT pg_advisory_xact_lock(hashtextextended(${client.escapeLiteral(name)}, 0))`);
      }
      if (audited) opening.push(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`);
      const readStatement = lockedReadStatement(client, checks, audited);
      if (readStatement !== undefined) opening.push(readStatement);
      const opened = (await client.query(opening.join('; '))) as unknown as pg.QueryResult | pg.QueryResult[];
      const readRows = readStatement === undefined ? [] : (Array.isArray(opened) ? opened.at(-1)! : opened).rows;
      const read = lockedRead(readRows as { i: number; value: Buffer }[], checks.length);
      checks.forEach((check, i) => checkRecord(check, read.checked[i]));
      const rows = new Map<SublevelName, Map<string, Buffer | null>>();
      const set = (table: SublevelName, key: string, value: Buffer | null) => {
        let tableRows = rows.get(table);
        if (!tableRows) rows.set(table, (tableRows = new Map()));
        // Delete first so that the map's order is the order of the last writes.
        tableRows.delete(key);
        tableRows.set(key, value);
      };
      const chain = audited ? this.chainFrom(read.head, read.newest) : undefined;
      const records: ChainedRecord[] = [];
      for (const op of operations) {
        if (op.type === 'check') continue;
        if (op.type === 'del') {
          set(op.table, op.key, null);
        } else if (op.auditEntry) {
          records.push(chain!.append(op.value as AuditEntry | JournalRecordText));
        } else {
          set(op.table, op.key, storedValue(op));
        }
      }
      let head: { head: AuditHead; stored: Buffer } | undefined;
      if (chain) {
        // One row for the transaction's records: one heap tuple, index entry and WAL record for the group.
        for (const entry of auditEntries(records)) set('audit', entry.key, Buffer.from(checkedText(entry.text), 'utf8'));
        head = { head: chain.head(), stored: Buffer.from(encodeCheckedJson(chain.head()), 'utf8') };
        set('meta', AUDIT_HEAD_KEY, head.stored);
      }
      const change = describeChange(operations);
      const statement = writeStatement(rows, isEmptyChange(change) ? undefined : this.announcement(change));
      this.ownHead = undefined;
      if (statement) await client.query(statement);
      await client.query('COMMIT');
      if (head) this.ownHead = head;
      this.lastFailure = undefined;
    } catch (error) {
      // Also after a failure inside the opening message, whose BEGIN may have run.
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      throw error;
    } finally {
      // A connection that cannot even roll back leaves the pool instead of serving the next writer.
      client.release(broken);
    }
  }

  /**
   * Audit records alone (requests that changed nothing), chained on from the head this node
   * stored last, in one round trip: BEGIN, the chain's lock, one statement that writes the
   * records' row and the new head only if the stored head is still `own` (compared byte for
   * byte under the lock), and COMMIT; or the same steps as one call of APPEND_FUNCTION, where
   * the connection has it. False when another node wrote records since (nothing was written)
   * or the statement failed in another way that the full transaction handles (a record put
   * there by hand, say): the caller then takes the full path, which reads the head again. A
   * failure of the connection is thrown.
   */
  private async appendAuditRecords(operations: BatchOp[], sync: boolean, own: { head: AuditHead; stored: Buffer }): Promise<boolean> {
    this.ownHead = undefined;
    const chain = new AuditChain(this.auditKey!, own.head.Chain, own.head);
    const records = operations.map((op) => chain.append((op as Extract<BatchOp, { type: 'put' }>).value as AuditEntry | JournalRecordText));
    const rows = auditEntries(records).map((entry) => ({ key: entry.key, value: Buffer.from(checkedText(entry.text), 'utf8') }));
    const head = { head: chain.head(), stored: Buffer.from(encodeCheckedJson(chain.head()), 'utf8') };
    let packed: PackedValues;
    try {
      packed = packValues(rows.map((row) => row.value));
    } catch {
      // Too large for one statement: the full path writes the group batch by batch.
      return false;
    }
    const client = await this.pool.connect();
    const written = this.withAppendFunction.has(client)
      ? await this.callAppendFunction(client, rows, packed, head.stored, sync, own.stored)
      : await this.appendAsText(client, rows, head.stored, sync, own.stored);
    if (written) {
      this.ownHead = head;
      this.lastFailure = undefined;
    }
    return written;
  }

  /** appendAuditRecords as SQL text: one message, BEGIN to COMMIT. Releases the client. */
  private async appendAsText(client: pg.PoolClient, rows: Array<{ key: string; value: Buffer }>, head: Buffer, sync: boolean, own: Buffer): Promise<boolean> {
    let broken: Error | undefined;
    try {
      const literal = (value: string) => client.escapeLiteral(value);
      // decode(…, 'hex') reads the same whatever standard_conforming_strings says.
      const bytes = (value: Buffer) => `decode('${value.toString('hex')}', 'hex')`;
      const headIsOurs = `SELECT 1 FROM ${RECORD_TABLES.meta} WHERE key = ${literal(AUDIT_HEAD_KEY)} AND value = ${bytes(own)}`;
      const statements = [
        'BEGIN',
        ...(sync ? [] : ['SET LOCAL synchronous_commit = off']),
        `SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`,
        `WITH ours AS (${headIsOurs}),` +
          ` w0 AS (INSERT INTO ${RECORD_TABLES.audit} (key, value) SELECT entry.key, entry.value FROM (VALUES ${rows.map((row) => `(${literal(row.key)}, ${bytes(row.value)})`).join(', ')}) AS entry (key, value) WHERE EXISTS (SELECT 1 FROM ours)),` +
          ` w1 AS (UPDATE ${RECORD_TABLES.meta} SET value = ${bytes(head)} WHERE key = ${literal(AUDIT_HEAD_KEY)} AND EXISTS (SELECT 1 FROM ours))` +
          ` SELECT count(*)::int AS written FROM ours`,
        'COMMIT',
      ];
      const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult[];
      return (results.at(-2)!.rows[0] as { written: number }).written === 1;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      if (isConnectionFault(error) || broken) throw error;
      return false;
    } finally {
      client.release(broken);
    }
  }

  /** appendAuditRecords through APPEND_FUNCTION: one statement, its own transaction. Releases the client. */
  private async callAppendFunction(client: pg.PoolClient, rows: Array<{ key: string }>, packed: PackedValues, head: Buffer, sync: boolean, own: Buffer): Promise<boolean> {
    let broken: Error | undefined;
    try {
      const values = [AUDIT_HEAD_KEY, own, head, rows.map((row) => row.key), packed.bytes, packed.offsets, packed.lengths, sync];
      const result = await client.query({ name: 'keyhold_audit_append', text: `SELECT ${APPEND_FUNCTION}($1, $2, $3, $4, $5, $6, $7, $8) AS written`, values });
      return (result.rows[0] as { written: number }).written === 1;
    } catch (error) {
      // A failed statement rolled its own transaction back; a connection that failed leaves the
      // pool, and so does one that failed without a SQLSTATE (the client's own error).
      if (isConnectionFault(error)) {
        broken = error as Error;
        throw error;
      }
      if ((error as { code?: string }).code === undefined) broken = error as Error;
      if ((error as { code?: string }).code === UNDEFINED_FUNCTION) this.withAppendFunction.delete(client);
      return false;
    } finally {
      client.release(broken);
    }
  }

  /** The audit chain, read under the lock that keeps every other writer of it waiting until this transaction ends. */
  private chainFrom(head: AuditHead | undefined, newest: AuditEvent | undefined): AuditChain {
    // As in the LevelDB store: the chain goes on from the newest record, so that nothing is overwritten.
    const from = newest && (!head || newest.Seq >= head.Seq) ? { Seq: newest.Seq, Mac: newest.Mac } : head;
    return new AuditChain(this.auditKey!, head?.Chain ?? newest?.Chain ?? this.storeId, from);
  }

  private announcement(change: StoreChange): string {
    const payload = JSON.stringify({ node: this.nodeId, change });
    if (Buffer.byteLength(payload) <= MAX_NOTIFY_BYTES) return payload;
    return JSON.stringify({ node: this.nodeId, change: { keys: [], aliases: true, credentials: true, everything: true } satisfies StoreChange });
  }

  /**
   * LISTENs for the other nodes' changes on a connection of its own. When that connection
   * drops, every cache forgets everything (announcements may have been missed) and it is
   * opened again; once it is back, the credentials are read again too. Not at the drop: the
   * database is likely down then, and a cluster worker that cannot read the credentials it
   * is told changed stops.
   */
  private async listen(failures = 0): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => undefined);
    client.on('notification', (message) => this.received(message.payload));
    client.on('end', () => {
      if (this.listener !== client || this.closed) return;
      this.listener = undefined;
      this.tellExternal({ keys: [], aliases: true, credentials: false, everything: true });
      this.scheduleRelisten(0);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      this.listener = client;
      if (failures > 0) this.tellExternal({ keys: [], aliases: true, credentials: true, everything: true });
    } catch (error) {
      await client.end().catch(() => undefined);
      this.failed(connectionCause(error));
      this.scheduleRelisten(failures + 1);
    }
  }

  private scheduleRelisten(failures: number): void {
    if (this.closed || this.relistenTimer) return;
    this.relistenTimer = setTimeout(
      () => {
        this.relistenTimer = undefined;
        void this.listen(Math.max(failures, 1));
      },
      Math.min(RELISTEN_MS * 2 ** failures, MAX_RELISTEN_MS),
    );
    this.relistenTimer.unref();
  }

  private received(payload: string | undefined): void {
    try {
      const { node, change } = JSON.parse(payload ?? '') as { node: string; change: StoreChange };
      if (node === this.nodeId) return;
      this.tellExternal(change);
    } catch {
      this.tellExternal({ keys: [], aliases: true, credentials: true, everything: true });
    }
  }

  private tellExternal(change: StoreChange): void {
    try {
      this.externalListener?.(change);
    } catch {
      // The listener handles its own errors.
    }
  }

  private failed(cause: string): void {
    if (this.lastFailure === undefined) this.health.emit({ type: 'write-failed', cause });
    this.noteFailure(cause);
  }

  /**
   * Remembers that the database failed (/healthz answers 503) and asks it every second until
   * it answers: a node that gets no traffic while unhealthy (a load balancer sends it none)
   * still notices that the database is back.
   */
  private noteFailure(cause: string): void {
    this.lastFailure = cause;
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setInterval(() => {
      this.pool.query('SELECT 1').then(
        () => {
          clearInterval(this.probeTimer);
          this.probeTimer = undefined;
          if (this.lastFailure !== undefined) this.health.emit({ type: 'recovered', afterMs: 0 });
          this.lastFailure = undefined;
        },
        () => undefined,
      );
    }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  // Reads ----------------------------------------------------------------------------------

  getRootKeyRecord(): Promise<RootKeyRecord | undefined> {
    return this.readJson('the root key', 'meta', ROOT_KEY) as Promise<RootKeyRecord | undefined>;
  }

  getKey(keyId: string): Promise<KeyRecord | undefined> {
    return this.readJson(`key ${keyId}`, 'keys', keyId) as Promise<KeyRecord | undefined>;
  }

  async getVersion(keyId: string, version: number): Promise<Buffer | undefined> {
    const rows = await this.query(`version ${version} of key ${keyId}`, 'version', `SELECT value FROM ${RECORD_TABLES.versions} WHERE key = $1`, [versionRecordKey(keyId, version)]);
    return rows[0]?.value as Buffer | undefined;
  }

  /**
   * The record and the version in one round trip: a given version by its key, the current
   * one as the key's newest stored version (checked against the record's currentVersion).
   */
  async getKeyWithVersion(keyId: string, version: number | 'current', hasVersions: (record: KeyRecord) => boolean): Promise<KeyWithVersion> {
    const wanted = version === 'current' ? undefined : versionRecordKey(keyId, version);
    const rows = await this.query(
      `key ${keyId}`,
      wanted === undefined ? 'key-current-version' : 'key-version',
      wanted === undefined
        ? `SELECT k.value AS record, v.key AS version_key, v.value AS wrapped FROM ${RECORD_TABLES.keys} k LEFT JOIN LATERAL
             (SELECT key, value FROM ${RECORD_TABLES.versions} WHERE key > $1 || '!' AND key < $1 || '!~' ORDER BY key DESC LIMIT 1) v ON true
           WHERE k.key = $1`
        : `SELECT k.value AS record, v.key AS version_key, v.value AS wrapped FROM ${RECORD_TABLES.keys} k
             LEFT JOIN ${RECORD_TABLES.versions} v ON v.key = $2 WHERE k.key = $1`,
      wanted === undefined ? [keyId] : [keyId, wanted],
    );
    const row = rows[0];
    if (!row) return { record: undefined, wrapped: undefined };
    const record = this.decode(`key ${keyId}`, row.record as Buffer) as KeyRecord;
    if (record.keyState !== 'Enabled' || !hasVersions(record)) return { record, wrapped: undefined };
    const number = version === 'current' ? record.currentVersion : version;
    if (!Number.isInteger(number) || number < 1 || number > record.currentVersion) return { record, wrapped: undefined };
    if (row.version_key === versionRecordKey(keyId, number)) return { record, wrapped: row.wrapped as Buffer };
    // The newest stored version is not the current one (a version removed): ask for it by name.
    return { record, wrapped: await this.getVersion(keyId, number) };
  }

  async listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    const rows = await this.query('the list of keys', 'list-keys', `SELECT value FROM ${RECORD_TABLES.keys} WHERE key > $1 ORDER BY key LIMIT $2`, [afterKeyId ?? '', limit]);
    return rows.map((row) => this.decode('the list of keys', row.value as Buffer) as KeyRecord);
  }

  async listAliases(): Promise<AliasRecord[]> {
    const rows = await this.query('the aliases', 'list-aliases', `SELECT value FROM ${RECORD_TABLES.aliases} ORDER BY key`, []);
    return rows.map((row) => this.decode('the aliases', row.value as Buffer) as AliasRecord);
  }

  async listRotations(keyId: string, afterVersion: number, limit: number): Promise<RotationRecord[]> {
    const rows = await this.query(
      `the rotations of key ${keyId}`,
      'list-rotations',
      `SELECT value FROM ${RECORD_TABLES.rotations} WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3`,
      [versionRecordKey(keyId, afterVersion), `${keyId}!~`, limit],
    );
    return rows.map((row) => this.decode(`the rotations of key ${keyId}`, row.value as Buffer) as RotationRecord);
  }

  async dueWork(until: Date, limit: number): Promise<ScheduledWork[]> {
    const rows = await this.query('the schedule', 'due-work', `SELECT key FROM ${RECORD_TABLES.schedule} WHERE key <= $1 ORDER BY key LIMIT $2`, [
      `${until.toISOString()}\uffff`,
      limit,
    ]);
    return rows.map((row) => parseScheduleRecordKey(row.key as string)).filter((work): work is ScheduledWork => work !== undefined);
  }

  async listCredentials(): Promise<CredentialRecord[]> {
    const rows = await this.query('the credentials', 'list-credentials', `SELECT value FROM ${RECORD_TABLES.credentials} ORDER BY key`, []);
    return rows.map((row) => this.decode('the credentials', row.value as Buffer) as CredentialRecord);
  }

  async getCredentialLastUsed(accessKeyId: string): Promise<string | undefined> {
    const used = (await this.readJson(`the last use of credential ${accessKeyId}`, 'meta', LAST_USED_PREFIX + accessKeyId)) as { date: string } | undefined;
    return used?.date;
  }

  /**
   * Makes the space of deleted rows reusable (plain VACUUM: no lock that stops reads). Deleted
   * material is no longer readable through the database at once; its bytes stay in the
   * database's files until overwritten, and in its write-ahead log and backups for as long
   * as those are kept (docs/operations.md says so).
   */
  async compact(): Promise<void> {
    await this.query('the store', undefined, `VACUUM ${RECORD_TABLES.versions}, ${RECORD_TABLES.keys}, ${RECORD_TABLES.rotations}`, []);
  }

  getAuditHead(): Promise<AuditHead | undefined> {
    return this.readJson('the audit head', 'meta', AUDIT_HEAD_KEY) as Promise<AuditHead | undefined>;
  }

  getAuditAnchor(): Promise<AuditAnchor | undefined> {
    return this.readJson('the audit anchor', 'meta', AUDIT_ANCHOR_KEY) as Promise<AuditAnchor | undefined>;
  }

  getAuditJournal(journalId: string): Promise<AuditJournalState | undefined> {
    return this.readJson("an audit journal's position", 'meta', AUDIT_JOURNAL_PREFIX + journalId) as Promise<AuditJournalState | undefined>;
  }

  auditAnchor(last: { Chain: string; Seq: number; Mac: string }, before: string): AuditAnchor {
    /* Precondition: only a store that writes audit records removes them. */
    if (!this.auditKey) throw new Error('the store has no audit key');
    return new AuditChain(this.auditKey, last.Chain, undefined).anchor(last, before);
  }

  auditRecordMacMatches(record: AuditEvent): boolean {
    return recordMacMatches(this.keyForChecks(), record);
  }

  auditAnchorMacMatches(anchor: AuditAnchor): boolean {
    return anchorMacMatches(this.keyForChecks(), anchor);
  }

  private keyForChecks(): Buffer {
    /* Precondition: the server gives the store the audit key before it answers requests. */
    if (!this.auditKey) throw new Error('the store has no audit key');
    return this.auditKey;
  }

  async auditNewest(): Promise<AuditEvent | undefined> {
    const rows = await this.query('the audit trail', 'audit-newest', `SELECT value FROM ${RECORD_TABLES.audit} WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT 1`, [
      CHAINED_PREFIX,
      `${CHAINED_PREFIX}~`,
    ]);
    return rows[0] ? this.decode('the audit trail', rows[0].value as Buffer, recordsOfEntry).at(-1) : undefined;
  }

  async auditRange(afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return recordsAfter((after, count) => this.auditGroups(after, count), afterSeq, limit);
  }

  async auditGroups(afterSeq: number, limit: number): Promise<AuditEvent[][]> {
    const rows = await this.query('the audit trail', 'audit-range', `SELECT value FROM ${RECORD_TABLES.audit} WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3`, [
      auditRecordKey(afterSeq),
      `${CHAINED_PREFIX}~`,
      Math.min(limit, Number.MAX_SAFE_INTEGER),
    ]);
    return rows.map((row) => this.decode('the audit trail', row.value as Buffer, recordsOfEntry));
  }

  listAudit(): Promise<AuditEvent[]> {
    return this.auditRange(0, Number.MAX_SAFE_INTEGER);
  }

  async *scanRecords(table: SublevelName): AsyncGenerator<StoredEntry> {
    let after = '';
    for (;;) {
      const rows = await this.query(`the ${table} records`, undefined, `SELECT key, value FROM ${tableOf(table)} WHERE key > $1 ORDER BY key LIMIT $2`, [after, PAGE_ROWS]);
      if (rows.length === 0) return;
      for (const row of rows) yield { key: row.key as string, value: row.value as Buffer };
      after = rows[rows.length - 1]!.key as string;
    }
  }

  async readStoredEntry(table: SublevelName, key: string): Promise<Buffer | undefined> {
    const rows = await this.query(`the ${table} record ${key}`, undefined, `SELECT value FROM ${tableOf(table)} WHERE key = $1`, [key]);
    return rows[0]?.value as Buffer | undefined;
  }

  /**
   * A point-in-time copy: one REPEATABLE READ transaction on a connection of its own, read a
   * page at a time, table after table in the order LevelDB's sublevels sort (a backup is the
   * same stream whichever store it was taken from).
   */
  openSnapshot(): StoreSnapshot {
    const tables = [...SUBLEVEL_NAMES].sort();
    let client: pg.PoolClient | undefined;
    let started: Promise<pg.PoolClient> | undefined;
    let index = 0;
    let after = '';
    const begin = async (): Promise<pg.PoolClient> => {
      client = await this.pool.connect();
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return client;
    };
    return {
      next: async (limit) => {
        const connection = await (started ??= begin());
        while (index < tables.length) {
          const table = tables[index]!;
          const { rows } = await connection.query(`SELECT key, value FROM ${tableOf(table)} WHERE key > $1 ORDER BY key LIMIT $2`, [after, Math.max(1, Math.min(limit, PAGE_ROWS))]);
          if (rows.length > 0) {
            after = rows[rows.length - 1]!.key as string;
            return rows.map((row) => ({ table, key: row.key as string, value: row.value as Buffer }));
          }
          index++;
          after = '';
        }
        return [];
      },
      close: async () => {
        if (!started) return;
        await started.catch(() => undefined);
        if (!client) return;
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
        client = undefined;
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await this.flushing;
    this.closed = true;
    clearTimeout(this.relistenTimer);
    clearInterval(this.probeTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.leaseHolder?.end().catch(() => undefined);
    this.leaseHolder = undefined;
    await this.pool.end();
  }

  private async readJson(what: string, table: SublevelName, key: string): Promise<unknown> {
    const rows = await this.query(what, `get-${table}`, `SELECT value FROM ${tableOf(table)} WHERE key = $1`, [key]);
    return rows[0] ? this.decode(what, rows[0].value as Buffer) : undefined;
  }

  /**
   * A query whose failure is the database's (unreachable, restarting) answers 503 naming what
   * could not be read, and is reported: never a NotFound for a record that may exist.
   * `name`: a prepared statement, for the queries of the hot path.
   */
  private async query(what: string, name: string | undefined, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    if (this.closed) throw new ServiceUnavailableException(`The key store could not read ${what}`);
    try {
      const result = await this.pool.query(name === undefined ? { text, values } : { name, text, values });
      this.lastFailure = undefined;
      return result.rows as Record<string, unknown>[];
    } catch (error) {
      const cause = connectionCause(error);
      this.noteFailure(cause);
      this.health.emit({ type: 'read-failed', what, cause });
      throw new ServiceUnavailableException(`The key store could not read ${what}`);
    }
  }

  /** A stored JSON value; one damaged in the database answers 503 like a read that failed. */
  private decode(what: string, value: Buffer): unknown;
  private decode<T>(what: string, value: Buffer, shape: (decoded: unknown) => T): T;
  private decode(what: string, value: Buffer, shape: (decoded: unknown) => unknown = (decoded) => decoded): unknown {
    try {
      return shape(decodeCheckedJson(value.toString('utf8')));
    } catch (error) {
      const cause = error instanceof DamagedValueError ? 'damaged data (a stored value does not match its checksum)' : 'damaged data (a stored value does not decode)';
      this.health.emit({ type: 'read-failed', what, cause });
      throw new ServiceUnavailableException(`The key store could not read ${what}`);
    }
  }
}

function tableOf(table: SublevelName): string {
  /* Precondition: only the store's own kinds of record are read or written by name. */
  if (!Object.hasOwn(RECORD_TABLES, table)) throw new Error(`the store has no table for '${String(table).slice(0, 32)}'`);
  return RECORD_TABLES[table];
}

/** A record's stored bytes, exactly as the LevelDB store stores them. */
function storedValue(op: Extract<BatchOp, { type: 'put' }>): Buffer {
  if (op.raw || op.table === 'versions') return op.value as Buffer;
  return Buffer.from(encodeCheckedJson(op.value), 'utf8');
}

/** The name a checked record is locked by, on every node. */
function lockName(table: SublevelName, key: string): string {
  return `${table}!${key}`;
}

/** What a transaction reads once its locks are held: its checked records (in order), the chain's head and newest record. */
interface LockedRead {
  checked: (Buffer | undefined)[];
  head: AuditHead | undefined;
  newest: AuditEvent | undefined;
}

/**
 * The statement that reads everything the transaction needs once its locks are held: the
 * checked records, the chain's head and its newest record; undefined when there is nothing to
 * read. It goes in the opening message after the locks as a statement of its own: under READ
 * COMMITTED each statement of a message sees what was committed before that statement began,
 * so it sees the previous lock holder's commit (a read in the statement that waited for a lock
 * could miss it). The values are literals (the message has no parameters): record names only,
 * quoted by the driver's escapeLiteral.
 */
function lockedReadStatement(client: pg.PoolClient, checks: Extract<BatchOp, { type: 'check' }>[], audited: boolean): string | undefined {
  const literal = (value: string) => client.escapeLiteral(value);
  const parts = checks.map((check, i) => `(SELECT ${i} AS i, value FROM ${tableOf(check.table)} WHERE key = ${literal(check.key)})`);
  if (audited) {
    parts.push(`(SELECT ${HEAD_ROW} AS i, value FROM ${RECORD_TABLES.meta} WHERE key = ${literal(AUDIT_HEAD_KEY)})`);
    parts.push(
      `(SELECT ${NEWEST_ROW} AS i, value FROM ${RECORD_TABLES.audit} WHERE key >= ${literal(CHAINED_PREFIX)} AND key < ${literal(`${CHAINED_PREFIX}~`)} ORDER BY key DESC LIMIT 1)`,
    );
  }
  return parts.length === 0 ? undefined : parts.join(' UNION ALL ');
}

/** The rows of lockedReadStatement, sorted out. */
function lockedRead(rows: { i: number; value: Buffer }[], checkCount: number): LockedRead {
  const read: LockedRead = { checked: new Array<Buffer | undefined>(checkCount).fill(undefined), head: undefined, newest: undefined };
  for (const row of rows) {
    if (row.i === HEAD_ROW) read.head = decodeCheckedJson(row.value.toString('utf8')) as AuditHead;
    else if (row.i === NEWEST_ROW) read.newest = recordsOfEntry(decodeCheckedJson(row.value.toString('utf8'))).at(-1);
    else read.checked[row.i] = row.value;
  }
  return read;
}

/** Row numbers of lockedReadStatement's answer that are not checks. */
const HEAD_ROW = -1;
const NEWEST_ROW = -2;

/**
 * Every write of a transaction in one statement: per table a DELETE and an upsert (data-modifying
 * WITH queries, each run once and to completion; a record is either deleted or written, never
 * both), and the announcement. Undefined when there is nothing to write or announce.
 */
function writeStatement(rows: Map<SublevelName, Map<string, Buffer | null>>, announcement: string | undefined): pg.QueryConfig | undefined {
  const writes: string[] = [];
  const values: unknown[] = [];
  const parameter = (value: unknown) => `$${values.push(value)}`;
  for (const [table, tableRows] of rows) {
    const putKeys: string[] = [];
    const putValues: Buffer[] = [];
    const deleted: string[] = [];
    for (const [key, value] of tableRows) {
      if (value === null) deleted.push(key);
      else {
        putKeys.push(key);
        putValues.push(value);
      }
    }
    const name = tableOf(table);
    if (deleted.length > 0) writes.push(`DELETE FROM ${name} WHERE key = ANY(${parameter(deleted)}::text[])`);
    if (putKeys.length > 0) {
      // An audit record is never overwritten: a number given twice is an error, not a lost record.
      const onConflict = table === 'audit' ? '' : ' ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value';
      const packed = packValues(putValues);
      writes.push(`INSERT INTO ${name} (key, value) ${packedRows(`${parameter(putKeys)}::text[]`, `${parameter(packed.bytes)}::bytea`, `${parameter(packed.offsets)}::integer[]`, `${parameter(packed.lengths)}::integer[]`)}${onConflict}`);
    }
  }
  const last = announcement === undefined ? 'SELECT 1' : `SELECT pg_notify(${parameter(CHANGES_CHANNEL)}, ${parameter(announcement)})`;
  if (writes.length === 0 && announcement === undefined) return undefined;
  const text = writes.length === 0 ? last : `WITH ${writes.map((write, i) => `w${i} AS (${write})`).join(', ')} ${last}`;
  return prepared(text, values);
}

/** One statement's values as packValues sends them. */
interface PackedValues {
  bytes: Buffer;
  offsets: number[];
  lengths: number[];
}

/**
 * One statement's values at most: far below PostgreSQL's limit of 1 GiB per message (beyond
 * which the server drops the connection, and with it every write of the group).
 */
const MAX_STATEMENT_VALUE_BYTES = 256 * 1024 * 1024;

/**
 * Values as one `bytea` and where each one starts and how long it is. node-postgres sends a
 * Buffer parameter as binary, but an array of them as an array literal of hex text: twice the
 * bytes on the wire and, for the database, parsing them cost more CPU than storing them
 * (bench/RESULTS.md, "PostgreSQL values in binary").
 *
 * @throws Error the values are more than MAX_STATEMENT_VALUE_BYTES (a group of writes that
 *   large is then written batch by batch: see commitGroup)
 */
function packValues(values: readonly Buffer[]): PackedValues {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let offset = 0;
  for (const value of values) {
    offsets.push(offset);
    lengths.push(value.length);
    offset += value.length;
  }
  /* Precondition: one statement's values stay far below the server's message limit. */
  if (offset > MAX_STATEMENT_VALUE_BYTES) throw new Error(`one statement's values would be ${offset} bytes, more than ${MAX_STATEMENT_VALUE_BYTES}`);
  return { bytes: values.length === 1 ? values[0]! : Buffer.concat(values, offset), offsets, lengths };
}

/** The rows (key, value) of packValues' parameters, as a SELECT to INSERT from; substring counts from 1. */
function packedRows(keys: string, bytes: string, offsets: string, lengths: string): string {
  return `SELECT entry.key, substring(${bytes} FROM entry.start + 1 FOR entry.length) FROM unnest(${keys}, ${offsets}, ${lengths}) AS entry (key, start, length)`;
}

/**
 * A statement named by its text, so that each connection parses and plans each shape once
 * (the shapes are few: which tables a transaction writes, how many records it checks).
 */
function prepared(text: string, values: unknown[]): pg.QueryConfig {
  return { name: `kh-${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text, values };
}

/**
 * A check of a batch: the record is still what the writer read (by its JSON, whatever the field
 * order). The record's name was locked (an advisory lock until the transaction ends) before it
 * was read: a row lock alone would not hold a record that does not exist yet, and two nodes
 * making the same record must not both find it absent.
 */
function checkRecord(check: Extract<BatchOp, { type: 'check' }>, stored: Buffer | undefined): void {
  const expected = check.value;
  if (stored === undefined && expected === undefined) return;
  if (stored !== undefined && expected !== undefined) {
    const actual = check.table === 'versions' ? stored : canonicalJson(decodeCheckedJson(stored.toString('utf8')));
    const wanted = check.table === 'versions' ? expected : canonicalJson(expected);
    if (Buffer.isBuffer(actual) ? actual.equals(wanted as Buffer) : actual === wanted) return;
  }
  throw new WriteConflictError(check.table, check.key);
}

async function readJson(client: pg.ClientBase, table: SublevelName, key: string): Promise<unknown> {
  const { rows } = await client.query(`SELECT value FROM ${tableOf(table)} WHERE key = $1`, [key]);
  return rows[0] ? decodeCheckedJson((rows[0].value as Buffer).toString('utf8')) : undefined;
}

/** The store's identity, made by the first node to start (the others read it). */
async function ensureIdentity(client: pg.ClientBase): Promise<string> {
  const made = encodeCheckedJson({ storeId: randomBytes(16).toString('hex') });
  await client.query(`INSERT INTO ${RECORD_TABLES.meta} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [IDENTITY_KEY, Buffer.from(made, 'utf8')]);
  const identity = (await readJson(client, 'meta', IDENTITY_KEY)) as { storeId?: unknown } | undefined;
  /* Postcondition: the database names one identity, whichever node made it. */
  if (typeof identity?.storeId !== 'string') throw new StartupError('the database holds a damaged Keyhold identity record', 'KEYHOLD_STORE_URL');
  return identity.storeId;
}

/** Query parameters of a connection URL that hold a secret (libpq and node-postgres read both). */
const SECRET_URL_PARAMETERS = ['password', 'sslpassword'];

/** The URL as messages show it: never its password, in the user part or in the query. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of SECRET_URL_PARAMETERS) if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return 'the database URL in KEYHOLD_STORE_URL';
  }
}

/** Errors of the connection, not of a query: the write can be tried again on the same batches. */
function isConnectionFault(error: unknown): boolean {
  const code = String((error as { code?: string }).code ?? '');
  return /^(08|57P|53)/.test(code) || /^E[A-Z]+$/.test(code) || /Connection terminated|connection/i.test(String((error as Error)?.message ?? ''));
}

/** Why the database failed, in words safe to answer with (no URL, no password). */
function connectionCause(error: unknown): string {
  const code = String((error as { code?: string }).code ?? '');
  if (code === 'ECONNREFUSED') return 'the database refuses connections';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the database host is not known';
  if (code === 'ETIMEDOUT') return 'the database did not answer in time';
  if (code === '28P01' || code === '28000') return 'the database refused the credentials';
  if (code === '3D000') return 'the database does not exist';
  if (code === '57P01' || code === '57P02' || code === '57P03') return 'the database is shutting down or starting';
  if (/^08/.test(code) || /Connection terminated/i.test(String((error as Error)?.message ?? ''))) return 'the connection to the database was lost';
  if (code === '53300') return 'the database has too many connections';
  if (/^E[A-Z]+$/.test(code)) return `the database cannot be reached (${code})`;
  return `the database failed (${code || 'no code'})`;
}
