import { generateKeyPair, oaepDecrypt, signDigest, signMessage } from '../../crypto/asymmetric.js';
import { algorithmsFor, ASYMMETRIC_KEY_SPECS, isRsaSpec, type AsymmetricKeySpec } from '../../crypto/asymmetric-algorithms.js';
import { invalidCiphertext, ValidationException } from '../../errors.js';
import type { KeyRecord, KeyUsage } from '../../store/records.js';
import { asymmetricMetadata, asymmetricOperations, ASYMMETRIC_USAGES, NO_ROTATION } from './asymmetric-shared.js';
import { newKey, type KeyKind } from './key-kind.js';

/**
 * Asymmetric keys made here: the key pair is generated in Keyhold, the private key wrapped
 * under the root key like version keys (as version 1), the public key in the record.
 */
export const asymmetricLocalKind: KeyKind = {
  name: 'asymmetric local',
  origins: ['KEYHOLD'],
  keySpecs: ASYMMETRIC_KEY_SPECS,
  keyUsages: ASYMMETRIC_USAGES,
  accepts: (request) => request.origin === 'KEYHOLD' && request.keySpec !== undefined && (ASYMMETRIC_KEY_SPECS as readonly string[]).includes(request.keySpec),
  supports: asymmetricOperations,
  material: 'private-key',
  rotation: NO_ROTATION,
  metadata: asymmetricMetadata,

  async create(request, caller, context) {
    const { base, batch } = newKey(request, caller, context, { detail: { Origin: request.origin } });
    /* Precondition: a local asymmetric key names a spec; RSA may encrypt, ECC only signs. */
    const keySpec = request.keySpec as AsymmetricKeySpec;
    const keyUsage = requireUsage(keySpec, request.keyUsage);
    const { privateKey, publicKey } = await generateKeyPair(keySpec);
    const record: KeyRecord = {
      ...base,
      keySpec,
      keyUsage,
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      ...algorithmsFor(keySpec, keyUsage),
    };
    await context.registry.create(record, batch, context.registry.wrapPrivateKey(record.keyId, privateKey));
    return record;
  },

  privateHalf: {
    async sign(record, algorithm, message, messageType, { registry }) {
      const privateKey = await registry.privateKey(record);
      return messageType === 'RAW' ? signMessage(privateKey, algorithm, message) : signDigest(privateKey, algorithm, message);
    },

    async decrypt(record, algorithm, ciphertext, { registry }) {
      const privateKey = await registry.privateKey(record);
      try {
        return oaepDecrypt(privateKey, algorithm, ciphertext);
      } catch {
        throw invalidCiphertext();
      }
    },
  },
};

function requireUsage(spec: AsymmetricKeySpec, value: string | undefined): Extract<KeyUsage, 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT'> {
  /* Precondition: the usage is given for asymmetric keys (as AWS KMS requires) and fits the spec. */
  if (value !== 'SIGN_VERIFY' && value !== 'ENCRYPT_DECRYPT') {
    throw new ValidationException(`KeyUsage must be SIGN_VERIFY or ENCRYPT_DECRYPT for a ${spec} key`);
  }
  if (value === 'ENCRYPT_DECRYPT' && !isRsaSpec(spec)) {
    throw new ValidationException(`KeyUsage ENCRYPT_DECRYPT is only for RSA keys; ${spec} keys are SIGN_VERIFY`);
  }
  return value;
}
