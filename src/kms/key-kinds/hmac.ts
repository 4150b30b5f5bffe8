import { randomBytes } from 'node:crypto';
import { isMacKeySpec, MAC_KEY_SPECS, macAlgorithmOf, macMaterialBytes, type MacKeySpec } from '../../crypto/mac.js';
import { ValidationException } from '../../errors.js';
import type { KeyRecord, KeyUsage } from '../../store/records.js';
import { newKey, supporting, type KeyKind, type MaterialLength } from './key-kind.js';

const MAC_USAGE: KeyUsage = 'GENERATE_VERIFY_MAC';

/**
 * The lengths AWS KMS takes imported HMAC material of, in bytes: from the length Keyhold makes
 * (the hash's output) to the hash's block size, beyond which HMAC hashes the key (RFC 2104).
 */
export const HMAC_IMPORTED_LENGTH: Readonly<Record<string, MaterialLength>> = {
  HMAC_224: { min: 28, max: 64 },
  HMAC_256: { min: 32, max: 64 },
  HMAC_384: { min: 48, max: 128 },
  HMAC_512: { min: 64, max: 128 },
};

/**
 * HMAC keys (HMAC_224, HMAC_256, HMAC_384, HMAC_512), as AWS KMS has them: a secret of the
 * spec's length made here and wrapped under the root key as version 1 (AAD `…|1|mac`), used
 * only by GenerateMac and VerifyMac with the spec's one algorithm. They do not rotate, neither
 * automatically nor on demand, as in AWS KMS.
 */
export const hmacKind: KeyKind = {
  name: 'HMAC',
  origins: ['KEYHOLD'],
  keySpecs: MAC_KEY_SPECS,
  keyUsages: [MAC_USAGE],
  accepts: (request) => request.origin === 'KEYHOLD' && request.keySpec !== undefined && isMacKeySpec(request.keySpec),
  supports: supporting('mac'),
  material: 'mac-key',
  rotation: {
    rotates: false,
    refusal: (record) => `Key '${record.keyId}' is an HMAC key; only symmetric encryption keys rotate`,
  },
  // No EncryptionAlgorithms, as AWS KMS answers for an HMAC key.
  metadata: (record) => ({ MacAlgorithms: [macAlgorithmOf(record.keySpec as MacKeySpec)] }),

  async create(request, caller, context) {
    const keySpec = request.keySpec as MacKeySpec;
    /* Precondition: the usage is given and is GENERATE_VERIFY_MAC (AWS KMS requires it for every spec but SYMMETRIC_DEFAULT). */
    if (request.keyUsage !== MAC_USAGE) {
      throw new ValidationException(`KeyUsage must be ${MAC_USAGE} for a ${keySpec} key`);
    }
    const { base, batch } = newKey(request, caller, context, { detail: { KeySpec: keySpec } });
    const record: KeyRecord = { ...base, keySpec, keyUsage: MAC_USAGE };
    const secret = randomBytes(macMaterialBytes(keySpec));
    let wrapped: Buffer;
    try {
      wrapped = context.registry.wrapMacKey(record.keyId, secret);
    } finally {
      secret.fill(0);
    }
    await context.registry.create(record, batch, wrapped);
    return record;
  },
};
