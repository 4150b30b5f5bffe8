import { randomUUID } from 'node:crypto';
import type { AsymmetricEncryptionAlgorithm, SigningAlgorithm } from '../../crypto/asymmetric-algorithms.js';
import type { KeyMetadata } from '../../protocol/types.js';
import type { RemoteKeyProviders } from '../../providers/remote-keys/remote-key-provider.js';
import type { KeyOrigin, KeyRecord, KeyState, KeyUsage, Tag } from '../../store/records.js';
import type { StoreBatch } from '../../store/store.js';
import { mergeTags } from '../tags.js';
import type { Caller, KeyRegistry } from '../key-registry.js';

export type MessageType = 'RAW' | 'DIGEST';

/**
 * What a key may be asked to do, by family of actions: `envelope` (Encrypt and Decrypt with
 * SYMMETRIC_DEFAULT, GenerateDataKey*, ReEncrypt), `public-key` (GetPublicKey), `sign` (Sign,
 * Verify), `asymmetric-encrypt` (Encrypt and Decrypt with RSAES-OAEP), `mac` (GenerateMac,
 * VerifyMac). The key's usage (SIGN_VERIFY or ENCRYPT_DECRYPT) is checked after its kind, by
 * the operation.
 */
export type KeyOperation = 'envelope' | 'public-key' | 'sign' | 'asymmetric-encrypt' | 'mac';

/**
 * What of a key's material the store holds as its versions: one wrapped AES key per version
 * (`versions`), the wrapped private key as version 1 (`private-key`), an HMAC key's wrapped
 * secret as version 1 (`mac-key`), or nothing, the key living in another KMS (`none`).
 */
export type KeyMaterialKind = 'versions' | 'private-key' | 'mac-key' | 'none';

/** A CreateKey request once its Origin is known. */
export interface CreateKeyRequest {
  description?: string;
  keySpec?: string;
  keyUsage?: string;
  origin: KeyOrigin;
  providerKeyId?: string;
  tags?: Tag[];
}

/** The lengths imported material may have, in bytes (AWS KMS takes HMAC material of a range of lengths). */
export interface MaterialLength {
  min: number;
  max: number;
}

/** What a kind's code may use: the registry of key records and material, the remote KMSs. */
export interface KindContext {
  registry: KeyRegistry;
  remoteProviders: RemoteKeyProviders | undefined;
}

/** The kind-specific part of KeyMetadata: the algorithm lists it has (EncryptionAlgorithms, SigningAlgorithms, MacAlgorithms), and imported material's expiry. */
export type KindMetadata = Partial<Pick<KeyMetadata, 'EncryptionAlgorithms' | 'SigningAlgorithms' | 'MacAlgorithms' | 'ExpirationModel' | 'ValidTo'>>;

/** Where a key's private half is, there it signs and decrypts: here (unwrapped) or in another KMS. */
export interface PrivateHalf {
  sign(record: KeyRecord, algorithm: SigningAlgorithm, message: Buffer, messageType: MessageType, context: KindContext): Promise<Buffer>;
  /** The plaintext, or invalidCiphertext() when the ciphertext does not decrypt. */
  decrypt(record: KeyRecord, algorithm: AsymmetricEncryptionAlgorithm, ciphertext: Buffer, context: KindContext): Promise<Buffer>;
}

/**
 * A kind of key (symmetric, asymmetric local, asymmetric remote, …): what keys of that kind
 * are, how they are made, and what they can do. The service asks a key's kind (kindOf in
 * index.ts) instead of comparing KeySpec or Origin strings, so a new kind is one new file
 * registered in index.ts.
 */
export interface KeyKind {
  readonly name: string;
  /** The Origins and KeySpecs of the records this kind owns. */
  readonly origins: readonly KeyOrigin[];
  readonly keySpecs: readonly string[];
  readonly keyUsages: readonly KeyUsage[];
  /** Whether CreateKey with this Origin and KeySpec (absent: not given) makes a key of this kind. */
  accepts(request: { origin: KeyOrigin; keySpec?: string }): boolean;
  supports(operation: KeyOperation): boolean;
  readonly material: KeyMaterialKind;
  /**
   * Whether keys of this kind rotate, and when not, the UnsupportedOperationException's message;
   * `answersStatus`: GetKeyRotationStatus and ListKeyRotations still answer (not rotating, none),
   * as AWS KMS answers them for a symmetric key with imported material.
   */
  readonly rotation: { rotates: true } | { rotates: false; refusal(record: KeyRecord): string; answersStatus?: true };
  metadata(record: KeyRecord): KindMetadata;
  /** Makes, stores (with its CreateKey audit line) and returns a new key of this kind. */
  create(request: CreateKeyRequest, caller: Caller, context: KindContext): Promise<KeyRecord>;
  /** Kinds with a private key (sign, asymmetric decrypt). */
  readonly privateHalf?: PrivateHalf;
  /** Kinds whose material is imported (Origin EXTERNAL): the lengths in bytes it may have for a KeySpec. */
  readonly importedMaterialLength?: (keySpec: string) => MaterialLength;
}

/** supports() of a kind that can do `operations`. */
export function supporting(...operations: KeyOperation[]): (operation: KeyOperation) => boolean {
  const set = new Set(operations);
  return (operation) => set.has(operation);
}

/**
 * A new key's fields that every kind fills the same way (a fresh KeyId, the description and
 * tags asked for, the creation date, version 1), and the batch that writes it with its
 * CreateKey audit line (`detail` in it). The kind adds its KeySpec, usage and whatever else.
 */
export function newKey(
  request: CreateKeyRequest,
  caller: Caller,
  { registry }: KindContext,
  options: { keyState?: KeyState; detail?: Record<string, string | number | boolean> } = {},
): { base: Omit<KeyRecord, 'keySpec' | 'keyUsage'>; batch: StoreBatch } {
  const tags = mergeTags([], request.tags ?? []);
  const keyId = randomUUID();
  const now = registry.clock();
  const base = {
    keyId,
    description: request.description ?? '',
    keyState: options.keyState ?? 'Enabled',
    origin: request.origin,
    creationDate: now.toISOString(),
    tags,
    currentVersion: 1,
  };
  const batch = registry.store.batch().auditChange(caller, { action: 'CreateKey', keyId, ...(options.detail ? { detail: options.detail } : {}) }, now);
  return { base, batch };
}
