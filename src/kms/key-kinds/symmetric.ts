import { ValidationException } from '../../errors.js';
import type { KeyRecord, KeyUsage } from '../../store/records.js';
import { newKey, supporting, type KeyKind } from './key-kind.js';

/** The EncryptionAlgorithm of envelope encryption (AES-256-GCM), AWS KMS's name, which is also its KeySpec. */
export const ENVELOPE_ALGORITHM = 'SYMMETRIC_DEFAULT';

const KEY_USAGES: readonly KeyUsage[] = ['ENCRYPT_DECRYPT'];

/**
 * Symmetric keys (SYMMETRIC_DEFAULT): AES-256 version keys made here, wrapped under the root
 * key, one per version; rotation adds a version. The default of CreateKey.
 */
export const symmetricKind: KeyKind = {
  name: 'symmetric',
  origins: ['KEYHOLD'],
  keySpecs: [ENVELOPE_ALGORITHM],
  keyUsages: KEY_USAGES,
  accepts: (request) => request.origin === 'KEYHOLD' && (request.keySpec === undefined || request.keySpec === ENVELOPE_ALGORITHM),
  supports: supporting('envelope'),
  material: 'versions',
  rotation: { rotates: true },
  metadata: () => ({ EncryptionAlgorithms: [ENVELOPE_ALGORITHM] }),

  async create(request, caller, context) {
    const keySpec = ENVELOPE_ALGORITHM;
    const keyUsage = request.keyUsage ?? 'ENCRYPT_DECRYPT';
    if (!(KEY_USAGES as readonly string[]).includes(keyUsage)) {
      throw new ValidationException(`KeyUsage '${keyUsage}' is not valid for a ${keySpec} key`);
    }
    const { base, batch } = newKey(request, caller, context);
    const record: KeyRecord = { ...base, keySpec, keyUsage: keyUsage as KeyUsage };
    // No material given: the registry makes version 1.
    await context.registry.create(record, batch);
    return record;
  },
};
