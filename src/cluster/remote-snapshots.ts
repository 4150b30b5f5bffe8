import type { RootKeyRecord } from '../store/records.js';
import type { SnapshotPage, SnapshotSource } from '../backup/snapshots.js';
import type { PrimaryChannel } from './primary-channel.js';

/**
 * A worker's view of the backup snapshots: the primary holds each LevelDB iterator (it owns
 * the store), the worker that streams the backup asks it for one page at a time, only when
 * its client has taken the last one. An abandoned snapshot is closed by the primary's idle timer.
 */
export class RemoteSnapshots implements SnapshotSource {
  constructor(private readonly primary: PrimaryChannel) {}

  open(): Promise<{ snapshotId: string; rootKey: RootKeyRecord }> {
    return this.primary.call('snapshots', 'open', []) as Promise<{ snapshotId: string; rootKey: RootKeyRecord }>;
  }

  next(snapshotId: string): Promise<SnapshotPage> {
    return this.primary.call('snapshots', 'next', [snapshotId]) as Promise<SnapshotPage>;
  }

  async close(snapshotId: string): Promise<void> {
    await this.primary.call('snapshots', 'close', [snapshotId]);
  }
}
