/**
 * The messages between the cluster primary (the one process that owns the store) and its
 * HTTP workers, sent over node:cluster's IPC channel with `serialization: 'advanced'`, so
 * that Buffers arrive as Buffers. Defined once, here, for both sides.
 */
import type { SnapshotSource } from '../backup/snapshots.js';
import type { KeyholdConfig } from '../config.js';
import { KmsError } from '../errors.js';
import type { AliasOperations } from '../kms/aliases.js';
import type { AsymmetricOperations } from '../kms/asymmetric-keys.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { ImportOperations } from '../kms/imports.js';
import type { KeyService } from '../kms/key-service.js';
import type { RotationOperations } from '../kms/rotation.js';
import type { Store, StoreChange } from '../store/store.js';
import type { BatchMessage } from './message-batcher.js';

/** What a worker needs to serve: no passphrase, no PIN (see workerConfig). */
export interface WorkerInit {
  type: 'init';
  config: KeyholdConfig;
  /** The port to listen on (KEYHOLD_PORT; 0 shares the port the first workers got). */
  port: number;
  tls: { cert: string; key: string };
  /** The unwrapped root key; the worker zeroes its copy when it stops. */
  rootKey: Buffer;
  /** The id of the audit journal the worker creates and writes (src/audit/audit-journal.ts); unset: no journal. */
  journalId?: string;
  healthy: boolean;
  /** Whether the server is ready (see the `health` message). */
  ready: boolean;
}

/** The store reads a worker may ask the primary for; it never writes. */
export const STORE_READS = [
  'getKey', 'getVersion', 'getKeyWithVersion', 'listKeys', 'listAliases', 'listRotations', 'dueWork', 'listCredentials', 'getCredentialLastUsed',
] as const;
export type StoreRead = (typeof STORE_READS)[number];

/** A backup's snapshot of the store, held by the primary, read page by page (src/backup/snapshots.ts). */
export const SNAPSHOT_CALLS = ['open', 'next', 'close'] as const;
export type SnapshotCall = (typeof SNAPSHOT_CALLS)[number];

/**
 * Where a worker forwards a call: a store read, a backup snapshot's page, or a KeyService
 * call run whole by the primary.
 */
export type CallTarget = 'store' | 'snapshots' | 'audit' | 'replay' | ServiceTarget;

/** The audit trail and the replay memory live with the store: a worker writes and claims through the primary. */
export const AUDIT_CALLS = ['record', 'recordAll', 'list'] as const;
export const REPLAY_CALLS = ['claim'] as const;
export type ServiceTarget = keyof typeof KEY_SERVICE_CALLS;

export interface CallRequest {
  type: 'call';
  id: number;
  target: CallTarget;
  method: string;
  args: unknown[];
}

export type WireError = { type: string; status: number; message: string } | { internal: string };

export type CallResponse =
  | { type: 'result'; id: number; value: unknown; healthy: boolean }
  | { type: 'error'; id: number; error: WireError; healthy: boolean };

/** Primary to worker. */
export type PrimaryMessage =
  | WorkerInit
  | CallResponse
  /** Drop what you cached of this change, then answer `forgotten` with the same id. */
  | { type: 'forget'; id: number; change: StoreChange }
  /**
   * The store's health changed (false answers 503 and /healthz 503), or the server's readiness:
   * the store healthy and every worker listening (/readyz).
   */
  | { type: 'health'; healthy: boolean; ready: boolean }
  /** Send this process's metrics (KEYHOLD_METRICS_ADDR), for a scrape; answered with the same id. */
  | { type: 'metrics'; id: number }
  /**
   * I am alive (src/cluster/heartbeat.ts); any other message says so too. `fairShare`: the open
   * connections of all listening workers ÷ their number, rounded up (src/cluster/connection-balance.ts).
   */
  | { type: 'heartbeat'; fairShare?: number }
  /** My event loop may stop for up to `ms` (loading a cloud SDK): silence until then is no hang. */
  | { type: 'blocking'; ms: number }
  /** Finish in-flight requests and exit 0. */
  | { type: 'shutdown' }
  /** Several of these, in order (see MessageBatcher). */
  | BatchMessage<PrimaryMessage>;

/** Worker to primary. */
export type WorkerMessage =
  /** The worker listens for messages now (anything sent earlier would be lost). */
  | { type: 'ready' }
  | { type: 'listening'; port: number }
  /** The worker could not start; `message` is one line for the operator. */
  | { type: 'failed'; message: string }
  | CallRequest
  | { type: 'forgotten'; id: number }
  /** This worker's metrics (prom-client's getMetricsAsJSON), which the primary sums with the others'. */
  | { type: 'metrics'; id: number; metrics: unknown[] }
  /** I am alive (src/cluster/heartbeat.ts); any other message says so too. `connections`: my open API connections. */
  | { type: 'heartbeat'; connections?: number }
  /** My event loop may stop for up to `ms` (loading a cloud SDK): silence until then is no hang. */
  | { type: 'blocking'; ms: number }
  /** Several of these, in order (see MessageBatcher). */
  | BatchMessage<WorkerMessage>;

type MethodsOf<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T] & string;
export type Placement<T> = Record<MethodsOf<T>, CallPlacement>;
/** `primary-only`: the primary's own work (the scheduler), which no worker may ask for. */
export type CallPlacement = 'worker' | 'primary' | 'primary-only';

/**
 * Where each call of the service runs in a worker. `worker`: reads and cryptography, with
 * the worker's own caches. `primary`: every change, forwarded whole and run by the primary
 * under its per-key locks, so that there is one writer. The compiler makes every new public
 * method of these classes choose a side; a change left on the worker side would fail at
 * the worker's store, which refuses writes. `primary-only`: what the primary runs on its own
 * clock (the deletion and rotation scheduler); runsOnPrimary refuses it from a worker, so a
 * worker cannot make the primary delete keys by sending a date of its choosing.
 */
export const KEY_SERVICE_CALLS = {
  keyService: {
    createKey: 'primary',
    enableKey: 'primary',
    disableKey: 'primary',
    scheduleKeyDeletion: 'primary',
    cancelKeyDeletion: 'primary',
    tagResource: 'primary',
    untagResource: 'primary',
    updateKeyDescription: 'primary',
    runScheduledWork: 'primary-only',
    deleteIfDue: 'primary-only',
    describeKey: 'worker',
    listKeys: 'worker',
    listResourceTags: 'worker',
    encrypt: 'worker',
    decrypt: 'worker',
    reEncrypt: 'worker',
    generateDataKey: 'worker',
    generateDataKeyPair: 'worker',
    generateRandom: 'worker',
    generateMac: 'worker',
    verifyMac: 'worker',
    forgetCached: 'worker',
    policyResource: 'worker',
    policyResourceOfBlob: 'worker',
    clearCaches: 'worker',
  } satisfies Placement<KeyService>,
  aliases: {
    create: 'primary',
    update: 'primary',
    delete: 'primary',
    list: 'worker',
  } satisfies Placement<AliasOperations>,
  rotation: {
    rotateOnDemand: 'primary',
    rotateIfDue: 'primary-only',
    enable: 'primary',
    disable: 'primary',
    status: 'worker',
    list: 'worker',
  } satisfies Placement<RotationOperations>,
  credentials: {
    reload: 'worker',
    lookup: 'worker',
    dueForUseNote: 'worker',
    noteUse: 'primary',
    add: 'primary-only',
    create: 'primary',
    list: 'primary',
    describe: 'primary',
    updatePolicy: 'primary',
    setEnabled: 'primary',
    remove: 'primary',
  } satisfies Placement<CredentialService>,
  asymmetric: {
    getPublicKey: 'worker',
    sign: 'worker',
    verify: 'worker',
    encrypt: 'worker',
    decrypt: 'worker',
  } satisfies Placement<AsymmetricOperations>,
  imports: {
    getParametersForImport: 'primary',
    importKeyMaterial: 'primary',
    deleteImportedKeyMaterial: 'primary',
    expireIfDue: 'primary-only',
  } satisfies Placement<ImportOperations>,
} as const;

/** Whether `target.method` is a call the primary runs for a worker. */
export function runsOnPrimary(target: string, method: string): target is CallTarget {
  if (target === 'store') return (STORE_READS as readonly string[]).includes(method);
  if (target === 'snapshots') return (SNAPSHOT_CALLS as readonly string[]).includes(method);
  if (target === 'audit') return (AUDIT_CALLS as readonly string[]).includes(method);
  if (target === 'replay') return (REPLAY_CALLS as readonly string[]).includes(method);
  const placement = (KEY_SERVICE_CALLS as Record<string, Record<string, string>>)[target];
  return placement !== undefined && Object.hasOwn(placement, method) && placement[method] === 'primary';
}

// Type-level check that the store reads exist on Store with these names.
export type StoreReads = Pick<Store, StoreRead>;
export type SnapshotCalls = Pick<SnapshotSource, SnapshotCall>;

/**
 * The configuration a worker gets: the primary's, without the master-key secrets (a worker
 * never unwraps the root key, it is handed the unwrapped key).
 */
export function workerConfig(config: KeyholdConfig): KeyholdConfig {
  return { ...config, passphrase: undefined, pkcs11: { ...config.pkcs11, pin: undefined } };
}

/**
 * An error as it crosses the channel: a KmsError keeps its type, status and (safe) message;
 * anything else becomes an internal error, whose details stay in the primary's log.
 */
export function toWireError(error: unknown): WireError {
  if (error instanceof KmsError) return { type: error.type, status: error.status, message: error.message };
  return { internal: error instanceof Error ? error.name : 'error' };
}

export function fromWireError(wire: WireError): Error {
  if ('type' in wire) return new KmsError(wire.type, wire.status, wire.message);
  return new Error(`the primary process failed the call (${wire.internal}; see its log)`);
}
