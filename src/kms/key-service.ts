import { randomBytes, randomUUID } from 'node:crypto';
import {
  asVersionKey,
  DecryptionFailedError,
  decryptMessage,
  encryptMessage,
  parseCiphertext,
  unwrapKey,
  versionKeyAad,
  wrapKey,
  type EncryptionContext,
  type ParsedCiphertext,
  type VersionKey,
} from '../crypto/index.js';
import {
  DisabledException,
  IncorrectKeyException,
  invalidCiphertext,
  KMSInvalidStateException,
  NotFoundException,
  ValidationException,
} from '../errors.js';
import { LruCache } from '../store/lru-cache.js';
import type { KeyRecord, Tag } from '../store/records.js';
import type { Store } from '../store/store.js';
import { KeyLocks } from './key-locks.js';
import { toKeyMetadata, type KeyMetadata } from './key-metadata.js';
import { parseKeyId } from './key-id.js';

export const MAX_PLAINTEXT_BYTES = 4096;
const DAY_MS = 86_400_000;
const DATA_KEY_SPEC_BYTES = { AES_256: 32, AES_128: 16 } as const;

export type DataKeySpec = keyof typeof DATA_KEY_SPEC_BYTES;

export interface KeyServiceOptions {
  store: Store;
  rootKey: Buffer;
  /** Injectable clock, so tests need not wait. */
  clock?: () => Date;
  /** How many unwrapped version keys to keep in memory. */
  versionKeyCacheSize?: number;
  /** How many key records to keep in memory. */
  keyRecordCacheSize?: number;
}

/** Who asked: recorded in the audit trail of every change. */
export interface Caller {
  principal: string;
}

const SYSTEM: Caller = { principal: 'system' };

/**
 * The operations of Keyhold: the only code that combines the store, the crypto and the
 * providers. It owns every key's life: its record, its versions, its cached material.
 */
export class KeyService {
  private readonly store: Store;
  private readonly rootKey: Buffer;
  private readonly clock: () => Date;
  private readonly locks = new KeyLocks();
  // Unwrapped version keys, zeroed as they leave the cache. Never held across an await.
  private readonly versionKeys: LruCache<string, VersionKey>;
  private readonly keyRecords: LruCache<string, KeyRecord>;

  constructor(options: KeyServiceOptions) {
    this.store = options.store;
    this.rootKey = options.rootKey;
    this.clock = options.clock ?? (() => new Date());
    this.versionKeys = new LruCache(options.versionKeyCacheSize ?? 10_000, (key) => key.fill(0));
    this.keyRecords = new LruCache(options.keyRecordCacheSize ?? 100_000);
  }

  /* ---------------------------------------------------------------- key management */

  async createKey(
    request: { description?: string; keySpec?: string; keyUsage?: string; tags?: Tag[] },
    caller: Caller = SYSTEM,
  ): Promise<KeyMetadata> {
    const keySpec = request.keySpec ?? 'SYMMETRIC_DEFAULT';
    const keyUsage = request.keyUsage ?? 'ENCRYPT_DECRYPT';
    if (keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new ValidationException(`KeySpec '${keySpec}' is not supported; use SYMMETRIC_DEFAULT`);
    }
    if (keyUsage !== 'ENCRYPT_DECRYPT') {
      throw new ValidationException(`KeyUsage '${keyUsage}' is not valid for a SYMMETRIC_DEFAULT key`);
    }
    const keyId = randomUUID();
    const now = this.clock();
    const record: KeyRecord = {
      keyId,
      description: request.description ?? '',
      keySpec,
      keyUsage,
      keyState: 'Enabled',
      origin: 'KEYHOLD',
      creationDate: now.toISOString(),
      tags: dedupeTags(request.tags ?? []),
      currentVersion: 1,
    };
    const material = randomBytes(32);
    // AAD binds the wrapped material to its key and version, so it cannot be moved.
    const wrapped = wrapKey(this.rootKey, material, versionKeyAad(keyId, 1)) as Buffer;
    material.fill(0);
    await this.store.write(
      this.store
        .batch()
        .putKey(record)
        .putVersion(keyId, 1, wrapped)
        .audit({ action: 'CreateKey', principal: caller.principal, keyId }, now),
    );
    this.keyRecords.set(keyId, record);
    return toKeyMetadata(record);
  }

  async describeKey(keyIdInput: string): Promise<KeyMetadata> {
    return toKeyMetadata(await this.loadKey(parseKeyId(keyIdInput)));
  }

  async listKeys(request: { limit?: number; marker?: string }): Promise<{
    keys: KeyMetadata[];
    nextMarker?: string;
    truncated: boolean;
  }> {
    const limit = request.limit ?? 100;
    const after = request.marker === undefined ? undefined : decodeMarker(request.marker);
    // One extra record tells whether there is a next page without a second read.
    const records = await this.store.listKeys(after, limit + 1);
    const page = records.slice(0, limit);
    const truncated = records.length > limit;
    const result: { keys: KeyMetadata[]; nextMarker?: string; truncated: boolean } = {
      keys: page.map(toKeyMetadata),
      truncated,
    };
    if (truncated) result.nextMarker = encodeMarker(page[page.length - 1]!.keyId);
    return result;
  }

  enableKey(keyIdInput: string, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(keyIdInput, 'EnableKey', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      return { ...record, keyState: 'Enabled' };
    });
  }

  disableKey(keyIdInput: string, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(keyIdInput, 'DisableKey', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      return { ...record, keyState: 'Disabled' };
    });
  }

  async scheduleKeyDeletion(
    keyIdInput: string,
    pendingWindowInDays = 30,
    caller: Caller = SYSTEM,
  ): Promise<{ keyId: string; deletionDate: string; keyState: string; pendingWindowInDays: number }> {
    if (!Number.isInteger(pendingWindowInDays) || pendingWindowInDays < 7 || pendingWindowInDays > 30) {
      throw new ValidationException('PendingWindowInDays must be an integer from 7 to 30');
    }
    const metadata = await this.changeState(keyIdInput, 'ScheduleKeyDeletion', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      const deletionDate = new Date(this.clock().getTime() + pendingWindowInDays * DAY_MS).toISOString();
      return { ...record, keyState: 'PendingDeletion', deletionDate };
    });
    return {
      keyId: metadata.KeyId,
      deletionDate: metadata.DeletionDate!,
      keyState: metadata.KeyState,
      pendingWindowInDays,
    };
  }

  cancelKeyDeletion(keyIdInput: string, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(keyIdInput, 'CancelKeyDeletion', caller, (record) => {
      if (record.keyState !== 'PendingDeletion') {
        throw new KMSInvalidStateException(`Key '${record.keyId}' is not pending deletion`);
      }
      const { deletionDate: _cancelled, ...rest } = record;
      return { ...rest, keyState: 'Disabled' };
    });
  }

  /* ---------------------------------------------------------------- cryptographic operations */

  async encrypt(request: {
    keyId: string;
    plaintext: Buffer;
    encryptionContext?: EncryptionContext;
  }): Promise<{ ciphertextBlob: Buffer; keyId: string }> {
    /* Precondition: plaintext is 1..4096 bytes. */
    if (request.plaintext.length < 1 || request.plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw new ValidationException(`Plaintext must be 1 to ${MAX_PLAINTEXT_BYTES} bytes`);
    }
    const record = await this.usableKey(parseKeyId(request.keyId));
    return { ciphertextBlob: await this.seal(record, request.plaintext, request.encryptionContext), keyId: record.keyId };
  }

  async decrypt(request: {
    ciphertextBlob: Buffer;
    encryptionContext?: EncryptionContext;
    keyId?: string;
  }): Promise<{ plaintext: Buffer; keyId: string }> {
    return this.open(request.ciphertextBlob, request.encryptionContext, request.keyId);
  }

  async reEncrypt(request: {
    ciphertextBlob: Buffer;
    sourceEncryptionContext?: EncryptionContext;
    sourceKeyId?: string;
    destinationKeyId: string;
    destinationEncryptionContext?: EncryptionContext;
  }): Promise<{ ciphertextBlob: Buffer; keyId: string; sourceKeyId: string }> {
    const destination = await this.usableKey(parseKeyId(request.destinationKeyId));
    const source = await this.open(request.ciphertextBlob, request.sourceEncryptionContext, request.sourceKeyId);
    try {
      const ciphertextBlob = await this.seal(destination, source.plaintext, request.destinationEncryptionContext);
      return { ciphertextBlob, keyId: destination.keyId, sourceKeyId: source.keyId };
    } finally {
      source.plaintext.fill(0);
    }
  }

  async generateDataKey(request: {
    keyId: string;
    keySpec?: DataKeySpec;
    numberOfBytes?: number;
    encryptionContext?: EncryptionContext;
  }): Promise<{ plaintext: Buffer; ciphertextBlob: Buffer; keyId: string }> {
    /* Precondition: exactly one of KeySpec and NumberOfBytes. */
    if ((request.keySpec === undefined) === (request.numberOfBytes === undefined)) {
      throw new ValidationException('Specify exactly one of KeySpec and NumberOfBytes');
    }
    const length = request.keySpec ? DATA_KEY_SPEC_BYTES[request.keySpec] : request.numberOfBytes!;
    if (!Number.isInteger(length) || length < 1 || length > 1024) {
      throw new ValidationException('NumberOfBytes must be an integer from 1 to 1024');
    }
    const record = await this.usableKey(parseKeyId(request.keyId));
    const plaintext = randomBytes(length);
    const ciphertextBlob = await this.seal(record, plaintext, request.encryptionContext);
    return { plaintext, ciphertextBlob, keyId: record.keyId };
  }

  generateRandom(numberOfBytes: number): Buffer {
    if (!Number.isInteger(numberOfBytes) || numberOfBytes < 1 || numberOfBytes > 1024) {
      throw new ValidationException('NumberOfBytes must be an integer from 1 to 1024');
    }
    return randomBytes(numberOfBytes);
  }

  /** Drops every cached record and unwrapped key (zeroing the keys). */
  clearCaches(): void {
    this.versionKeys.clear();
    this.keyRecords.clear();
  }

  /* ---------------------------------------------------------------- internals */

  private async seal(record: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined): Promise<Buffer> {
    const versionKey = await this.versionKey(record, record.currentVersion);
    // No await between fetching the cached key and using it: eviction zeroes keys.
    return encryptMessage({ versionKey, keyId: record.keyId, version: record.currentVersion, plaintext, context });
  }

  private async open(
    blob: Buffer,
    context: EncryptionContext | undefined,
    expectedKeyIdInput: string | undefined,
  ): Promise<{ plaintext: Buffer; keyId: string }> {
    let parsed: ParsedCiphertext;
    try {
      /* Precondition: the whole blob layout is valid before any field is used. */
      parsed = parseCiphertext(blob);
    } catch {
      throw invalidCiphertext();
    }
    if (expectedKeyIdInput !== undefined && parseKeyId(expectedKeyIdInput) !== parsed.keyId) {
      throw new IncorrectKeyException('The ciphertext was not encrypted under the KeyId given in the request');
    }
    const record = await this.usableKey(parsed.keyId);
    if (parsed.version > record.currentVersion) throw invalidCiphertext();
    const versionKey = await this.versionKey(record, parsed.version);
    try {
      return { plaintext: decryptMessage(parsed, versionKey, context), keyId: record.keyId };
    } catch (error) {
      if (error instanceof DecryptionFailedError) throw invalidCiphertext();
      throw error;
    }
  }

  /** A key that exists and is Enabled, or the typed error that says why not. */
  private async usableKey(keyId: string): Promise<KeyRecord> {
    const record = await this.loadKey(keyId);
    if (record.keyState === 'Disabled') throw new DisabledException(`Key '${keyId}' is disabled`);
    if (record.keyState === 'PendingDeletion') throw pendingDeletion(keyId);
    return record;
  }

  private async loadKey(keyId: string): Promise<KeyRecord> {
    const cached = this.keyRecords.get(keyId);
    if (cached) return cached;
    const record = await this.store.getKey(keyId);
    if (!record) throw new NotFoundException(`Key '${keyId}' does not exist`);
    this.keyRecords.set(keyId, record);
    return record;
  }

  private async versionKey(record: KeyRecord, version: number): Promise<VersionKey> {
    const cacheKey = `${record.keyId}!${version}`;
    const cached = this.versionKeys.get(cacheKey);
    if (cached) return cached;
    const wrapped = await this.store.getVersion(record.keyId, version);
    // A version the key should have but the store lacks is corruption, not a caller error.
    if (!wrapped) throw new Error(`store is missing version ${version} of key ${record.keyId}`);
    const versionKey = asVersionKey(unwrapKey(this.rootKey, wrapped, versionKeyAad(record.keyId, version)));
    // Another request may have filled the slot while we awaited the store: keep theirs.
    const raced = this.versionKeys.get(cacheKey);
    if (raced) {
      versionKey.fill(0);
      return raced;
    }
    this.versionKeys.set(cacheKey, versionKey);
    return versionKey;
  }

  /**
   * Read-modify-write of one key's state under that key's lock, as one sync batch with
   * its audit record. The cache is updated only after the write is durable.
   */
  private changeState(
    keyIdInput: string,
    action: string,
    caller: Caller,
    change: (record: KeyRecord) => KeyRecord,
  ): Promise<KeyMetadata> {
    const keyId = parseKeyId(keyIdInput);
    return this.locks.run(keyId, async () => {
      const before = await this.loadKey(keyId);
      const after = change(before);
      if (after.keyState !== before.keyState || after.deletionDate !== before.deletionDate) {
        await this.store.write(
          this.store
            .batch()
            .putKey(after)
            .audit({ action, principal: caller.principal, keyId, detail: `${before.keyState} -> ${after.keyState}` }, this.clock()),
        );
        this.keyRecords.set(keyId, after);
      }
      if (after.keyState !== 'Enabled') this.versionKeys.deleteWhere((cacheKey) => cacheKey.startsWith(`${keyId}!`));
      return toKeyMetadata(after);
    });
  }
}

function pendingDeletion(keyId: string) {
  return new KMSInvalidStateException(`Key '${keyId}' is pending deletion`);
}

function dedupeTags(tags: Tag[]): Tag[] {
  // The same TagKey given twice: the last value wins, as with TagResource.
  return [...new Map(tags.map((tag) => [tag.TagKey, tag])).values()];
}

function encodeMarker(keyId: string): string {
  return Buffer.from(`k:${keyId}`).toString('base64url');
}

function decodeMarker(marker: string): string {
  const decoded = Buffer.from(marker, 'base64url').toString('utf8');
  if (!decoded.startsWith('k:') || !/^[0-9a-f-]{36}$/.test(decoded.slice(2))) {
    throw new ValidationException('Marker is not a marker returned by listkeys');
  }
  return decoded.slice(2);
}
