import type { AuditJournalWriter } from '../audit/audit-journal.js';
import type { AuditPage, AuditSink } from '../audit/audit-trail.js';
import type { AuditEntry } from '../store/audit-record.js';
import type { ReplayGuard } from '../auth/replay-guard.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { KeyService } from '../kms/key-service.js';
import type { PrimaryChannel } from './primary-channel.js';
import { KEY_SERVICE_CALLS, type CallPlacement, type ServiceTarget } from './protocol.js';

/**
 * The KeyService a worker's API uses: the worker's own KeyService (its caches, its crypto),
 * except that every call placed on the primary in KEY_SERVICE_CALLS is sent there whole and
 * answered from there. The primary has already told every worker to forget what the call
 * changed when the answer arrives.
 */
export function forwardChanges(keyService: KeyService, primary: PrimaryChannel): KeyService {
  return forwarding(keyService, 'keyService', primary);
}

/** The worker's credentials: lookups from its own copy (reloaded when told), changes on the primary. */
export function forwardCredentialChanges(credentials: CredentialService, primary: PrimaryChannel): CredentialService {
  return forwarding(credentials, 'credentials', primary);
}

/**
 * The audit trail as a worker's API uses it: the records of requests that changed nothing (and
 * batches, which never do) go to the worker's own journal, the others to the primary, where a
 * change's record went in with it; listings are the primary's.
 */
export function workerAuditTrail(primary: PrimaryChannel, journal: AuditJournalWriter | undefined): AuditSink {
  if (!journal) {
    return {
      record: (entry) => primary.call('audit', 'record', [entry]) as Promise<void>,
      recordAll: (entries) => primary.call('audit', 'recordAll', [entries]) as Promise<void>,
      list: (query) => primary.call('audit', 'list', [query]) as Promise<AuditPage>,
    };
  }
  // A journal's records reach the trail through the primary: while it cannot take them (gone,
  // silent, its store failing), requests fail closed as they did when every record went to it,
  // and caches that a silent primary cannot correct serve nothing.
  const journaled = (entries: AuditEntry[]) => {
    const refused = primary.refusal();
    return refused ? Promise.reject(refused) : journal.append(entries);
  };
  return {
    record: (entry, options) => (options?.changedNothing ? journaled([entry]) : (primary.call('audit', 'record', [entry]) as Promise<void>)),
    recordAll: journaled,
    list: (query) => primary.call('audit', 'list', [query]) as Promise<AuditPage>,
  };
}

export function remoteReplayGuard(primary: PrimaryChannel): ReplayGuard {
  return { claim: (fingerprint, expiresAtMs) => primary.call('replay', 'claim', [fingerprint, expiresAtMs]) as Promise<void> };
}

const NESTED: Partial<Record<string, ServiceTarget>> = {
  aliases: 'aliases',
  rotation: 'rotation',
  asymmetric: 'asymmetric',
  imports: 'imports',
};

function forwarding<T extends object>(local: T, target: ServiceTarget, primary: PrimaryChannel): T {
  const placement = KEY_SERVICE_CALLS[target] as Record<string, CallPlacement>;
  const cache = new Map<string | symbol, unknown>();
  return new Proxy(local, {
    get(object, property) {
      if (cache.has(property)) return cache.get(property);
      const value: unknown = Reflect.get(object, property, object);
      let result = value;
      if (typeof property === 'string' && typeof value === 'function') {
        const where = Object.hasOwn(placement, property) ? placement[property] : 'worker';
        result =
          where === 'primary'
            ? (...args: unknown[]) => primary.call(target, property, args)
            : where === 'primary-only'
              ? () => Promise.reject(primaryOnly(target, property))
              : (value as (...args: unknown[]) => unknown).bind(object);
      } else if (target === 'keyService' && typeof property === 'string' && NESTED[property] && typeof value === 'object' && value !== null) {
        result = forwarding(value, NESTED[property]!, primary);
      }
      // Methods and the nested objects are fixed for a KeyService's life: wrap them once.
      if (result !== value) cache.set(property, result);
      return result;
    },
  });
}

/** The primary refuses these from a worker, so the worker does not send them either. */
function primaryOnly(target: string, method: string): Error {
  return new Error(`${target}.${method} runs only in the primary process, on its own clock`);
}
