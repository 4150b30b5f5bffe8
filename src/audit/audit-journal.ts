/**
 * The audit journals of a cluster's workers (docs/design.md, "The audit trail"). A worker
 * writes the records of requests that changed nothing (the cryptographic, describe, list and
 * get actions, and every batch) to a file of its own, chained and MACed under the audit key
 * like the store's records, with one write per turn of its event loop and before the answers
 * go out; the primary moves them into the store's one chain in large batches, with the
 * journal's position in the same store write. Requests that change state keep sending their
 * record to the primary, where it goes in with the change.
 *
 * A record in a journal is as safe from a killed process as one in the store (both sit in the
 * operating system's cache until written out); it is in the trail that listauditevents reads once
 * the primary has moved it, which it does every INGEST_INTERVAL_MS, before every listing and backup,
 * when a worker exits (then the file goes), and at start for the files a previous run left.
 *
 * On a store several nodes share, each node journals into its own data directory: a journal's id
 * starts with its node's id (the file `audit-journal/node`), so that a node, and the verifier,
 * can tell the positions of its own journals from those of other nodes, whose files are on
 * other machines. Another node's records reach the shared trail when that node moves them.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileDurably } from '../durable-file.js';
import { ServiceUnavailableException } from '../errors.js';
import type { AuditEvent } from '../protocol/types.js';
import { AUDIT_JOURNAL_PREFIX, AuditChain, deriveAuditKey, FIRST_PREV_MAC, macEqual, recordMac, recordTextParts, type AuditEntry, type AuditJournalState, type JournalPosition, type RecordTextParts } from '../store/audit-record.js';
import { decodeCheckedJson } from '../store/checked-json.js';
import type { Store } from '../store/store.js';

/** The journals' directory, inside the data directory. */
export const JOURNAL_DIRECTORY = 'audit-journal';
const JOURNAL_SUFFIX = '.log';
/** How often the primary moves the journals' new records into the store. */
export const INGEST_INTERVAL_MS = 100;
/** Read from a journal at a time (records are at most about 64 KiB each). */
const READ_BYTES = 1024 * 1024;
/** `<node id>.<uuid>`; a plain `<uuid>` is a journal of a release that did not name nodes (always this node's). */
const JOURNAL_ID = /^(?:([0-9a-f]{16})\.)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The file, in the journals' directory, that holds this data directory's node id. */
const NODE_FILE = 'node';
const NODE_ID = /^[0-9a-f]{16}$/;

export function journalDirectory(dataDir: string): string {
  return path.join(dataDir, JOURNAL_DIRECTORY);
}

export function journalFile(dataDir: string, journalId: string): string {
  return path.join(journalDirectory(dataDir), `${journalId}${JOURNAL_SUFFIX}`);
}

/** The ids of the journals in a data directory (files named `<node id>.<uuid>.log` or `<uuid>.log`), or none when it has no journal directory. */
export async function listJournals(dataDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(journalDirectory(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => name.endsWith(JOURNAL_SUFFIX))
    .map((name) => name.slice(0, -JOURNAL_SUFFIX.length))
    .filter((id) => JOURNAL_ID.test(id))
    .sort();
}


/** The node a journal id names, or undefined for an id of a release that named none. */
export function journalNode(journalId: string): string | undefined {
  return JOURNAL_ID.exec(journalId)?.[1];
}

/**
 * This data directory's node id (16 hex digits in `audit-journal/node`), made the first time
 * when `create` is set (written whole and synced, and put in place only if no other process
 * made one first: then that one is read); undefined when there is none. A file that holds
 * anything else stops the start: journals named after another id would be taken for another
 * node's.
 */
export async function journalNodeId(dataDir: string, create: boolean): Promise<string | undefined> {
  const file = path.join(journalDirectory(dataDir), NODE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!create) return undefined;
    const made = randomBytes(8).toString('hex');
    if (writeFileDurably(file, `${made}\n`, { mode: 0o600, exclusive: true })) return made;
    text = await readFile(file, 'utf8');
  }
  const nodeId = text.trim();
  if (!NODE_ID.test(nodeId)) throw new Error(`${file} does not hold a node id (16 hexadecimal digits): restore it, or remove it when this directory has no journals left`);
  return nodeId;
}

export const JOURNAL_START: JournalPosition = { Offset: 0, Seq: 0, Mac: FIRST_PREV_MAC };

export function journalStateMac(auditKey: Buffer, journalId: string, state: JournalPosition & { Done?: true }): string {
  return createHmac('sha256', auditKey)
    .update(`keyhold/audit-journal\n${journalId}\n${state.Offset}\n${state.Seq}\n${state.Mac}\n${state.Done === true}`, 'utf8')
    .digest('hex');
}

/**
 * A worker's journal: appends the records handed to it during one turn of the event loop with
 * one write, and resolves their promises once the write returned. A write that fails (a full
 * disk) rejects every record of that turn with a 503 and leaves none of them in the file.
 */
export class AuditJournalWriter {
  private readonly fd: number;
  private readonly chain: AuditChain;
  private size: number;
  /** A failed write may have left bytes past `size`: cut them off before the next write. */
  private torn = false;
  private pending: { entries: AuditEntry[]; resolve(): void; reject(error: Error): void }[] = [];
  private scheduled = false;
  private closed = false;

  /**
   * Creates the journal's file (0600); it must not exist yet: one file per writer's life. Its
   * name is synced into the directory at once, so that after a power cut a journal the store has
   * a position for is still there (a missing one reads as removed by hand).
   */
  constructor(file: string, journalId: string, auditKey: Buffer) {
    this.fd = openSync(file, 'wx', 0o600);
    const directory = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
    this.size = 0;
    this.chain = new AuditChain(auditKey, journalId, undefined);
  }

  append(entries: AuditEntry[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entries, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = [];
    const mark = this.chain.mark();
    // One line per turn, its records separated by tabs (JSON text holds neither raw): a turn
    // whose write did not end is never a whole line, so the primary never moves part of one.
    const texts: string[] = [];
    for (const { entries } of pending) for (const entry of entries) texts.push(this.chain.append(entry).text);
    const bytes = Buffer.from(`${texts.join('\t')}\n`, 'utf8');
    try {
      if (this.torn) ftruncateSync(this.fd, this.size);
      this.torn = false;
      let written = 0;
      while (written < bytes.length) {
        this.torn = true;
        const count = writeSync(this.fd, bytes, written, bytes.length - written, this.size + written);
        if (count <= 0) throw new Error('the journal took no bytes');
        written += count;
      }
      this.torn = false;
      this.size += bytes.length;
    } catch (error) {
      this.chain.rollback(mark);
      try {
        if (this.torn) ftruncateSync(this.fd, this.size);
        this.torn = false;
      } catch {
        // Tried again before the next write.
      }
      const failure = new ServiceUnavailableException(`the audit journal cannot be written: ${writeFault(error)}`);
      for (const each of pending) each.reject(failure);
      return;
    }
    for (const each of pending) each.resolve();
  }

  /** Closes the file (once; later calls do nothing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

function writeFault(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return 'no space left on device';
  if (code === 'EDQUOT') return 'disk quota exceeded';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'EIO') return 'input/output error';
  return code ?? 'a write error';
}

/**
 * A journal's record, checked: its number and MAC on the journal's chain, and its text; and,
 * when its MAC was checked on the parsed record (a text not of the usual shape), the entry to
 * chain instead of the text, so that only canonical text reaches the store.
 */
export interface JournalRecord {
  Seq: number;
  Mac: string;
  text: string;
  /** The text's parts, as checked (a record of the usual shape), for the store to chain it again without looking for them twice. */
  parts?: RecordTextParts;
  entry?: AuditEntry;
}

/** One read of a journal: the records after a position, checked, and the position after them. */
export interface JournalChunk {
  records: JournalRecord[];
  position: JournalPosition;
  /** The first record that does not follow on (damaged, altered, removed, reordered, inserted), in words. */
  problem?: string;
  /** Bytes after the last whole record (a line without its end): a write under way, or cut short. */
  partialBytes: number;
}

/**
 * Checks the whole lines of `bytes` (a journal's content from `from.Offset`; a line is the
 * records of one write, separated by tabs) as records of journal `journalId` following `from`,
 * and returns those of the lines before the first line with a record that does not follow on.
 */
export function readJournalChunk(auditKey: Buffer, journalId: string, bytes: Buffer, from: JournalPosition): JournalChunk {
  const records: JournalRecord[] = [];
  const position = { ...from };
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) break;
    const line: JournalRecord[] = [];
    let last = { Seq: position.Seq, Mac: position.Mac };
    for (const text of bytes.toString('utf8', start, end).split('\t')) {
      const record = checkRecord(auditKey, journalId, text, { Offset: from.Offset + start, ...last });
      if (typeof record === 'string') return { records, position, problem: record, partialBytes: 0 };
      line.push(record);
      last = { Seq: record.Seq, Mac: record.Mac };
    }
    records.push(...line);
    position.Offset = from.Offset + end + 1;
    position.Seq = last.Seq;
    position.Mac = last.Mac;
    start = end + 1;
  }
  return { records, position, partialBytes: bytes.length - start };
}

function checkRecord(auditKey: Buffer, journalId: string, text: string, after: JournalPosition): JournalRecord | string {
  const at = `record ${after.Seq + 1} of audit journal ${journalId} (in the line at byte ${after.Offset})`;
  const found = chainFields(auditKey, text);
  if (typeof found === 'string') return `${at} ${found}`;
  if (found.chain !== journalId) return `${at} belongs to another chain (${found.chain.slice(0, 40)})`;
  if (found.seq > after.Seq + 1) return `${at}: records ${after.Seq + 1} to ${found.seq - 1} were removed`;
  if (found.seq !== after.Seq + 1 || found.prevMac !== after.Mac) return `${at}: it does not follow the record before it: removed, reordered or inserted records`;
  return { Seq: found.seq, Mac: found.mac, text, ...(found.entry ? { entry: found.entry } : { parts: found.parts }) };
}

/**
 * A journal record's place on its chain, once its MAC is right: read from its text where it is
 * of the usual shape (recordTextParts: no parse), else from the parsed record.
 */
function chainFields(auditKey: Buffer, text: string): { chain: string; seq: number; prevMac: string; mac: string; parts?: RecordTextParts; entry?: AuditEntry } | string {
  const parts = recordTextParts(text);
  if (parts && macEqual(parts.mac, createHmac('sha256', auditKey).update(parts.covered, 'utf8').digest('hex'))) {
    return { chain: parts.chain, seq: parts.seq, prevMac: parts.prevMac, mac: parts.mac, parts };
  }
  let record: AuditEvent;
  try {
    record = JSON.parse(text) as AuditEvent;
  } catch {
    return 'cannot be read (damaged or not JSON)';
  }
  if (typeof record !== 'object' || record === null || typeof record.Seq !== 'number' || typeof record.Mac !== 'string') return 'is not an audit record';
  if (!macEqual(record.Mac, recordMac(auditKey, record))) return 'was altered or inserted: its MAC does not match';
  const { Chain: _chain, Seq: _seq, PrevMac: _prevMac, Mac: _mac, Verified: _verified, ...entry } = record;
  return { chain: String(record.Chain), seq: record.Seq, prevMac: String(record.PrevMac), mac: record.Mac, entry };
}

/**
 * The primary's side: knows the journals of this data directory, moves their new records into
 * the store, and removes a journal once its writer exited and every record of it was moved.
 * One move at a time; a journal that does not check (damaged or altered) is left where it is,
 * with an error logged, for `keyhold admin audit verify` to name.
 */
export class AuditJournals {
  private readonly auditKey: Buffer;
  /** The journals of live writers and of those not yet finished, with where they were read to. */
  private readonly positions = new Map<string, JournalPosition>();
  private queue: Promise<void> = Promise.resolve();
  private nextCatchUp: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The problem last logged for each journal, so that a broken one is logged once, not every tick. */
  private readonly reported = new Map<string, string>();
  /** Journals whose writers have exited: a move that failed for one finishes it at the next tick. */
  private readonly exited = new Set<string>();
  /**
   * Journals whose last move failed: it may have landed all the same (a group commit refused
   * after it reached the disk, a COMMIT whose answer was lost), so the next move starts from the
   * position in the store, not the one kept here.
   */
  private readonly stale = new Set<string>();
  private closed = false;
  private nodeId: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly dataDir: string,
    rootKey: Buffer,
    private readonly logger: Logger,
    /** Told once when a live writer's journal does not check: its records cannot reach the trail, so the writer must stop. */
    private readonly onBroken: (journalId: string) => void = () => {},
  ) {
    this.auditKey = deriveAuditKey(rootKey);
  }

  /** Creates the directory (0700) and this node's id, and moves every journal a previous run left into the store. */
  async start(): Promise<void> {
    await mkdir(journalDirectory(this.dataDir), { recursive: true, mode: 0o700 });
    this.nodeId = await journalNodeId(this.dataDir, true);
    for (const journalId of await listJournals(this.dataDir)) {
      const node = journalNode(journalId);
      if (node !== undefined && node !== this.nodeId) {
        // Copied here from another node's data directory (moving it too could put its records in
        // twice), or this directory's node file was replaced: verify names it either way.
        this.logger.error({ journal: journalId, node: this.nodeId }, "an audit journal named after another node is in this node's data directory: it is left alone (remove this copy if that node still has it; if this directory's audit-journal/node was replaced, restore it)");
        continue;
      }
      this.logger.info({ journal: journalId }, 'moving the records of an audit journal left by an earlier run into the trail');
      await this.finish(journalId);
    }
    this.timer = setInterval(() => {
      if (this.positions.size > 0) this.catchUp().catch(() => {});
    }, INGEST_INTERVAL_MS);
    this.timer.unref();
  }

  /** A journal for a new writer: its id (the writer creates `journalFile(dataDir, id)`). */
  newJournal(): string {
    /* Precondition: started (the node id is known). */
    if (this.nodeId === undefined) throw new Error('the audit journals were not started');
    const journalId = `${this.nodeId}.${randomUUID()}`;
    this.positions.set(journalId, { ...JOURNAL_START });
    return journalId;
  }

  /**
   * Moves every record written to the journals so far into the store. Rejects (503) when a
   * journal cannot be read or the store cannot take its records: a listing or a backup would
   * miss records, and fails instead. A journal that does not check is logged and passed over.
   */
  catchUp(): Promise<void> {
    this.nextCatchUp ??= this.enqueue(async () => {
      this.nextCatchUp = undefined;
      for (const journalId of [...this.positions.keys()]) await this.move(journalId, this.exited.has(journalId));
    });
    return this.nextCatchUp;
  }

  /** Moves the rest of a journal whose writer has exited, then removes it. */
  finish(journalId: string): Promise<void> {
    this.exited.add(journalId);
    return this.enqueue(() => this.move(journalId, true));
  }

  /** Stops the timer, and once the moves under way (the exited writers' included) are done, zeroes the key. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    let queued: Promise<void>;
    do {
      queued = this.queue;
      await queued;
    } while (queued !== this.queue);
    this.closed = true;
    this.auditKey.fill(0);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Moves a journal's new records. A journal that does not check is reported (once) and left;
   * a failure to read it or to write the store is reported and rejects (503).
   */
  private async move(journalId: string, final: boolean): Promise<void> {
    /* Precondition: nothing moves after close (the key is zeroed). */
    if (this.closed) throw new ServiceUnavailableException('the server is stopping');
    let problem: string | undefined;
    try {
      problem = await this.moveRecords(journalId, final);
    } catch (error) {
      this.stale.add(journalId);
      const cause = writeFault(error) === 'a write error' ? (error instanceof Error ? error.message : String(error)) : writeFault(error);
      this.report(journalId, cause);
      throw error instanceof ServiceUnavailableException ? error : new ServiceUnavailableException(`the audit journals cannot be moved into the trail: ${cause}`);
    }
    if (problem === undefined) {
      this.reported.delete(journalId);
      return;
    }
    if (!this.reported.has(journalId) && !this.exited.has(journalId)) this.onBroken(journalId);
    this.report(journalId, problem);
  }

  private report(journalId: string, problem: string): void {
    if (this.reported.get(journalId) === problem) return;
    this.reported.set(journalId, problem);
    this.logger.error({ journal: journalId, problem }, 'the records of an audit journal cannot be moved into the trail: run keyhold admin audit verify');
  }

  private async moveRecords(journalId: string, final: boolean): Promise<string | undefined> {
    let position = this.stale.has(journalId) ? undefined : this.positions.get(journalId);
    if (!position) {
      const state = await this.store.getAuditJournal(journalId);
      if (state && !macEqual(state.StateMac, journalStateMac(this.auditKey, journalId, state))) {
        return `the store's position for audit journal ${journalId} was altered (its MAC does not match)`;
      }
      if (state?.Done) return this.remove(journalId);
      position = state ? { Offset: state.Offset, Seq: state.Seq, Mac: state.Mac } : { ...JOURNAL_START };
      this.positions.set(journalId, position);
      this.stale.delete(journalId);
    }
    // Read synchronously: the file is in the page cache, and a thread-pool job per journal and
    // tick would cost more than the read (bench/RESULTS.md, the wake-ups).
    let fd: number;
    try {
      fd = openSync(journalFile(this.dataDir, journalId), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Nothing was ever written (a writer that died before its first record), or the file went by hand.
      const missing = position.Offset > 0 ? `audit journal ${journalId} is missing: records after its record ${position.Seq} may have been removed with it` : undefined;
      if (final && missing === undefined) {
        this.positions.delete(journalId);
        this.exited.delete(journalId);
      }
      return missing;
    }
    let partialBytes = 0;
    try {
      const size = fstatSync(fd).size;
      if (size < position.Offset) {
        // What was moved is in the store; the file lost its end (a power cut before it was written
        // out, or by hand). Nothing more can come of it once its writer has gone.
        if (!final) return `audit journal ${journalId} is shorter than the part already moved into the trail`;
        this.logger.warn({ journal: journalId }, 'an audit journal is shorter than the part already moved into the trail (a power cut, or cut by hand): it is removed');
      }
      while (position.Offset + partialBytes < size) {
        const bytes = Buffer.allocUnsafe(Math.min(READ_BYTES, size - position.Offset));
        const read = readSync(fd, bytes, 0, bytes.length, position.Offset);
        const chunk = readJournalChunk(this.auditKey, journalId, bytes.subarray(0, read), position);
        if (chunk.records.length > 0) {
          const batch = this.store.batch();
          for (const record of chunk.records) {
            if (record.entry) batch.audit(record.entry);
            else batch.auditJournalRecord(record.text, record.parts);
          }
          batch.putAuditJournal(journalId, this.state(journalId, chunk.position));
          await this.store.write(batch, { sync: false });
          position = chunk.position;
          this.positions.set(journalId, position);
        }
        if (chunk.problem) return chunk.problem;
        partialBytes = chunk.partialBytes;
        if (chunk.records.length === 0) break;
      }
    } finally {
      closeSync(fd);
    }
    if (!final) return undefined;
    if (partialBytes > 0) {
      this.logger.warn({ journal: journalId, bytes: partialBytes }, 'an audit journal ends with part of a record (a write cut short by a crash): that part is dropped');
    }
    // Done, durably, before the file goes: a crash in between leaves a file that is not read twice.
    await this.store.write(this.store.batch().putAuditJournal(journalId, this.state(journalId, position, true)), { sync: true });
    return this.remove(journalId);
  }

  private async remove(journalId: string): Promise<undefined> {
    await unlink(journalFile(this.dataDir, journalId)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await this.store.write(this.store.batch().deleteAuditJournal(journalId), { sync: false });
    this.positions.delete(journalId);
    this.exited.delete(journalId);
    this.reported.delete(journalId);
    return undefined;
  }

  private state(journalId: string, position: JournalPosition, done = false): AuditJournalState {
    const state = { ...position, ...(done ? { Done: true as const } : {}) };
    return { ...state, StateMac: journalStateMac(this.auditKey, journalId, state) };
  }
}

/** What `keyhold admin audit verify` finds in the journals of a data directory (verifyJournals). */
export interface JournalsVerdict {
  /** Records in this node's journals not yet moved into the store, checked. */
  pending: number;
  /** On a shared store: the nodes other than this one with journals not finished (their records not yet moved are on those nodes' disks). */
  otherNodes: string[];
  /** This data directory's node id (`audit-journal/node`); none before a server first started here. */
  node?: string;
  problem?: string;
}

/**
 * What `keyhold admin audit verify` finds in the journals of a data directory: records not yet
 * moved, checked; and a journal the store says records were moved from, not finished, whose file
 * is gone (records after those may have been lost with it). On a store several nodes share
 * (`shared`), the positions of journals named after another node are those nodes' business:
 * they are counted by node, not checked (a store only this node writes has no other node's).
 */
export async function verifyJournals(store: Store, dataDir: string, auditKey: Buffer, shared = false): Promise<JournalsVerdict> {
  let pending = 0;
  const otherNodes = new Set<string>();
  const nodeId = await journalNodeId(dataDir, false);
  const verdict = (problem?: string): JournalsVerdict => ({
    pending,
    otherNodes: [...otherNodes].sort(),
    ...(nodeId === undefined ? {} : { node: nodeId }),
    ...(problem === undefined ? {} : { problem }),
  });
  /** The problem of a stored position whose MAC does not match; undefined for a sound one. */
  const altered = (journalId: string, state: AuditJournalState): string | undefined =>
    macEqual(state.StateMac, journalStateMac(auditKey, journalId, state)) ? undefined : `the position of audit journal ${journalId.slice(0, 60)} was altered (its MAC does not match)`;
  const files = await listJournals(dataDir);
  for await (const { key, value } of store.scanRecords('meta')) {
    if (!key.startsWith(AUDIT_JOURNAL_PREFIX)) continue;
    const journalId = key.slice(AUDIT_JOURNAL_PREFIX.length);
    if (files.includes(journalId)) continue;
    let state: AuditJournalState;
    try {
      state = decodeCheckedJson(value.toString('utf8')) as AuditJournalState;
    } catch {
      return verdict(`the position of audit journal ${journalId.slice(0, 60)} cannot be read (damaged or not JSON)`);
    }
    const stateAltered = altered(journalId, state);
    if (stateAltered) return verdict(stateAltered);
    if (state.Done || state.Offset === 0) continue;
    const node = journalNode(journalId);
    if (shared && node !== undefined && node !== nodeId) {
      otherNodes.add(node);
      continue;
    }
    // Made by a worker that started after the directory was listed, and perhaps finished since
    // (a server running beside a shared store's verify)?
    if (await exists(journalFile(dataDir, journalId))) continue;
    const now = await store.getAuditJournal(journalId);
    if (now === undefined) continue;
    const nowAltered = altered(journalId, now);
    if (nowAltered) return verdict(nowAltered);
    if (now.Done) continue;
    return verdict(`audit journal ${journalId} is missing: records after its record ${now.Seq} may have been removed with it`);
  }
  for (const journalId of files) {
    const node = journalNode(journalId);
    if (node !== undefined && node !== nodeId) {
      const ours = nodeId === undefined ? 'this directory has no audit-journal/node' : `this directory's node is ${nodeId}`;
      return verdict(`audit journal ${journalId} is named after node ${node} and ${ours}: no server here moves its records into the trail (a copy of another node's journal, or audit-journal/node was replaced or removed)`);
    }
    const state = await store.getAuditJournal(journalId);
    const stateAltered = state && altered(journalId, state);
    if (stateAltered) return verdict(stateAltered);
    if (state?.Done) continue;
    let position: JournalPosition = state ? { Offset: state.Offset, Seq: state.Seq, Mac: state.Mac } : { ...JOURNAL_START };
    let file;
    try {
      file = await open(journalFile(dataDir, journalId), 'r');
    } catch (error) {
      // Finished and removed since the directory was listed, by a server running beside a shared store's verify.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    try {
      // Shorter than what was moved (a power cut before the file was written out): nothing pending.
      if ((await file.stat()).size < position.Offset) continue;
      const buffer = Buffer.allocUnsafe(READ_BYTES);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, READ_BYTES, position.Offset);
        if (bytesRead === 0) break;
        const chunk = readJournalChunk(auditKey, journalId, buffer.subarray(0, bytesRead), position);
        pending += chunk.records.length;
        if (chunk.problem) return verdict(chunk.problem);
        position = chunk.position;
        if (chunk.records.length === 0) break;
      }
    } finally {
      await file.close();
    }
  }
  return verdict();
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
