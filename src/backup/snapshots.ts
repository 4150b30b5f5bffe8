import { randomUUID } from 'node:crypto';
import { ThrottlingException, ValidationException } from '../errors.js';
import type { RootKeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { isBackupSublevel, type BackupRecord } from './format.js';

/** Records per page: a page of small records is tens of KiB, one IPC message for a worker. */
export const SNAPSHOT_PAGE_RECORDS = 500;
/** A snapshot nobody has read for this long is closed: an abandoned backup frees its iterator. */
export const SNAPSHOT_IDLE_MS = 60_000;
/** An iterator pins old LevelDB files until closed: only a few backups run at once. */
export const MAX_OPEN_SNAPSHOTS = 4;

export interface SnapshotPage {
  records: BackupRecord[];
  /** True on the last page: the snapshot is closed already. */
  done: boolean;
}

/**
 * Reading a point-in-time copy of the whole store, page by page: what a backup streams. The
 * primary holds the snapshots; a cluster worker reads them through the primary
 * (src/cluster/remote-snapshots.ts) with the same calls.
 */
export interface SnapshotSource {
  open(): Promise<{ snapshotId: string; rootKey: RootKeyRecord }>;
  next(snapshotId: string): Promise<SnapshotPage>;
  close(snapshotId: string): Promise<void>;
}

type StoreIterator = ReturnType<Store['snapshotIterator']>;

interface OpenSnapshot {
  iterator: StoreIterator;
  idle: NodeJS.Timeout;
}

/** The snapshots of one store, by id, each closed when read to the end, closed, or idle. */
export class StoreSnapshots implements SnapshotSource {
  readonly #open = new Map<string, OpenSnapshot>();

  constructor(
    private readonly store: Store,
    private readonly idleMs: number = SNAPSHOT_IDLE_MS,
  ) {}

  get size(): number {
    return this.#open.size;
  }

  async open(): Promise<{ snapshotId: string; rootKey: RootKeyRecord }> {
    /* Precondition: at most MAX_OPEN_SNAPSHOTS backups hold an iterator at once. */
    if (this.#open.size >= MAX_OPEN_SNAPSHOTS) throw new ThrottlingException(`${MAX_OPEN_SNAPSHOTS} backups are running already; try again later`);
    // The root-key record cannot change while the server runs (a rekey needs the store
    // offline), so the one read here is the one in the snapshot.
    const rootKey = await this.store.getRootKeyRecord();
    if (!rootKey) throw new Error('the store has no root-key record');
    const snapshotId = randomUUID();
    const iterator = this.store.snapshotIterator();
    this.#open.set(snapshotId, { iterator, idle: this.#idleTimer(snapshotId) });
    return { snapshotId, rootKey };
  }

  async next(snapshotId: string): Promise<SnapshotPage> {
    const snapshot = this.#get(snapshotId);
    clearTimeout(snapshot.idle);
    const records: BackupRecord[] = [];
    // nextv may answer fewer entries than asked (what LevelDB had read ahead); only an empty
    // answer means the end.
    while (records.length < SNAPSHOT_PAGE_RECORDS) {
      const entries = await snapshot.iterator.nextv(SNAPSHOT_PAGE_RECORDS - records.length);
      if (entries.length === 0) {
        await this.close(snapshotId);
        return { records, done: true };
      }
      for (const [key, value] of entries) records.push(toRecord(key, value as Buffer));
    }
    snapshot.idle = this.#idleTimer(snapshotId);
    return { records, done: false };
  }

  async close(snapshotId: string): Promise<void> {
    const snapshot = this.#open.get(snapshotId);
    if (!snapshot) return;
    this.#open.delete(snapshotId);
    clearTimeout(snapshot.idle);
    await snapshot.iterator.close();
  }

  /** Closes every snapshot (at shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#open.keys()].map((id) => this.close(id)));
  }

  #get(snapshotId: string): OpenSnapshot {
    const snapshot = this.#open.get(snapshotId);
    if (!snapshot) throw new ValidationException('No such backup snapshot (it finished, or was closed after being idle)');
    return snapshot;
  }

  #idleTimer(snapshotId: string): NodeJS.Timeout {
    const timer = setTimeout(() => void this.close(snapshotId).catch(() => {}), this.idleMs);
    timer.unref();
    return timer;
  }
}

/** `!<sublevel>!<key>` as a record; the store holds nothing outside its sublevels. */
function toRecord(prefixedKey: string, value: Buffer): BackupRecord {
  const separator = prefixedKey.indexOf('!', 1);
  const sublevel = prefixedKey.slice(1, separator);
  /* Postcondition: every entry belongs to a sublevel a restore knows how to write. */
  if (!prefixedKey.startsWith('!') || separator === -1 || !isBackupSublevel(sublevel)) {
    throw new Error('the store holds an entry outside its sublevels');
  }
  return { sublevel, key: prefixedKey.slice(separator + 1), value };
}
