import type { AuditTrail } from '../audit/audit-trail.js';
import type { ReplayGuard } from '../auth/replay-guard.js';
import type { SnapshotSource } from '../backup/snapshots.js';
import type { CredentialService } from '../kms/credential-service.js';
import { hasVersions } from '../kms/key-kinds/index.js';
import type { KeyService } from '../kms/key-service.js';
import type { Store } from '../store/store.js';
import { runsOnPrimary, type CallRequest } from './protocol.js';

/**
 * The primary's side of a worker's call: a store read, or a KeyService change run here,
 * under this process's per-key locks, exactly as a request to a single-process server
 * would run it.
 */
export interface CallTargets {
  keyService: KeyService;
  store: Store;
  snapshots: SnapshotSource;
  credentials: CredentialService;
  audit: AuditTrail;
  replay: ReplayGuard;
}

export function createCallHandler(targets: CallTargets): (request: CallRequest) => Promise<unknown> {
  const { keyService, store, snapshots } = targets;
  return async ({ target, method, args }) => {
    /* Precondition: a worker asks only for the store reads, snapshot pages and the changes of KEY_SERVICE_CALLS. */
    if (!runsOnPrimary(target, method)) {
      throw new Error(`a worker asked the primary for ${String(target).slice(0, 32)}.${String(method).slice(0, 64)}, which is not a primary call`);
    }
    // The one store read that takes a function, which a worker cannot send: the key kinds' decision, as in one process.
    if (target === 'store' && method === 'getKeyWithVersion') {
      const [keyId, version] = args as [string, number | 'current'];
      return store.getKeyWithVersion(keyId, version, hasVersions);
    }
    const object = (
      target === 'store' || target === 'snapshots' || target === 'keyService' || target === 'credentials' || target === 'audit' || target === 'replay'
        ? targets[target]
        : keyService[target]
    ) as unknown as Record<
      string,
      (...values: unknown[]) => unknown
    >;
    return object[method]!.apply(object, args);
  };
}
