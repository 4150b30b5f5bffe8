import { AliasMap } from './alias-map.js';
import { createPrivateKey, createPublicKey, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { DEFAULT_AWS_IDENTITY, type AwsIdentity } from '../config.js';
import {
  asVersionKey,
  DecryptionFailedError,
  format2DerivationKey,
  macKeyAad,
  materialFingerprint,
  materialMatches,
  privateKeyAad,
  unwrapKey,
  versionKeyAad,
  wrapKey,
  wrappingKeyAad,
  type VersionKey,
} from '../crypto/index.js';
import { DisabledException, KMSInvalidStateException, NotFoundException, ServiceUnavailableException, ValidationException } from '../errors.js';
import type { ChangeAuthor } from '../store/audit-record.js';
import { metrics } from '../metrics/metrics.js';
import { LruCache } from '../store/lru-cache.js';
import type { AliasRecord, KeyRecord } from '../store/records.js';
import { WriteConflictError, type KeyStore, type ScheduledWork, type StoreBatch, type StoreChange } from '../store/store.js';
import { isUuid, KEY_RESOURCE_PREFIX } from './key-id.js';
import { parseKmsArn } from './arn.js';
import { KeyLocks } from './key-locks.js';
import { hasVersions, type KeyMaterialKind } from './key-kinds/index.js';

/** An unwrapped version key and its format-2 derivation key, cached and zeroed together. */
interface CachedVersionKey {
  versionKey: VersionKey;
  derivationKey: Buffer;
}

export const ALIAS_RESOURCE_PREFIX = 'keyhold:alias/';

export interface KeyRegistryOptions {
  store: KeyStore;
  rootKey: Buffer;
  clock?: () => Date;
  /** Unwrapped version keys kept (default DEFAULT_KEY_CACHE_SIZE). */
  versionKeyCacheSize?: number;
  /** Key records kept (default DEFAULT_KEY_CACHE_SIZE). */
  keyRecordCacheSize?: number;
  /** The region and account whose ARNs name keys here (default us-east-1, 111122223333). */
  aws?: AwsIdentity;
}

/**
 * Key records and unwrapped version keys each process keeps by default (KEYHOLD_KEY_CACHE_SIZE).
 * 10,000 records take about 4 MB of heap, 10,000 version keys less than 1 MB.
 */
export const DEFAULT_KEY_CACHE_SIZE = 10_000;
/** Parsed asymmetric keys kept: OpenSSL objects of a few KB each (RSA-4096 private keys). */
const ASYMMETRIC_KEY_CACHE_SIZE = 1_000;

/** Who asked (and, for an API request, the request): recorded in the audit trail of every change. */
export type Caller = ChangeAuthor;

export const SYSTEM: Caller = { principal: 'system' };

/** The work the scheduler does on keys (ScheduledWork's `work`). */
export const SCHEDULED_WORK = ['delete', 'rotate', 'expire'] as const;
export type ScheduledWorkName = (typeof SCHEDULED_WORK)[number];

/**
 * The scheduled work a key record implies: `delete` at its deletion date while it is pending
 * deletion, `rotate` at its next rotation date while it is Enabled with rotation on, and
 * `expire` (src/kms/imports.ts) when imported material expires and when an import's wrapping
 * private key is to be dropped. The store indexes them by date.
 */
export function scheduledWork(record: KeyRecord): ScheduledWork[] {
  const work = (due: string, name: ScheduledWorkName): ScheduledWork => ({ due, work: name, keyId: record.keyId });
  const lifecycle: ScheduledWork[] = [];
  if (record.keyState === 'PendingDeletion' && record.deletionDate) lifecycle.push(work(record.deletionDate, 'delete'));
  else if (record.keyState === 'Enabled' && record.rotation?.enabled && record.rotation.nextRotationDate) {
    lifecycle.push(work(record.rotation.nextRotationDate, 'rotate'));
  }
  const expiries = new Set<string>();
  const material = record.importedMaterial;
  if (material?.validTo && !material.deleted) expiries.add(material.validTo);
  if (record.importParameters?.wrappedPrivateKey) expiries.add(record.importParameters.validTo);
  return [...lifecycle, ...[...expiries].map((due) => work(due, 'expire'))];
}

/** The works of `a` that `b` does not have. */
function missingFrom(a: ScheduledWork[], b: ScheduledWork[]): ScheduledWork[] {
  return a.filter((one) => !b.some((other) => other.due === one.due && other.work === one.work));
}

/**
 * The one owner of key records, versions and their caches: every read and change of a
 * key goes through here, so the caches, the schedule index and the store stay in step.
 */
export class KeyRegistry {
  readonly store: KeyStore;
  readonly clock: () => Date;
  /** Whose ARNs name keys here. */
  readonly aws: AwsIdentity;
  private readonly rootKey: Buffer;
  private readonly locks = new KeyLocks();
  // Unwrapped version keys, each with its format-2 derivation key (src/crypto/envelope.ts), both
  // zeroed as they leave the cache: used only inside withVersionKey.
  private readonly versionKeys: LruCache<string, CachedVersionKey>;
  private readonly keyRecords: LruCache<string, KeyRecord>;
  // Asymmetric keys' parsed private (local keys) and public keys, by KeyId.
  private readonly privateKeys: LruCache<string, KeyObject>;
  private readonly publicKeys: LruCache<string, KeyObject>;
  // HMAC keys' secrets (version 1), as node KeyObjects, by KeyId.
  private readonly macKeys: LruCache<string, KeyObject>;
  private aliasesLoaded: Promise<AliasMap> | undefined;
  // The keys being read from the store right now, each with a count of the changes (or drops
  // of material) made to it since: a read that sees a change in flight cannot put an older
  // record or dropped material back into a cache. Entries live only while a read does, so
  // the map stays as small as the reads in flight.
  private readonly reads = new Map<string, { readers: number; changes: number }>();

  constructor(options: KeyRegistryOptions) {
    this.store = options.store;
    this.rootKey = options.rootKey;
    this.clock = options.clock ?? (() => new Date());
    this.aws = options.aws ?? DEFAULT_AWS_IDENTITY;
    this.versionKeys = new LruCache(options.versionKeyCacheSize ?? DEFAULT_KEY_CACHE_SIZE, (cached) => {
      cached.versionKey.fill(0);
      cached.derivationKey.fill(0);
    });
    this.keyRecords = new LruCache(options.keyRecordCacheSize ?? DEFAULT_KEY_CACHE_SIZE);
    this.privateKeys = new LruCache(ASYMMETRIC_KEY_CACHE_SIZE);
    this.publicKeys = new LruCache(ASYMMETRIC_KEY_CACHE_SIZE);
    this.macKeys = new LruCache(options.versionKeyCacheSize ?? DEFAULT_KEY_CACHE_SIZE);
  }

  /** Every alias, by name: few enough to hold in memory, read once from the store. */
  aliases(): Promise<AliasMap> {
    this.aliasesLoaded ??= this.store.listAliases().then(
      (records) => new AliasMap(records.map((r) => [r.aliasName, r])),
      (error: unknown) => {
        // A failed read (store down) is not remembered: the next call reads again.
        this.aliasesLoaded = undefined;
        throw error;
      },
    );
    return this.aliasesLoaded;
  }

  /** The names of a key's aliases, in name order. */
  async aliasesOf(keyId: string): Promise<readonly string[]> {
    return (await this.aliases()).namesOf(keyId);
  }

  /**
   * Turns what a caller may send as KeyId into the KeyId: the UUID, the resource name
   * `keyhold:key/<uuid>`, an alias name `alias/…` or alias resource name `keyhold:alias/…`.
   */
  async resolveKeyId(value: string): Promise<string> {
    if (isUuid(value)) return value.toLowerCase();
    const arn = parseKmsArn(value, this.aws);
    if (arn) {
      // Another region's or account's key or alias is not here: what AWS answers for it too.
      if (!arn.ours) throw new NotFoundException(`${arn.kind === 'key' ? 'Key' : 'Alias'} '${value.slice(0, 256)}' does not exist`);
      if (arn.kind === 'key') {
        if (!isUuid(arn.resource)) throw new NotFoundException(`Key '${value.slice(0, 256)}' does not exist`);
        return arn.resource.toLowerCase();
      }
      value = arn.resource;
    }
    if (value.startsWith(KEY_RESOURCE_PREFIX) && isUuid(value.slice(KEY_RESOURCE_PREFIX.length))) {
      return value.slice(KEY_RESOURCE_PREFIX.length).toLowerCase();
    }
    const aliasName = value.startsWith(ALIAS_RESOURCE_PREFIX) ? `alias/${value.slice(ALIAS_RESOURCE_PREFIX.length)}` : value;
    if (aliasName.startsWith('alias/')) {
      const alias = (await this.aliases()).get(aliasName);
      if (!alias) throw new NotFoundException(`Alias '${aliasName.slice(0, 256)}' does not exist`);
      return alias.targetKeyId;
    }
    throw new ValidationException(
      "KeyId must be a key id (UUID), a key ARN 'arn:aws:kms:<region>:<account>:key/<uuid>' or 'keyhold:key/<uuid>', " +
        "or an alias name 'alias/<name>' or alias ARN",
    );
  }

  /** Runs `work` under a named lock (one at a time per name), e.g. `alias:<name>`. */
  lock<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(name, work);
  }

  async loadKey(keyId: string): Promise<KeyRecord> {
    const cached = this.keyRecords.get(keyId);
    metrics.keyCacheLookup('key_record', cached !== undefined);
    if (cached) return cached;
    const watch = this.watch(keyId);
    try {
      const record = await this.store.getKey(keyId);
      // The key changed while we read the store: what we read may be older than the change.
      if (watch.changed()) return this.loadKey(keyId);
      if (!record) throw new NotFoundException(`Key '${keyId}' does not exist`);
      this.keyRecords.set(keyId, record);
      return record;
    } finally {
      watch.release();
    }
  }

  /** A key that exists and is Enabled, or the typed error that says why not. */
  async usableKey(keyId: string): Promise<KeyRecord> {
    return usable(await this.loadKey(keyId));
  }

  /**
   * usableKey for an operation that needs a symmetric key's version next (the current one
   * unless `version` says): when the record is not cached, the record and that version's
   * wrapped material come in one store read (one round trip to the primary in a cluster
   * worker, not two), and the version key is unwrapped and cached for the withVersionKey
   * call that follows.
   */
  async usableKeyWithVersion(keyId: string, version: number | 'current' = 'current'): Promise<KeyRecord> {
    const cached = this.keyRecords.get(keyId);
    metrics.keyCacheLookup('key_record', cached !== undefined);
    if (cached) return usable(cached);
    const watch = this.watch(keyId);
    try {
      const { record, wrapped } = await this.store.getKeyWithVersion(keyId, version, hasVersions);
      if (watch.changed()) return this.usableKeyWithVersion(keyId, version);
      if (!record) throw new NotFoundException(`Key '${keyId}' does not exist`);
      this.keyRecords.set(keyId, record);
      usable(record);
      const wanted = version === 'current' ? record.currentVersion : version;
      // Not for keys whose material is not versions (a local asymmetric key's version 1 is its
      // private key), nor for versions the key lacks.
      if (wrapped && hasVersions(record) && wanted >= 1 && wanted <= record.currentVersion) {
        this.cacheVersionKey(keyId, wanted, wrapped);
      }
      return record;
    } finally {
      watch.release();
    }
  }

  /**
   * Runs `use` with the unwrapped key of a version of `record`'s key, and answers what it
   * returns. `use` runs in the same turn as the key is taken from the cache or unwrapped:
   * keys leaving the cache are zeroed, and other requests' reads can push a key out at any
   * await, so a version key is never handed out to be held across one.
   */
  async withVersionKey<T>(record: KeyRecord, version: number, use: (versionKey: VersionKey, derivationKey: Buffer) => T): Promise<T> {
    const cached = this.versionKeys.get(`${record.keyId}!${version}`);
    metrics.keyCacheLookup('version_key', cached !== undefined);
    if (cached) return use(cached.versionKey, cached.derivationKey);
    const watch = this.watch(record.keyId);
    try {
      const wrapped = await this.store.getVersion(record.keyId, version);
      // The key was disabled or deleted while we read the store: its material must not go
      // back into the cache. Start again from the key's current state.
      if (watch.changed()) return await this.withVersionKey(await this.usableKey(record.keyId), version, use);
      // A version the key should have but the store lacks is corruption, not a caller error.
      if (!wrapped) throw new Error(`store is missing version ${version} of key ${record.keyId}`);
      const fresh = this.cacheVersionKey(record.keyId, version, wrapped);
      return use(fresh.versionKey, fresh.derivationKey);
    } finally {
      watch.release();
    }
  }

  /**
   * Unwraps a version's material read from the store and caches it, unless another request
   * cached it meanwhile (theirs is kept). Synchronous: the caller has checked, in the same
   * turn as its read finished, that the key has not changed since.
   */
  private cacheVersionKey(keyId: string, version: number, wrapped: Buffer): CachedVersionKey {
    const cacheKey = `${keyId}!${version}`;
    const raced = this.versionKeys.get(cacheKey);
    if (raced) return raced;
    const versionKey = asVersionKey(unwrapStored(() => unwrapKey(this.rootKey, wrapped, versionKeyAad(keyId, version)), `version ${version} of key ${keyId}`));
    const cached = { versionKey, derivationKey: format2DerivationKey(versionKey) };
    this.versionKeys.set(cacheKey, cached);
    return cached;
  }

  /**
   * Starts watching a key for the length of a store read of it. `changed()` says whether the
   * key changed (or its material was dropped) since: then what was read may be stale and must
   * not be cached. Call it right after the read's await, before anything else is awaited;
   * `release()` when done.
   */
  private watch(keyId: string): { changed(): boolean; release(): void } {
    let entry = this.reads.get(keyId);
    if (!entry) this.reads.set(keyId, (entry = { readers: 0, changes: 0 }));
    entry.readers++;
    const changesBefore = entry.changes;
    let released = false;
    return {
      changed: () => entry.changes !== changesBefore,
      release: () => {
        if (released) return;
        released = true;
        if (--entry.readers === 0) this.reads.delete(keyId);
      },
    };
  }

  /** The private key of a local asymmetric key (version 1), unwrapped once and cached. */
  privateKey(record: KeyRecord): Promise<KeyObject> {
    return this.versionOneKeyObject(record, this.privateKeys, privateKeyAad(record.keyId, 1), 'the private key', (der) =>
      createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
    );
  }

  /**
   * The secret of an HMAC key (version 1), unwrapped once and kept as a KeyObject (outside the
   * JavaScript heap); the unwrapped bytes are zeroed at once.
   */
  macKey(record: KeyRecord): Promise<KeyObject> {
    return this.versionOneKeyObject(record, this.macKeys, macKeyAad(record.keyId, 1), 'the HMAC key material', (secret) => createSecretKey(secret));
  }

  /**
   * A key's version 1 unwrapped with `aad` and made a KeyObject by `make`, cached in `cache`;
   * the unwrapped bytes are zeroed at once. A change to the key while it was read (another
   * process disabled or deleted it) is read again, so nothing stale is cached.
   */
  private async versionOneKeyObject(
    record: KeyRecord,
    cache: LruCache<string, KeyObject>,
    aad: string,
    what: string,
    make: (material: Buffer) => KeyObject,
  ): Promise<KeyObject> {
    const cached = cache.get(record.keyId);
    if (cached) return cached;
    const watch = this.watch(record.keyId);
    try {
      const wrapped = await this.store.getVersion(record.keyId, 1);
      if (watch.changed()) return this.versionOneKeyObject(await this.usableKey(record.keyId), cache, aad, what, make);
      if (!wrapped) throw new Error(`store is missing ${what} of key ${record.keyId}`);
      const material = unwrapStored(() => unwrapKey(this.rootKey, wrapped, aad), `${what} of key ${record.keyId}`);
      let keyObject: KeyObject;
      try {
        keyObject = make(material);
      } finally {
        material.fill(0);
      }
      cache.set(record.keyId, keyObject);
      return keyObject;
    } finally {
      watch.release();
    }
  }

  /** Wraps an HMAC key's secret under the root key, bound to the key and version 1 (its AAD ends in `|mac`). */
  wrapMacKey(keyId: string, secret: Buffer): Buffer {
    return wrapKey(this.rootKey, secret, macKeyAad(keyId, 1)) as Buffer;
  }

  /** The public key of an asymmetric key, parsed once and cached. */
  publicKey(record: KeyRecord): KeyObject {
    const cached = this.publicKeys.get(record.keyId);
    if (cached) return cached;
    const publicKey = createPublicKey({ key: Buffer.from(record.publicKey!, 'base64'), format: 'der', type: 'spki' });
    this.publicKeys.set(record.keyId, publicKey);
    return publicKey;
  }

  /** Wraps an asymmetric key's private key (PKCS#8 DER) under the root key. */
  wrapPrivateKey(keyId: string, privateKey: KeyObject): Buffer {
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      return wrapKey(this.rootKey, der, privateKeyAad(keyId, 1)) as Buffer;
    } finally {
      der.fill(0);
    }
  }

  /** An import's wrapping private key (PKCS#8 DER), wrapped under the root key and bound to its key and token. */
  wrapWrappingKey(keyId: string, token: Buffer, privateKey: KeyObject): Buffer {
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      return wrapKey(this.rootKey, der, wrappingKeyAad(keyId, token)) as Buffer;
    } finally {
      der.fill(0);
    }
  }

  /** The wrapping private key that wrapWrappingKey wrapped. */
  unwrapWrappingKey(keyId: string, token: Buffer, wrapped: Buffer): KeyObject {
    const der = unwrapStored(() => unwrapKey(this.rootKey, wrapped, wrappingKeyAad(keyId, token)), `the import wrapping key of key ${keyId}`);
    try {
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  }

  /**
   * Imported material wrapped under the root key as version 1 of its key, exactly as material
   * made here of the same kind: an envelope version key (AAD `…|1`) or an HMAC key's secret (`…|1|mac`).
   */
  wrapImportedMaterial(keyId: string, kind: KeyMaterialKind, material: Buffer): Buffer {
    if (kind === 'mac-key') return this.wrapMacKey(keyId, material);
    if (kind === 'versions') return wrapKey(this.rootKey, material, versionKeyAad(keyId, 1)) as Buffer;
    throw new Error(`imported material of kind ${kind} is not supported`);
  }

  /** The keyed fingerprint a reimport of a key's material is checked against (base64). */
  materialFingerprint(keyId: string, material: Buffer): string {
    return materialFingerprint(this.rootKey, keyId, material).toString('base64');
  }

  materialMatches(keyId: string, material: Buffer, fingerprint: string): boolean {
    return materialMatches(this.rootKey, keyId, material, Buffer.from(fingerprint, 'base64'));
  }

  /** Fresh key material for a version, wrapped under the root key; the plaintext is zeroed. */
  newWrappedVersion(keyId: string, version: number): Buffer {
    const material = randomBytes(32);
    try {
      // AAD binds the wrapped material to its key and version, so it cannot be moved.
      return wrapKey(this.rootKey, material, versionKeyAad(keyId, version)) as Buffer;
    } finally {
      material.fill(0);
    }
  }

  /**
   * Writes a new key's record, its first version and schedule, in one sync batch. The first
   * version is fresh AES material, or `wrappedMaterial` when given (an asymmetric key's
   * wrapped private key, an HMAC key's wrapped secret), or nothing for a key whose private half lives in another KMS.
   */
  async create(record: KeyRecord, batch: StoreBatch, wrappedMaterial?: Buffer | 'none'): Promise<void> {
    batch.putKey(record);
    if (wrappedMaterial === undefined) batch.putVersion(record.keyId, 1, this.newWrappedVersion(record.keyId, 1));
    else if (wrappedMaterial !== 'none') batch.putVersion(record.keyId, 1, wrappedMaterial);
    for (const work of scheduledWork(record)) batch.putSchedule(work);
    await this.store.write(batch);
    this.keyRecords.set(record.keyId, record);
  }

  /**
   * Read-modify-write of one key under that key's lock. `change` returns the new record
   * (or the same one: nothing is written) and may add operations to the batch. The record,
   * its schedule entries and the audit line are one sync batch; caches change only after
   * it is durable.
   */
  update(
    keyId: string,
    change: (record: KeyRecord, batch: StoreBatch) => KeyRecord | Promise<KeyRecord>,
  ): Promise<KeyRecord> {
    return this.locks.run(keyId, () =>
      retryOnConflict(
        async () => {
          const before = await this.loadKey(keyId);
          const batch = this.store.batch();
          const after = await change(before, batch);
          if (after === before && batch.operations.length === 0) return before;
          const planned = scheduledWork(before);
          const plans = scheduledWork(after);
          for (const work of missingFrom(planned, plans)) batch.deleteSchedule(work);
          for (const work of missingFrom(plans, planned)) batch.putSchedule(work);
          await this.store.write(batch.expectKey(keyId, before).putKey(after));
          this.markChanged(keyId);
          this.keyRecords.set(keyId, after);
          if (after.keyState !== 'Enabled') this.dropVersionKeys(keyId);
          return after;
        },
        () => this.forgetKey(keyId),
      ),
    );
  }

  /**
   * Deletes a key for good, if it is still due: record, every version, rotations, aliases and schedule entries
   * in one sync batch, then its cached material. The caller compacts the store afterwards
   * so that the bytes leave the disk too (once per run, not once per key).
   */
  deleteIfDue(keyId: string, now: Date, batchExtras: (batch: StoreBatch) => void): Promise<boolean> {
    return this.locks.run(keyId, async () => {
      const record = await this.loadKey(keyId);
      /* Precondition: only a key still pending deletion, whose date has come, is deleted. The
         schedule was read without the lock: the deletion may have been cancelled since. */
      if (record.keyState !== 'PendingDeletion' || !record.deletionDate || Date.parse(record.deletionDate) > now.getTime()) {
        return false;
      }
      const batch = this.store.batch().expectKey(keyId, record).deleteKey(record);
      for (const work of scheduledWork(record)) batch.deleteSchedule(work);
      const aliases = await this.aliases();
      const doomed = [...aliases.values()].filter((alias) => alias.targetKeyId === keyId);
      for (const alias of doomed) batch.deleteAlias(alias.aliasName);
      batchExtras(batch);
      await this.store.write(batch);
      for (const alias of doomed) aliases.delete(alias.aliasName);
      this.keyRecords.delete(keyId);
      this.dropVersionKeys(keyId);
      return true;
    });
  }

  /** Forgets a key's cached record (another node changed it): the next read goes to the store. */
  forgetKey(keyId: string): void {
    this.markChanged(keyId);
    this.keyRecords.delete(keyId);
  }

  /** Forgets the cached aliases (another node changed one): the next read goes to the store. */
  forgetAliases(): void {
    this.aliasesLoaded = undefined;
  }

  dropVersionKeys(keyId: string): void {
    this.markChanged(keyId);
    this.versionKeys.deleteWhere((cacheKey) => cacheKey.startsWith(`${keyId}!`));
    this.privateKeys.delete(keyId);
    this.publicKeys.delete(keyId);
    this.macKeys.delete(keyId);
  }

  /**
   * Forgets what this process cached of keys and aliases that another process changed in the
   * store (a cluster worker, told by the primary). A key's record always goes; its material
   * (immutable per version) goes too unless the key is still Enabled. Reads in flight do not
   * put the old state back (see readKey).
   */
  forget(change: StoreChange): void {
    if (change.everything) {
      for (const watch of this.reads.values()) watch.changes++;
      this.clearCaches();
      this.aliasesLoaded = undefined;
      return;
    }
    for (const { keyId, keyState, currentVersion } of change.keys) {
      this.markChanged(keyId);
      this.keyRecords.delete(keyId);
      if (keyState === 'Enabled') continue;
      for (let version = 1; version <= currentVersion; version++) this.versionKeys.delete(`${keyId}!${version}`);
      this.privateKeys.delete(keyId);
      this.publicKeys.delete(keyId);
      this.macKeys.delete(keyId);
    }
    if (change.aliases) this.aliasesLoaded = undefined;
  }

  /** Marks a key changed, so that store reads in flight do not cache what they read. */
  private markChanged(keyId: string): void {
    const watch = this.reads.get(keyId);
    if (watch) watch.changes++;
  }

  clearCaches(): void {
    this.versionKeys.clear();
    this.keyRecords.clear();
    this.privateKeys.clear();
    this.publicKeys.clear();
    this.macKeys.clear();
  }
}

/**
 * Material read from the store that does not unwrap under the root key (which opened the
 * store, so it is the right one) was damaged on disk: 503 naming it, not a 500.
 */
function unwrapStored(unwrap: () => Buffer, what: string): Buffer {
  try {
    return unwrap();
  } catch (error) {
    if (error instanceof DecryptionFailedError) throw new ServiceUnavailableException(`The key store holds damaged material for ${what}`);
    throw error;
  }
}

/** The record of a key that is Enabled, or the typed error that says why it cannot be used. */
function usable(record: KeyRecord): KeyRecord {
  if (record.keyState === 'Disabled') throw new DisabledException(`Key '${record.keyId}' is disabled`);
  if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
  if (record.keyState === 'PendingImport') throw pendingImport(record.keyId);
  return record;
}

export function pendingImport(keyId: string) {
  return new KMSInvalidStateException(`Key '${keyId}' is pending import: it has no key material until ImportKeyMaterial`);
}

export function pendingDeletion(keyId: string) {
  return new KMSInvalidStateException(`Key '${keyId}' is pending deletion`);
}

/** How often a read-modify-write is tried again when another node changed what it read. */
const MAX_CONFLICT_RETRIES = 20;

/**
 * Runs a read-modify-write, and again (after `forget`, so that it reads the store anew, and a
 * short random pause that grows, so that two nodes do not keep colliding) when its batch is
 * refused because another node sharing the store changed the record first
 * (WriteConflictError): each attempt sees the newest record, and no change is lost. A change
 * that keeps colliding answers 503, which clients retry.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, forget: () => void): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof WriteConflictError)) throw error;
      if (tries > MAX_CONFLICT_RETRIES) throw new ServiceUnavailableException('The record was changed on another node at the same time, again and again; try again');
      forget();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 * tries, 20)));
    }
  }
}
