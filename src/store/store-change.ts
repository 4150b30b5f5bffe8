import type { AuditEntry } from './audit-record.js';
import type { KeyRecord } from './records.js';
import type { BatchOp } from './store-batch.js';
import type { StoreChange } from './store.js';

/**
 * What a set of operations changed (the keys, aliases and credentials it touched), for the
 * processes and nodes that cache the store's contents: derived from the operations, so that
 * no writer can forget to report a change.
 */
export function describeChange(operations: readonly BatchOp[]): StoreChange {
  const keys = new Map<string, StoreChange['keys'][number]>();
  const lastVersions = new Map<string, number>();
  let aliases = false;
  let credentials = false;
  for (const op of operations) {
    if (op.type === 'check') continue;
    if (op.table === 'keys') {
      const record = op.type === 'put' ? (op.value as KeyRecord) : undefined;
      keys.set(op.key, {
        keyId: op.key,
        keyState: record ? record.keyState : 'Deleted',
        currentVersion: record ? record.currentVersion : 0,
      });
    } else if (op.table === 'versions') {
      const separator = op.key.lastIndexOf('!');
      const keyId = op.key.slice(0, separator);
      lastVersions.set(keyId, Math.max(lastVersions.get(keyId) ?? 0, Number(op.key.slice(separator + 1))));
    } else if (op.table === 'aliases') {
      aliases = true;
    } else if (op.table === 'credentials') {
      credentials = true;
    }
  }
  // A deleted record names no version: the deleted versions say how many there were.
  for (const entry of keys.values()) {
    if (entry.keyState === 'Deleted') entry.currentVersion = lastVersions.get(entry.keyId) ?? 0;
  }
  return { keys: [...keys.values()], aliases, credentials };
}

/** Whether a change touched nothing that anyone caches. */
export function isEmptyChange(change: StoreChange): boolean {
  return change.keys.length === 0 && !change.aliases && !change.credentials && !change.everything;
}

/** How long a store remembers that a request's audit record went in with its change. */
const ANSWERED_REQUEST_MEMORY_MS = 60_000;

/**
 * The requests whose audit record was written with the change they made (then the record the
 * API writes for the request after answering is not written twice), by RequestId, for a minute.
 */
export class AnsweredRequests {
  private readonly since = new Map<string, number>();

  /** Remembers the requests answered by a batch's audit records; forgets the oldest. */
  remember(operations: readonly BatchOp[]): void {
    const now = Date.now();
    for (const op of operations) {
      if (op.type === 'put' && op.answersRequest) this.since.set((op.value as AuditEntry).RequestId!, now);
    }
    // Oldest first (insertion order): a worker that died before writing its record leaves its id here.
    for (const [requestId, since] of this.since) {
      if (now - since < ANSWERED_REQUEST_MEMORY_MS) break;
      this.since.delete(requestId);
    }
  }

  /** Whether the request's record went in with its change; forgets it. */
  take(requestId: string): boolean {
    return this.since.delete(requestId);
  }
}
