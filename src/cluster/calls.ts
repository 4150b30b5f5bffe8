import type { KeyService } from '../kms/key-service.js';
import type { SnapshotSource } from '../store/snapshots.js';
import type { Store } from '../store/store.js';
import { runsOnPrimary, type CallRequest } from './protocol.js';

/**
 * The primary's side of a worker's call: a store read, or a KeyService change run here,
 * under this process's per-key locks, exactly as a request to a single-process server
 * would run it.
 */
export function createCallHandler(
  keyService: KeyService,
  store: Store,
  snapshots: SnapshotSource,
): (request: CallRequest) => Promise<unknown> {
  return async ({ target, method, args }) => {
    /* Precondition: a worker asks only for the store reads, snapshot pages and the changes of KEY_SERVICE_CALLS. */
    if (!runsOnPrimary(target, method)) {
      throw new Error(`a worker asked the primary for ${String(target).slice(0, 32)}.${String(method).slice(0, 64)}, which is not a primary call`);
    }
    const object = (
      target === 'store' ? store : target === 'snapshots' ? snapshots : target === 'keyService' ? keyService : keyService[target]
    ) as unknown as Record<
      string,
      (...values: unknown[]) => unknown
    >;
    return object[method]!.apply(object, args);
  };
}
