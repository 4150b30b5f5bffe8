import { createPrivateKey } from 'node:crypto';
import { credentialSecretAad, macKeyAad, privateKeyAad, unwrapKey, versionKeyAad, wrappingKeyAad } from '../crypto/index.js';
import { macMaterialBytes, type MacKeySpec } from '../crypto/mac.js';
import type { AliasRecord, AuditRecord, CredentialRecord, KeyRecord, RotationRecord } from '../store/records.js';
import { decodeCheckedJson } from '../store/checked-json.js';
import { parseScheduleRecordKey } from '../store/store-batch.js';
import type { RawEntry } from '../store/store-scan.js';
import { isUuid } from './key-id.js';
import { SCHEDULED_WORK } from './key-registry.js';
import { findKind, holdsMaterial, kindOf, type MaterialLength } from './key-kinds/index.js';

/**
 * What each stored record must look like to be usable, checked on its raw bytes: the
 * shapes `keyhold admin verify-store` expects, and the unwrapping of stored material with the
 * same src/crypto functions and AADs the KeyService uses.
 */

const KEY_STATES = new Set(['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport']);

/** The entry's value as a JSON object, or undefined. */
export function parseObject(entry: RawEntry): Record<string, unknown> | undefined {
  try {
    const value: unknown = decodeCheckedJson(entry.value.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isVersion = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 1;

/** A key record stored under its own KeyId, of a kind known here, with the fields the service relies on. */
export function asKeyRecord(entry: RawEntry): KeyRecord | undefined {
  const value = parseObject(entry);
  if (!value || value.keyId !== entry.key || !isUuid(entry.key)) return undefined;
  if (!isString(value.keySpec) || !KEY_STATES.has(value.keyState as string) || !findKind(value as unknown as KeyRecord)) return undefined;
  return isVersion(value.currentVersion) ? (value as unknown as KeyRecord) : undefined;
}

export function asAliasRecord(entry: RawEntry): AliasRecord | undefined {
  const value = parseObject(entry);
  return value && value.aliasName === entry.key && isString(value.targetKeyId) ? (value as unknown as AliasRecord) : undefined;
}

export function asRotationRecord(entry: RawEntry, keyId: string, version: number): RotationRecord | undefined {
  const value = parseObject(entry);
  return value && value.keyId === keyId && value.version === version ? (value as unknown as RotationRecord) : undefined;
}

export function asCredentialRecord(entry: RawEntry): CredentialRecord | undefined {
  const value = parseObject(entry);
  return value && value.accessKeyId === entry.key && isString(value.wrappedSecret) ? (value as unknown as CredentialRecord) : undefined;
}

export function asAuditRecord(entry: RawEntry): AuditRecord | undefined {
  const value = parseObject(entry);
  // Chained records (src/audit), or the unchained lines of stores made before them.
  if (value && isChainedRecord(value)) return value as unknown as AuditRecord;
  return value && isString(value.time) && isString(value.action) ? (value as unknown as AuditRecord) : undefined;
}

/** The chained records of one stored audit entry (one, or the group of one store write), or undefined when it is not one. */
export function asAuditRecords(entry: RawEntry): AuditRecord[] | undefined {
  let value: unknown;
  try {
    value = decodeCheckedJson(entry.value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) {
    const single = asAuditRecord(entry);
    return single && [single];
  }
  return value.length > 0 && value.every((record) => typeof record === 'object' && record !== null && isChainedRecord(record)) ? (value as AuditRecord[]) : undefined;
}

function isChainedRecord(value: Record<string, unknown>): boolean {
  return isString(value.Time) && isString(value.Action) && typeof value.Seq === 'number' && isString(value.Mac);
}

/** A schedule entry's key as the scheduler reads it: a date, work it does (SCHEDULED_WORK) and a KeyId. */
export function parseScheduleEntry(key: string): { keyId: string } | undefined {
  const scheduled = parseScheduleRecordKey(key);
  return scheduled && (SCHEDULED_WORK as readonly string[]).includes(scheduled.work) ? { keyId: scheduled.keyId } : undefined;
}

/**
 * Which version records a key must have: a local symmetric key one per version, a local
 * asymmetric key its private key as version 1, an HMAC key its secret as version 1 (of its
 * spec's length, or of the lengths imported material may have), a key of another KMS or a key
 * waiting for its imported material none.
 */
export type KeyMaterial =
  | { kind: 'symmetric'; versions: number }
  | { kind: 'private'; versions: 1 }
  | { kind: 'mac'; versions: 1; bytes: MaterialLength }
  | { kind: 'none'; versions: 0 };

export function materialOf(record: KeyRecord): KeyMaterial {
  const kind = kindOf(record);
  // A key waiting for its imported material has none yet (or no more).
  if (!holdsMaterial(record)) return { kind: 'none', versions: 0 };
  switch (kind.material) {
    case 'versions':
      return { kind: 'symmetric', versions: record.currentVersion };
    case 'private-key':
      return { kind: 'private', versions: 1 };
    case 'mac-key': {
      const made = macMaterialBytes(record.keySpec as MacKeySpec);
      return { kind: 'mac', versions: 1, bytes: kind.importedMaterialLength?.(record.keySpec) ?? { min: made, max: made } };
    }
    case 'none':
      return { kind: 'none', versions: 0 };
  }
}

/**
 * Whether a version's wrapped bytes unwrap under the root key with the AAD of that key and
 * version (and, for a private key, parse as PKCS#8; an HMAC key's secret is of a length its key may have). Unwrapped bytes are zeroed at once.
 */
export function versionUnwraps(rootKey: Buffer, keyId: string, version: number, material: KeyMaterial, wrapped: Buffer): boolean {
  try {
    if (material.kind === 'symmetric') {
      unwrapKey(rootKey, wrapped, versionKeyAad(keyId, version)).fill(0);
      return true;
    }
    if (material.kind === 'mac') {
      const secret = unwrapKey(rootKey, wrapped, macKeyAad(keyId, version));
      secret.fill(0);
      return secret.length >= material.bytes.min && secret.length <= material.bytes.max;
    }
    return unwrapsToPrivateKey(rootKey, wrapped, privateKeyAad(keyId, version));
  } catch {
    return false;
  }
}

/** Whether a key's pending import wrapping key, if it has one, unwraps under the root key with its AAD and parses. */
export function wrappingKeyUnwraps(rootKey: Buffer, record: KeyRecord): boolean {
  const parameters = record.importParameters;
  if (!parameters?.wrappedPrivateKey) return true;
  try {
    return unwrapsToPrivateKey(rootKey, Buffer.from(parameters.wrappedPrivateKey, 'base64'), wrappingKeyAad(record.keyId, Buffer.from(parameters.token, 'base64')));
  } catch {
    // A KeyId the AAD cannot name: a damaged record.
    return false;
  }
}

/** Whether `wrapped` unwraps under the root key with `aad` into a PKCS#8 private key that parses (zeroed after). */
function unwrapsToPrivateKey(rootKey: Buffer, wrapped: Buffer, aad: string): boolean {
  try {
    const der = unwrapKey(rootKey, wrapped, aad);
    try {
      createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
    return true;
  } catch {
    return false;
  }
}

/** Whether a credential's wrapped secret unwraps under the root key with its AAD. */
export function credentialUnwraps(rootKey: Buffer, record: CredentialRecord): boolean {
  try {
    unwrapKey(rootKey, Buffer.from(record.wrappedSecret, 'base64'), credentialSecretAad(record.accessKeyId)).fill(0);
    return true;
  } catch {
    return false;
  }
}
