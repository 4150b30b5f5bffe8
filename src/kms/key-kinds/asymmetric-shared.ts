import type { KeyUsage } from '../../store/records.js';
import { supporting, type KeyKind } from './key-kind.js';

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
