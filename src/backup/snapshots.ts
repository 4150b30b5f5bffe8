import { randomUUID } from 'node:crypto';
import { ThrottlingException, ValidationException } from '../errors.js';
import type { RootKeyRecord } from '../store/records.js';
import type { Store, StoreSnapshot } from '../store/store.js';
import type { BackupRecord } from './format.js';

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

interface OpenSnapshot {
  snapshot: StoreSnapshot;
  idle: NodeJS.Timeout;
}

/** The snapshots of one store, by id, each closed when read to the end, closed, or idle. */
export class StoreSnapshots implements SnapshotSource {
  readonly #open = new Map<string, OpenSnapshot>();

  constructor(
    private readonly store: Store,
    private readonly idleMs: number = SNAPSHOT_IDLE_MS,
    /** Run before a snapshot is taken: the workers' audit journals moved into the store, so that a backup holds every record answered before it. */
    private readonly beforeOpen: () => Promise<void> = async () => {},
  ) {}

  get size(): number {
    return this.#open.size;
  }

  async open(): Promise<{ snapshotId: string; rootKey: RootKeyRecord }> {
    /* Precondition: at most MAX_OPEN_SNAPSHOTS backups hold an iterator at once. */
    if (this.#open.size >= MAX_OPEN_SNAPSHOTS) throw new ThrottlingException(`${MAX_OPEN_SNAPSHOTS} backups are running already; try again later`);
    // The root-key record cannot change while the server runs (a rekey needs the store
    // offline), so the one read here is the one in the snapshot.
    await this.beforeOpen();
    const rootKey = await this.store.getRootKeyRecord();
    if (!rootKey) throw new Error('the store has no root-key record');
    const snapshotId = randomUUID();
    this.#open.set(snapshotId, { snapshot: this.store.openSnapshot(), idle: this.#idleTimer(snapshotId) });
    return { snapshotId, rootKey };
  }

  async next(snapshotId: string): Promise<SnapshotPage> {
    const open = this.#get(snapshotId);
    clearTimeout(open.idle);
    const records: BackupRecord[] = [];
    // A page may come back shorter than asked; only an empty one means the end.
    while (records.length < SNAPSHOT_PAGE_RECORDS) {
      const entries = await open.snapshot.next(SNAPSHOT_PAGE_RECORDS - records.length);
      if (entries.length === 0) {
        await this.close(snapshotId);
        return { records, done: true };
      }
      for (const { table, key, value } of entries) records.push({ sublevel: table, key, value });
    }
    open.idle = this.#idleTimer(snapshotId);
    return { records, done: false };
  }

  async close(snapshotId: string): Promise<void> {
    const open = this.#open.get(snapshotId);
    if (!open) return;
    this.#open.delete(snapshotId);
    clearTimeout(open.idle);
    await open.snapshot.close();
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
