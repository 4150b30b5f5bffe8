import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  DecryptionFailedError,
  newWrappingKeyPair,
  unwrapImportedMaterial,
  WRAPPING_ALGORITHMS,
  WRAPPING_KEY_SPECS,
  type WrappingAlgorithm,
  type WrappingKeySpec,
} from '../crypto/index.js';
import {
  ExpiredImportTokenException,
  IncorrectKeyMaterialException,
  InvalidCiphertextException,
  InvalidImportTokenException,
  KMSInvalidStateException,
  UnsupportedOperationException,
  ValidationException,
} from '../errors.js';
import type { ImportedMaterial, KeyRecord } from '../store/records.js';
import type { StoreBatch } from '../store/store.js';
import { holdsMaterial, kindOf, type KeyKind } from './key-kinds/index.js';
import { pendingDeletion, SYSTEM, type Caller, type KeyRegistry } from './key-registry.js';

const DAY_MS = 86_400_000;
/** How long a wrapping key and its import token may be used, as in AWS KMS. */
const PARAMETERS_VALID_MS = DAY_MS;
/** ValidTo may be at most this far ahead, as in AWS KMS. */
const MAX_VALID_TO_MS = 365 * DAY_MS;
const IMPORT_TOKEN_BYTES = 32;

export type ExpirationModel = ImportedMaterial['expirationModel'];
export type ImportType = 'NEW_KEY_MATERIAL' | 'EXISTING_KEY_MATERIAL';

export interface ImportParametersResult {
  keyId: string;
  importToken: Buffer;
  /** DER SubjectPublicKeyInfo of the wrapping key. */
  publicKey: Buffer;
  parametersValidTo: string;
}

export interface ImportKeyMaterialRequest {
  keyId: string;
  importToken: Buffer;
  encryptedKeyMaterial: Buffer;
  /** Default KEY_MATERIAL_EXPIRES, as in AWS KMS (then ValidTo is required). */
  expirationModel?: ExpirationModel;
  /** RFC 3339. */
  validTo?: string;
  importType?: ImportType;
  /** Hex; when given, the material must be the one it names. */
  keyMaterialId?: string;
}

/**
 * Bring your own key material (Origin EXTERNAL): the wrapping keys of GetParametersForImport,
 * ImportKeyMaterial, DeleteImportedKeyMaterial and expiry. The material becomes the key's
 * version 1, wrapped under the root key like material made here for its kind (a symmetric
 * key's version key, an HMAC key's secret); its keyed fingerprint stays
 * in the key record so that a reimport must bring the same material.
 */
export class ImportOperations {
  constructor(private readonly registry: KeyRegistry) {}

  async getParametersForImport(
    request: { keyId: string; wrappingAlgorithm: string; wrappingKeySpec: string },
    caller: Caller = SYSTEM,
  ): Promise<ImportParametersResult> {
    const algorithm = oneOf(request.wrappingAlgorithm, WRAPPING_ALGORITHMS, 'WrappingAlgorithm');
    const spec = oneOf(request.wrappingKeySpec, Object.keys(WRAPPING_KEY_SPECS) as WrappingKeySpec[], 'WrappingKeySpec');
    const keyId = await this.registry.resolveKeyId(request.keyId);
    // Checked before the key pair is made (seconds of CPU for RSA-4096), and again under the lock.
    requireParametersState(await this.registry.loadKey(keyId));
    const { publicKey, privateKey } = await newWrappingKeyPair(spec);
    const token = randomBytes(IMPORT_TOKEN_BYTES);
    const wrappedPrivateKey = this.registry.wrapWrappingKey(keyId, token, privateKey);
    const now = this.registry.clock();
    const parametersValidTo = new Date(now.getTime() + PARAMETERS_VALID_MS).toISOString();
    await this.registry.update(keyId, (record, batch) => {
      requireParametersState(record);
      batch.auditChange(caller, { action: 'GetParametersForImport', keyId, detail: { WrappingAlgorithm: algorithm, WrappingKeySpec: spec } }, now);
      // One set per key: these replace any earlier ones, whose token is refused from now on.
      const importParameters = {
        token: token.toString('base64'),
        wrappingAlgorithm: algorithm,
        wrappingKeySpec: spec,
        validTo: parametersValidTo,
        wrappedPrivateKey: wrappedPrivateKey.toString('base64'),
      };
      return { ...record, importParameters };
    });
    return { keyId, importToken: token, publicKey: publicKey.export({ format: 'der', type: 'spki' }), parametersValidTo };
  }

  async importKeyMaterial(request: ImportKeyMaterialRequest, caller: Caller = SYSTEM): Promise<{ keyId: string; keyMaterialId: string }> {
    const keyId = await this.registry.resolveKeyId(request.keyId);
    const expiry = this.expiry(request.expirationModel, request.validTo);
    let fingerprint = '';
    await this.registry.update(keyId, (record, batch) => {
      const kind = requireImporting(record);
      if (record.keyState !== 'PendingImport' && record.keyState !== 'Enabled') {
        throw new KMSInvalidStateException(`Key '${keyId}' is ${record.keyState}; ImportKeyMaterial needs a key that is PendingImport or Enabled`);
      }
      const material = this.openMaterial(record, request);
      try {
        fingerprint = this.checkMaterial(record, kind, material, request);
        batch.putVersion(keyId, 1, this.registry.wrapImportedMaterial(keyId, kind.material, material));
      } finally {
        material.fill(0);
      }
      const now = this.registry.clock();
      batch.auditChange(caller, { action: 'ImportKeyMaterial', keyId, detail: { ExpirationModel: expiry.expirationModel, ...(expiry.validTo ? { ValidTo: expiry.validTo } : {}) } }, now);
      const { importParameters: _used, ...rest } = record;
      const importedMaterial: ImportedMaterial = { fingerprint, ...expiry };
      return { ...rest, keyState: 'Enabled', importedMaterial };
    });
    return { keyId, keyMaterialId: keyMaterialIdOf(fingerprint) };
  }

  async deleteImportedKeyMaterial(request: { keyId: string }, caller: Caller = SYSTEM): Promise<{ keyId: string; keyMaterialId?: string }> {
    const keyId = await this.registry.resolveKeyId(request.keyId);
    const after = await this.registry.update(keyId, (record, batch) => {
      requireImporting(record);
      // Nothing to delete: the key is already waiting for its material.
      if (!holdsMaterial(record)) return record;
      return this.dropMaterial(record, batch, caller, 'DeleteImportedKeyMaterial');
    });
    const fingerprint = after.importedMaterial?.fingerprint;
    return { keyId, ...(fingerprint ? { keyMaterialId: keyMaterialIdOf(fingerprint) } : {}) };
  }

  /**
   * For the scheduler: deletes imported material whose ValidTo has come (the key goes back to
   * PendingImport), and drops a wrapping private key whose 24 hours are over (its token is then
   * answered ExpiredImportTokenException). Whether material expired.
   */
  async expireIfDue(keyId: string, now: Date): Promise<boolean> {
    let expired = false;
    await this.registry.update(keyId, (record, batch) => {
      let after = record;
      const parameters = record.importParameters;
      if (parameters?.wrappedPrivateKey && Date.parse(parameters.validTo) <= now.getTime()) {
        const { wrappedPrivateKey: _dropped, ...kept } = parameters;
        after = { ...after, importParameters: kept };
      }
      const validTo = record.importedMaterial?.validTo;
      if (validTo && holdsMaterial(record) && Date.parse(validTo) <= now.getTime()) {
        after = this.dropMaterial(after, batch, SYSTEM, 'DeleteExpiredKeyMaterial', now);
        expired = true;
      }
      return after;
    });
    return expired;
  }

  /** The key without its material: version 1 deleted, PendingImport (a key pending deletion stays so). */
  private dropMaterial(record: KeyRecord, batch: StoreBatch, caller: Caller, action: string, now = this.registry.clock()): KeyRecord {
    for (let version = 1; version <= record.currentVersion; version++) batch.deleteVersion(record.keyId, version);
    batch.auditChange(caller, { action, keyId: record.keyId }, now);
    const keyState = record.keyState === 'PendingDeletion' ? 'PendingDeletion' : 'PendingImport';
    return { ...record, keyState, importedMaterial: { ...record.importedMaterial!, deleted: true } };
  }

  /** The plaintext material of the request, unwrapped with the key's current, unexpired wrapping key. */
  private openMaterial(record: KeyRecord, request: ImportKeyMaterialRequest): Buffer {
    const parameters = record.importParameters;
    const stored = parameters ? Buffer.from(parameters.token, 'base64') : undefined;
    if (!parameters || !stored || stored.length !== request.importToken.length || !timingSafeEqual(stored, request.importToken)) {
      throw new InvalidImportTokenException(`The ImportToken is not the newest unused one of key '${record.keyId}'; call GetParametersForImport`);
    }
    if (!parameters.wrappedPrivateKey || Date.parse(parameters.validTo) <= this.registry.clock().getTime()) {
      throw new ExpiredImportTokenException(`The ImportToken of key '${record.keyId}' expired at ${parameters.validTo}; call GetParametersForImport`);
    }
    const privateKey = this.registry.unwrapWrappingKey(record.keyId, stored, Buffer.from(parameters.wrappedPrivateKey, 'base64'));
    try {
      return unwrapImportedMaterial(privateKey, parameters.wrappingAlgorithm as WrappingAlgorithm, request.encryptedKeyMaterial);
    } catch (error) {
      if (error instanceof DecryptionFailedError) {
        throw new InvalidCiphertextException(`EncryptedKeyMaterial does not decrypt with the wrapping key and ${parameters.wrappingAlgorithm}`);
      }
      throw error;
    }
  }

  /** The material's fingerprint, once it is of the right length and, for a reimport, the same material. */
  private checkMaterial(record: KeyRecord, kind: KeyKind, material: Buffer, request: ImportKeyMaterialRequest): string {
    const { min, max } = kind.importedMaterialLength!(record.keySpec);
    if (material.length < min || material.length > max) {
      throw new IncorrectKeyMaterialException(`Key material for a ${record.keySpec} key must be ${min === max ? min : `${min} to ${max}`} bytes`);
    }
    const previous = record.importedMaterial;
    const importType = request.importType ?? (previous ? 'EXISTING_KEY_MATERIAL' : 'NEW_KEY_MATERIAL');
    if (previous && !this.registry.materialMatches(record.keyId, material, previous.fingerprint)) {
      if (importType === 'NEW_KEY_MATERIAL') throw new UnsupportedOperationException('Keyhold keeps one imported key material per key: import the same material again');
      throw new IncorrectKeyMaterialException(`The key material is not the material imported into key '${record.keyId}' before`);
    }
    if (previous && importType === 'NEW_KEY_MATERIAL') throw new IncorrectKeyMaterialException(`The key material is already the material of key '${record.keyId}'`);
    if (!previous && importType === 'EXISTING_KEY_MATERIAL') throw new IncorrectKeyMaterialException(`No key material was imported into key '${record.keyId}' before`);
    const fingerprint = previous?.fingerprint ?? this.registry.materialFingerprint(record.keyId, material);
    if (request.keyMaterialId !== undefined && request.keyMaterialId.toLowerCase() !== keyMaterialIdOf(fingerprint)) {
      throw new IncorrectKeyMaterialException('The key material is not the one KeyMaterialId names');
    }
    return fingerprint;
  }

  /** ExpirationModel and ValidTo as AWS KMS takes them: ValidTo with KEY_MATERIAL_EXPIRES only, in the next 365 days. */
  private expiry(model: ExpirationModel | undefined, validTo: string | undefined): Pick<ImportedMaterial, 'expirationModel' | 'validTo'> {
    const expirationModel = model ?? 'KEY_MATERIAL_EXPIRES';
    if (expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
      if (validTo !== undefined) throw new ValidationException('ValidTo is not valid with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE');
      return { expirationModel };
    }
    if (validTo === undefined) throw new ValidationException('ValidTo is required with ExpirationModel KEY_MATERIAL_EXPIRES');
    const ms = Date.parse(validTo);
    const now = this.registry.clock().getTime();
    if (Number.isNaN(ms) || ms <= now || ms > now + MAX_VALID_TO_MS) {
      throw new ValidationException('ValidTo must be a date in the next 365 days');
    }
    return { expirationModel, validTo: new Date(ms).toISOString() };
  }
}

/**
 * AWS's KeyMaterialId, "based on the key and the material": the hex of the keyed fingerprint,
 * which says nothing of the material without the root key.
 */
function keyMaterialIdOf(fingerprint: string): string {
  return Buffer.from(fingerprint, 'base64').toString('hex');
}

/** The kind of a key whose material is imported, or UnsupportedOperationException. */
function requireImporting(record: KeyRecord): KeyKind {
  const kind = kindOf(record);
  if (!kind.importedMaterialLength) {
    throw new UnsupportedOperationException(`Key '${record.keyId}' has Origin ${record.origin}; only keys with Origin EXTERNAL take imported key material`);
  }
  return kind;
}

function requireParametersState(record: KeyRecord): void {
  requireImporting(record);
  if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
}

function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ValidationException(`${field} must be one of ${allowed.join(', ')}`);
  return value as T;
}
