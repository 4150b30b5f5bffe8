import { randomBytes } from 'node:crypto';
import {
  DEFAULT_CIPHERTEXT_FORMAT,
  DecryptionFailedError,
  decryptMessage,
  encryptMessage,
  parseCiphertext,
  type CiphertextFormat,
  type EncryptionContext,
  type ParsedCiphertext,
} from '../crypto/index.js';
import {
  IncorrectKeyException,
  invalidCiphertext,
  InvalidKeyUsageException,
  KMSInvalidMacException,
  KMSInvalidStateException,
  NotFoundException,
  ValidationException,
} from '../errors.js';
import { DATA_KEY_PAIR_SPECS, generateDataKeyPair, isRsaPairSpec, type DataKeyPairSpec } from '../crypto/data-key-pair.js';
import {
  computeMac,
  isMacAlgorithm,
  MAC_ALGORITHMS,
  macAlgorithmOf,
  macMatches,
  MAX_MAC_MESSAGE_BYTES,
  type MacAlgorithm,
  type MacKeySpec,
} from '../crypto/mac.js';
import type { PolicyResource } from '../auth/policy.js';
import type { AwsIdentity } from '../config.js';
import type { KeyMetadata } from '../protocol/types.js';
import type { RemoteKeyProviders } from '../providers/remote-keys/remote-key-provider.js';
import type { KeyRecord, Tag } from '../store/records.js';
import type { KeyStore, StoreChange } from '../store/store.js';
import { AliasOperations } from './aliases.js';
import { AsymmetricOperations } from './asymmetric-keys.js';
import { ImportOperations } from './imports.js';
import { createKey, ENVELOPE_ALGORITHM, holdsMaterial, kindOf, requireOperation, type KindContext } from './key-kinds/index.js';
import { toKeyMetadata } from './key-metadata.js';
import { KeyRegistry, pendingDeletion, pendingImport, SYSTEM, type Caller } from './key-registry.js';
import { decodeMarker, encodeMarker } from './markers.js';
import { RotationOperations } from './rotation.js';
import { TaskSlots } from './task-slots.js';
import { mergeTags, validateTags } from './tags.js';

export type { Caller } from './key-registry.js';

export const MAX_PLAINTEXT_BYTES = 4096;
const DAY_MS = 86_400_000;
const DATA_KEY_SPEC_BYTES = { AES_256: 32, AES_128: 16 } as const;

const NO_TAGS: ReadonlyMap<string, string> = new Map();
/** RSA data key pairs made at once: each holds a thread of libuv's pool (4) for up to seconds. */
const RSA_PAIR_SLOTS = 2;

export type DataKeySpec = keyof typeof DATA_KEY_SPEC_BYTES;

export interface KeyServiceOptions {
  store: KeyStore;
  rootKey: Buffer;
  /** Injectable clock, so tests need not wait. */
  clock?: () => Date;
  /** How many unwrapped version keys to keep in memory. */
  versionKeyCacheSize?: number;
  /** How many key records to keep in memory. */
  keyRecordCacheSize?: number;
  /** AWS KMS and Google Cloud KMS, for asymmetric keys whose private half lives there. */
  remoteProviders?: RemoteKeyProviders;
  /** The region and account whose ARNs name keys here (KEYHOLD_AWS_REGION, KEYHOLD_AWS_ACCOUNT_ID). */
  aws?: AwsIdentity;
  /** The format of the blobs this service makes (KEYHOLD_CIPHERTEXT_FORMAT); it reads every format. */
  ciphertextFormat?: CiphertextFormat;
}

/**
 * The operations of Keyhold: the only code that combines the store, the crypto and the
 * providers. Keys' records, versions and caches belong to the KeyRegistry; aliases and
 * rotation have their own files; this class is the one door the API uses.
 */
export class KeyService {
  private readonly registry: KeyRegistry;
  private readonly kinds: KindContext;
  readonly aliases: AliasOperations;
  readonly rotation: RotationOperations;
  readonly asymmetric: AsymmetricOperations;
  private readonly rsaPairSlots = new TaskSlots(RSA_PAIR_SLOTS);
  readonly imports: ImportOperations;
  private readonly ciphertextFormat: CiphertextFormat;

  constructor(options: KeyServiceOptions) {
    this.registry = new KeyRegistry(options);
    this.ciphertextFormat = options.ciphertextFormat ?? DEFAULT_CIPHERTEXT_FORMAT;
    this.kinds = { registry: this.registry, remoteProviders: options.remoteProviders };
    this.aliases = new AliasOperations(this.registry);
    this.rotation = new RotationOperations(this.registry);
    this.asymmetric = new AsymmetricOperations(this.kinds);
    this.imports = new ImportOperations(this.registry);
  }

  private get clock(): () => Date {
    return this.registry.clock;
  }

  private async metadata(record: KeyRecord): Promise<KeyMetadata> {
    return toKeyMetadata(record, [...(await this.registry.aliasesOf(record.keyId))]);
  }

  /* ---------------------------------------------------------------- key management */

  async createKey(
    request: { description?: string; keySpec?: string; keyUsage?: string; origin?: string; providerKeyId?: string; tags?: Tag[] },
    caller: Caller = SYSTEM,
  ): Promise<KeyMetadata> {
    return toKeyMetadata(await createKey(request, caller, this.kinds), []);
  }

  async describeKey(request: { keyId: string }): Promise<KeyMetadata> {
    return this.metadata(await this.registry.loadKey(await this.registry.resolveKeyId(request.keyId)));
  }

  async listKeys(request: { limit?: number; marker?: string }): Promise<{
    keys: KeyMetadata[];
    nextMarker?: string;
    truncated: boolean;
  }> {
    const limit = request.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationException('Limit must be an integer from 1 to 1000');
    const after = request.marker === undefined ? undefined : decodeKeyMarker(request.marker);
    // One extra record tells whether there is a next page without a second read.
    const records = await this.registry.store.listKeys(after, limit + 1);
    const page = records.slice(0, limit);
    const truncated = records.length > limit;
    const aliases = await this.registry.aliases();
    const result: { keys: KeyMetadata[]; nextMarker?: string; truncated: boolean } = {
      keys: page.map((record) => toKeyMetadata(record, [...aliases.namesOf(record.keyId)])),
      truncated,
    };
    if (truncated) result.nextMarker = encodeMarker('k', page[page.length - 1]!.keyId);
    return result;
  }

  enableKey(request: { keyId: string }, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(request.keyId, 'EnableKey', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      if (record.keyState === 'PendingImport') throw pendingImport(record.keyId);
      return { ...record, keyState: 'Enabled' };
    });
  }

  disableKey(request: { keyId: string }, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(request.keyId, 'DisableKey', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      if (record.keyState === 'PendingImport') throw pendingImport(record.keyId);
      return { ...record, keyState: 'Disabled' };
    });
  }

  async scheduleKeyDeletion(
    request: { keyId: string; pendingWindowInDays?: number },
    caller: Caller = SYSTEM,
  ): Promise<{ keyId: string; deletionDate: string; keyState: string; pendingWindowInDays: number }> {
    const pendingWindowInDays = request.pendingWindowInDays ?? 30;
    if (!Number.isInteger(pendingWindowInDays) || pendingWindowInDays < 7 || pendingWindowInDays > 30) {
      throw new ValidationException('PendingWindowInDays must be an integer from 7 to 30');
    }
    const metadata = await this.changeState(request.keyId, 'ScheduleKeyDeletion', caller, (record) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
      const deletionDate = new Date(this.clock().getTime() + pendingWindowInDays * DAY_MS).toISOString();
      return { ...record, keyState: 'PendingDeletion', deletionDate };
    });
    return { keyId: metadata.KeyId, deletionDate: metadata.DeletionDate!, keyState: metadata.KeyState, pendingWindowInDays };
  }

  cancelKeyDeletion(request: { keyId: string }, caller: Caller = SYSTEM): Promise<KeyMetadata> {
    return this.changeState(request.keyId, 'CancelKeyDeletion', caller, (record) => {
      if (record.keyState !== 'PendingDeletion') {
        throw new KMSInvalidStateException(`Key '${record.keyId}' is not pending deletion`);
      }
      const { deletionDate: _cancelled, ...rest } = record;
      // As in AWS KMS: Disabled, or PendingImport for a key whose imported material is gone.
      return { ...rest, keyState: holdsMaterial(record) ? 'Disabled' : 'PendingImport' };
    });
  }

  /* ---------------------------------------------------------------- tags */

  async tagResource(request: { keyId: string; tags: Tag[] }, caller: Caller = SYSTEM): Promise<void> {
    await this.changeTags(request.keyId, 'TagResource', caller, (existing) => mergeTags(existing, request.tags));
  }

  async untagResource(request: { keyId: string; tagKeys: string[] }, caller: Caller = SYSTEM): Promise<void> {
    const tagKeys = request.tagKeys;
    validateTags(tagKeys.map((TagKey) => ({ TagKey, TagValue: '' })));
    await this.changeTags(request.keyId, 'UntagResource', caller, (existing) => existing.filter((tag) => !tagKeys.includes(tag.TagKey)));
  }

  /** UpdateKeyDescription: the description only (AWS refuses it for a key pending deletion too). */
  async updateKeyDescription(request: { keyId: string; description: string }, caller: Caller = SYSTEM): Promise<void> {
    const keyId = await this.registry.resolveKeyId(request.keyId);
    const description = request.description;
    await this.registry.update(keyId, (record, batch) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(keyId);
      batch.auditChange(caller, { action: 'UpdateKeyDescription', keyId }, this.clock());
      return { ...record, description };
    });
  }

  async listResourceTags(request: { keyId: string; limit?: number; marker?: string }) {
    const record = await this.registry.loadKey(await this.registry.resolveKeyId(request.keyId));
    const limit = request.limit ?? 50;
    const after = request.marker === undefined ? 0 : Number(decodeMarker(request.marker, 't', 'listresourcetags'));
    if (!Number.isInteger(after) || after < 0) throw new ValidationException('Marker is not a marker returned by listresourcetags');
    const sorted = [...record.tags].sort((a, b) => (a.TagKey < b.TagKey ? -1 : a.TagKey > b.TagKey ? 1 : 0));
    const page = sorted.slice(after, after + limit);
    const truncated = after + limit < sorted.length;
    return { tags: page, truncated, ...(truncated ? { nextMarker: encodeMarker('t', String(after + limit)) } : {}) };
  }

  private async changeTags(keyIdInput: string, action: string, caller: Caller, change: (tags: Tag[]) => Tag[]) {
    const keyId = await this.registry.resolveKeyId(keyIdInput);
    await this.registry.update(keyId, (record, batch) => {
      if (record.keyState === 'PendingDeletion') throw pendingDeletion(keyId);
      batch.auditChange(caller, { action, keyId }, this.clock());
      return { ...record, tags: change(record.tags) };
    });
  }

  /* ---------------------------------------------------------------- cryptographic operations */

  async encrypt(request: {
    keyId: string;
    plaintext: Buffer;
    encryptionContext?: EncryptionContext;
    encryptionAlgorithm?: string;
  }): Promise<{ ciphertextBlob: Buffer; keyId: string; encryptionAlgorithm: string }> {
    /* Precondition: plaintext is 1..4096 bytes. */
    if (request.plaintext.length < 1 || request.plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw new ValidationException(`Plaintext must be 1 to ${MAX_PLAINTEXT_BYTES} bytes`);
    }
    const record = await this.registry.usableKeyWithVersion(await this.registry.resolveKeyId(request.keyId));
    if (kindOf(record).supports('asymmetric-encrypt')) {
      refuseContext(request.encryptionContext);
      return this.asymmetric.encrypt(record, request.plaintext, request.encryptionAlgorithm);
    }
    requireEnvelopeAlgorithm(record, request.encryptionAlgorithm);
    return {
      ciphertextBlob: await this.seal(record, request.plaintext, request.encryptionContext),
      keyId: record.keyId,
      encryptionAlgorithm: ENVELOPE_ALGORITHM,
    };
  }

  /**
   * Symmetric blobs name their key; RSA ciphertexts do not, so decrypting one needs the
   * KeyId and the EncryptionAlgorithm, as in AWS KMS.
   */
  async decrypt(request: {
    ciphertextBlob: Buffer;
    encryptionContext?: EncryptionContext;
    keyId?: string;
    encryptionAlgorithm?: string;
  }): Promise<{ plaintext: Buffer; keyId: string; encryptionAlgorithm: string }> {
    if (request.encryptionAlgorithm !== undefined && request.encryptionAlgorithm !== ENVELOPE_ALGORITHM) {
      if (request.keyId === undefined) throw new ValidationException('KeyId is required to decrypt with an asymmetric EncryptionAlgorithm');
      refuseContext(request.encryptionContext);
      const record = await this.registry.usableKey(await this.registry.resolveKeyId(request.keyId));
      if (!kindOf(record).supports('asymmetric-encrypt')) {
        throw new InvalidKeyUsageException(`Key '${record.keyId}' is ${record.keySpec}; omit EncryptionAlgorithm or use ${ENVELOPE_ALGORITHM}`);
      }
      return this.asymmetric.decrypt(record, request.ciphertextBlob, request.encryptionAlgorithm);
    }
    if (request.keyId !== undefined && request.encryptionAlgorithm === undefined) {
      const record = await this.registry.loadKey(await this.registry.resolveKeyId(request.keyId));
      if (kindOf(record).supports('asymmetric-encrypt')) {
        if (record.keyUsage !== 'ENCRYPT_DECRYPT') {
          throw new InvalidKeyUsageException(`Decrypt needs an ENCRYPT_DECRYPT key; '${record.keyId}' is ${record.keyUsage}`);
        }
        throw new ValidationException(`EncryptionAlgorithm is required for the asymmetric key '${record.keyId}'`);
      }
      requireOperation(record, 'envelope', 'Decrypt');
    }
    const result = await this.open(request.ciphertextBlob, request.encryptionContext, request.keyId);
    return { ...result, encryptionAlgorithm: ENVELOPE_ALGORITHM };
  }

  /** Moves a blob to the newest version of the destination key (which may be its own key). */
  async reEncrypt(request: {
    ciphertextBlob: Buffer;
    sourceEncryptionContext?: EncryptionContext;
    sourceKeyId?: string;
    destinationKeyId: string;
    destinationEncryptionContext?: EncryptionContext;
  }): Promise<{ ciphertextBlob: Buffer; keyId: string; sourceKeyId: string }> {
    const destinationKeyId = await this.registry.resolveKeyId(request.destinationKeyId);
    requireOperation(await this.registry.usableKeyWithVersion(destinationKeyId), 'envelope', 'ReEncrypt');
    const source = await this.open(request.ciphertextBlob, request.sourceEncryptionContext, request.sourceKeyId);
    try {
      // Looked up again: opening the source may have waited on the store, and the destination
      // may have been disabled or rotated meanwhile.
      const destination = await this.registry.usableKeyWithVersion(destinationKeyId);
      requireOperation(destination, 'envelope', 'ReEncrypt');
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
    const record = await this.registry.usableKeyWithVersion(await this.registry.resolveKeyId(request.keyId));
    const plaintext = randomBytes(length);
    const ciphertextBlob = await this.seal(record, plaintext, request.encryptionContext);
    return { plaintext, ciphertextBlob, keyId: record.keyId };
  }

  /**
   * GenerateDataKeyPair: a fresh pair, its private key (PKCS#8 DER) sealed under `keyId` as
   * encrypt would seal it, so that decrypt gives it back. The key is checked before the pair is
   * made (an RSA 4096 pair costs about a second of CPU) and looked up again after, as reEncrypt
   * does: it may have been disabled or rotated meanwhile. RSA pairs are made two at a time, so
   * that the store's work on libuv's pool does not wait behind them.
   */
  async generateDataKeyPair(request: {
    keyId: string;
    keyPairSpec: DataKeyPairSpec;
    encryptionContext?: EncryptionContext;
  }): Promise<{ privateKeyPlaintext: Buffer; privateKeyCiphertextBlob: Buffer; publicKey: Buffer; keyId: string; keyPairSpec: DataKeyPairSpec }> {
    const spec = request.keyPairSpec;
    /* Precondition: a spec Keyhold makes. */
    if (!(DATA_KEY_PAIR_SPECS as readonly string[]).includes(spec)) throw new ValidationException(`KeyPairSpec must be one of ${DATA_KEY_PAIR_SPECS.join(', ')}`);
    const keyId = await this.registry.resolveKeyId(request.keyId);
    requireOperation(await this.registry.usableKeyWithVersion(keyId), 'envelope', 'GenerateDataKeyPair');
    const pair = isRsaPairSpec(spec) ? await this.rsaPairSlots.run(() => generateDataKeyPair(spec)) : await generateDataKeyPair(spec);
    try {
      const record = await this.registry.usableKeyWithVersion(keyId);
      const privateKeyCiphertextBlob = await this.seal(record, pair.privateKey, request.encryptionContext);
      return { privateKeyPlaintext: pair.privateKey, privateKeyCiphertextBlob, publicKey: pair.publicKey, keyId, keyPairSpec: spec };
    } catch (error) {
      pair.privateKey.fill(0);
      throw error;
    }
  }

  /** GenerateMac: the HMAC of a message (1..4096 bytes) under an HMAC key, with its spec's algorithm. */
  async generateMac(request: { keyId: string; message: Buffer; macAlgorithm: string }): Promise<{ mac: Buffer; keyId: string; macAlgorithm: MacAlgorithm }> {
    const { record, spec, macAlgorithm } = await this.macKeyFor(request, 'GenerateMac');
    const mac = computeMac(spec, await this.registry.macKey(record), request.message);
    return { mac, keyId: record.keyId, macAlgorithm };
  }

  /** VerifyMac: KMSInvalidMacException unless `mac` is the key's HMAC of the message (compared in constant time). */
  async verifyMac(request: { keyId: string; message: Buffer; mac: Buffer; macAlgorithm: string }): Promise<{ keyId: string; macAlgorithm: MacAlgorithm }> {
    const { record, spec, macAlgorithm } = await this.macKeyFor(request, 'VerifyMac');
    if (!macMatches(spec, await this.registry.macKey(record), request.message, request.mac)) {
      throw new KMSInvalidMacException('The MAC is not valid for this message, key and algorithm');
    }
    return { keyId: record.keyId, macAlgorithm };
  }

  generateRandom(request: { numberOfBytes: number }): Buffer {
    const numberOfBytes = request.numberOfBytes;
    if (!Number.isInteger(numberOfBytes) || numberOfBytes < 1 || numberOfBytes > 1024) {
      throw new ValidationException('NumberOfBytes must be an integer from 1 to 1024');
    }
    return randomBytes(numberOfBytes);
  }

  /* ---------------------------------------------------------------- authorization */

  /**
   * What a policy sees of the key a request names (src/api/authorize.ts): its id, aliases and
   * tags. A key or alias that does not exist is no error here (a denial must not say whether
   * it exists): it has no aliases or tags, and an id only when it was named by one.
   */
  async policyResource(keyIdInput: string): Promise<PolicyResource & { found: boolean }> {
    let keyId: string;
    try {
      keyId = await this.registry.resolveKeyId(keyIdInput);
    } catch (error) {
      if (error instanceof NotFoundException) return { aliases: [], tags: NO_TAGS, found: false };
      throw error;
    }
    let record: KeyRecord;
    try {
      record = await this.registry.loadKey(keyId);
    } catch (error) {
      if (error instanceof NotFoundException) return { keyId, aliases: [], tags: NO_TAGS, found: false };
      throw error;
    }
    const tags = record.tags.length === 0 ? NO_TAGS : new Map(record.tags.map((tag) => [tag.TagKey, tag.TagValue]));
    return { keyId, aliases: await this.registry.aliasesOf(keyId), tags, found: true };
  }

  /** policyResource of the key a symmetric ciphertext blob names; undefined for a blob that names none. */
  async policyResourceOfBlob(blob: Buffer): Promise<(PolicyResource & { found: boolean }) | undefined> {
    let keyId: string;
    try {
      keyId = parseCiphertext(blob).keyId;
    } catch {
      return undefined;
    }
    return this.policyResource(keyId);
  }

  /* ---------------------------------------------------------------- scheduled work */

  /**
   * Rotates the keys whose rotation date has come, deletes for good the keys whose deletion
   * date has passed and deletes imported material whose ValidTo has come (with the wrapping
   * keys of imports whose 24 hours are over), found through the schedule index (no scan of all keys).
   * The server runs this at start and on a timer; tests call it with an injected clock.
   */
  async runScheduledWork(now: Date = this.clock()): Promise<{
    rotated: string[];
    deleted: string[];
    expired: string[];
    failed: { keyId: string; error: unknown }[];
  }> {
    const rotated: string[] = [];
    const deleted: string[] = [];
    const expired: string[] = [];
    const failed: { keyId: string; error: unknown }[] = [];
    const BATCH = 500;
    for (;;) {
      const due = await this.registry.store.dueWork(now, BATCH);
      let progressed = false;
      for (const { work, keyId } of due) {
        // One key's failure is reported and skipped; it must not hold up the others.
        try {
          if (work === 'delete') {
            if (await this.deleteIfDue(keyId, now)) {
              deleted.push(keyId);
              progressed = true;
            }
          } else if (work === 'expire') {
            if (await this.imports.expireIfDue(keyId, now)) expired.push(keyId);
            // Its entry is gone either way (material or wrapping key dropped).
            progressed = true;
          } else if (work === 'rotate' && (await this.rotation.rotateIfDue(keyId, now))) {
            rotated.push(keyId);
            progressed = true;
          }
        } catch (error) {
          failed.push({ keyId, error });
        }
      }
      if (due.length < BATCH || !progressed) break;
    }
    // Deleted entries (keys, expired material) stay in LevelDB's files until compaction: compact so they are gone.
    if (deleted.length > 0 || expired.length > 0) await this.registry.store.compact();
    return { rotated, deleted, expired, failed };
  }

  /**
   * Deletes a key for good if it is still pending deletion and its date has come (checked
   * under the key's lock, so a cancellation that won the race is honoured). The caller
   * compacts the store afterwards.
   */
  deleteIfDue(keyId: string, now: Date = this.clock()): Promise<boolean> {
    return this.registry.deleteIfDue(keyId, now, (batch) => batch.auditChange(SYSTEM, { action: 'DeleteKey', keyId }, now));
  }

  /** Drops what is cached of keys and aliases that another process changed (src/cluster). */
  forgetCached(change: StoreChange): void {
    this.registry.forget(change);
  }

  /** Drops every cached record and unwrapped key (zeroing the keys). */
  clearCaches(): void {
    this.registry.clearCaches();
  }

  /* ---------------------------------------------------------------- internals */

  private async seal(record: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined): Promise<Buffer> {
    requireOperation(record, 'envelope', 'This operation');
    return this.registry.withVersionKey(record, record.currentVersion, (versionKey, derivationKey) =>
      encryptMessage({ versionKey, derivationKey, keyId: record.keyId, version: record.currentVersion, plaintext, context, format: this.ciphertextFormat }),
    );
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
    if (expectedKeyIdInput !== undefined && (await this.registry.resolveKeyId(expectedKeyIdInput)) !== parsed.keyId) {
      throw new IncorrectKeyException('The ciphertext was not encrypted under the KeyId given in the request');
    }
    const record = await this.registry.usableKeyWithVersion(parsed.keyId, parsed.version);
    // A symmetric blob naming a key that does no envelope encryption was not made by Keyhold.
    if (!kindOf(record).supports('envelope') || parsed.version > record.currentVersion) throw invalidCiphertext();
    try {
      const plaintext = await this.registry.withVersionKey(record, parsed.version, (versionKey, derivationKey) =>
        decryptMessage(parsed, versionKey, context, derivationKey),
      );
      return { plaintext, keyId: record.keyId };
    } catch (error) {
      if (error instanceof DecryptionFailedError) throw invalidCiphertext();
      throw error;
    }
  }

  /**
   * The usable HMAC key a GenerateMac or VerifyMac request names, checked in AWS KMS's order:
   * the message and the algorithm's name (ValidationException), the key's state, that it is an
   * HMAC key and that the algorithm is its spec's (InvalidKeyUsageException).
   */
  private async macKeyFor(
    request: { keyId: string; message: Buffer; macAlgorithm: string },
    action: string,
  ): Promise<{ record: KeyRecord; spec: MacKeySpec; macAlgorithm: MacAlgorithm }> {
    if (request.message.length < 1 || request.message.length > MAX_MAC_MESSAGE_BYTES) {
      throw new ValidationException(`Message must be 1 to ${MAX_MAC_MESSAGE_BYTES} bytes`);
    }
    const macAlgorithm = request.macAlgorithm;
    if (!isMacAlgorithm(macAlgorithm)) {
      throw new ValidationException(`MacAlgorithm '${macAlgorithm.slice(0, 64)}' is not supported; use ${MAC_ALGORITHMS.join(', ')}`);
    }
    const record = await this.registry.usableKey(await this.registry.resolveKeyId(request.keyId));
    requireOperation(record, 'mac', action);
    const spec = record.keySpec as MacKeySpec;
    if (macAlgorithmOf(spec) !== macAlgorithm) {
      throw new InvalidKeyUsageException(`Key '${record.keyId}' is ${spec}; its MacAlgorithm is ${macAlgorithmOf(spec)}, not ${macAlgorithm}`);
    }
    return { record, spec, macAlgorithm };
  }

  /** A state change with its audit line (nothing is written when the state is unchanged). */
  private async changeState(
    keyIdInput: string,
    action: string,
    caller: Caller,
    change: (record: KeyRecord) => KeyRecord,
  ): Promise<KeyMetadata> {
    const keyId = await this.registry.resolveKeyId(keyIdInput);
    const record = await this.registry.update(keyId, (before, batch) => {
      const after = change(before);
      if (after.keyState === before.keyState && after.deletionDate === before.deletionDate) return before;
      batch.auditChange(caller, { action, keyId, detail: { State: `${before.keyState} -> ${after.keyState}` } }, this.clock());
      return after;
    });
    return this.metadata(record);
  }
}

/** Envelope encryption takes only its own EncryptionAlgorithm (or none). */
function requireEnvelopeAlgorithm(record: KeyRecord, algorithm: string | undefined): void {
  if (algorithm !== undefined && algorithm !== ENVELOPE_ALGORITHM) {
    throw new InvalidKeyUsageException(`EncryptionAlgorithm '${algorithm.slice(0, 64)}' is not valid for a ${record.keySpec} key`);
  }
}

/** Encryption context is a symmetric-key feature, as in AWS KMS. */
function refuseContext(context: EncryptionContext | undefined): void {
  if (context !== undefined && Object.keys(context).length > 0) {
    throw new ValidationException('EncryptionContext is not supported with asymmetric keys');
  }
}

function decodeKeyMarker(marker: string): string {
  const keyId = decodeMarker(marker, 'k', 'listkeys');
  if (!/^[0-9a-f-]{36}$/.test(keyId)) throw new ValidationException('Marker is not a marker returned by listkeys');
  return keyId;
}
