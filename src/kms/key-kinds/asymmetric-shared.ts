import { randomUUID } from 'node:crypto';
import type { StoreBatch } from '../../store/store.js';
import type { KeyRecord, KeyUsage } from '../../store/records.js';
import type { Caller } from '../key-registry.js';
import { mergeTags } from '../tags.js';
import { supporting, type CreateKeyRequest, type KeyKind, type KindContext } from './key-kind.js';

/** What the two asymmetric kinds (local and remote) have in common. */

export const ASYMMETRIC_USAGES: readonly KeyUsage[] = ['SIGN_VERIFY', 'ENCRYPT_DECRYPT'];

export const asymmetricOperations = supporting('public-key', 'sign', 'asymmetric-encrypt');

/** Only symmetric keys rotate, as in AWS KMS. */
export const NO_ROTATION: KeyKind['rotation'] = {
  rotates: false,
  refusal: (record) => `Key '${record.keyId}' is asymmetric; only symmetric keys rotate`,
};

/** The algorithms an asymmetric key offers are in its record (chosen at creation, or by the other KMS). */
export const asymmetricMetadata: KeyKind['metadata'] = (record) => ({
  EncryptionAlgorithms: [...(record.encryptionAlgorithms ?? [])],
  SigningAlgorithms: [...(record.signingAlgorithms ?? [])],
});

/** A new asymmetric key's common fields, and the batch that writes it with its CreateKey audit line. */
export function newAsymmetricKey(
  request: CreateKeyRequest,
  caller: Caller,
  { registry }: KindContext,
): { base: Omit<KeyRecord, 'keySpec' | 'keyUsage'>; batch: StoreBatch } {
  const keyId = randomUUID();
  const now = registry.clock();
  const tags = mergeTags([], request.tags ?? []);
  const base = {
    keyId,
    description: request.description ?? '',
    keyState: 'Enabled' as const,
    origin: request.origin,
    creationDate: now.toISOString(),
    tags,
    currentVersion: 1,
  };
  const batch = registry.store.batch().auditChange(caller, { action: 'CreateKey', keyId, detail: { Origin: request.origin } }, now);
  return { base, batch };
}
