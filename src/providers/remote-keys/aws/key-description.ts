import type { GetPublicKeyResponse, KeyMetadata } from '@aws-sdk/client-kms';
import {
  ASYMMETRIC_KEY_SPECS,
  isAsymmetricEncryptionAlgorithm,
  isAsymmetricKeySpec,
  isRsaSpec,
  isSigningAlgorithm,
  type AsymmetricKeySpec,
} from '../../../crypto/asymmetric-algorithms.js';
import { algorithmFitsSpec, AsymmetricInputError, publicKeyFromDer, specOfPublicKey } from '../../../crypto/asymmetric.js';
import { DisabledException, KMSInternalException, KMSInvalidStateException, ValidationException } from '../../../errors.js';
import type { RemoteKeyDescription } from '../remote-key-provider.js';
import { safeErrorName } from './error-mapping.js';

/**
 * Turns AWS KMS's DescribeKey and GetPublicKey answers into a RemoteKeyDescription, refusing
 * keys Keyhold cannot use. Pure: no I/O. Remote strings (spec, usage, state) are enum values
 * and appear in messages only after the same identifier check as error names.
 */

type KeyUsage = RemoteKeyDescription['keyUsage'];

/** The key spec and usage of a DescribeKey answer, once the key is known to be usable. */
export function usableKeyOf(metadata: KeyMetadata | undefined, providerKeyId: string): { keySpec: AsymmetricKeySpec; keyUsage: KeyUsage } {
  if (!metadata) throw new KMSInternalException('AWS KMS answered DescribeKey without KeyMetadata');
  const state = metadata.KeyState;
  /* Precondition: the remote key is enabled. */
  if (state === 'Disabled') throw new DisabledException(`AWS KMS key '${providerKeyId}' is disabled`);
  if (state !== 'Enabled') {
    throw new KMSInvalidStateException(`AWS KMS key '${providerKeyId}' is in state ${safeErrorName(state)}, not Enabled`);
  }
  const keySpec = metadata.KeySpec ?? metadata.CustomerMasterKeySpec;
  /* Precondition: the remote key spec is one Keyhold offers. */
  if (!keySpec || !isAsymmetricKeySpec(keySpec)) {
    throw new ValidationException(
      `AWS KMS key '${providerKeyId}' has key spec ${safeErrorName(keySpec)}, which Keyhold does not support (supported: ${ASYMMETRIC_KEY_SPECS.join(', ')})`,
    );
  }
  const keyUsage = metadata.KeyUsage;
  /* Precondition: the remote key usage is SIGN_VERIFY, or ENCRYPT_DECRYPT with an RSA key. */
  if (keyUsage !== 'SIGN_VERIFY' && !(keyUsage === 'ENCRYPT_DECRYPT' && isRsaSpec(keySpec))) {
    throw new ValidationException(
      `AWS KMS key '${providerKeyId}' has key usage ${safeErrorName(keyUsage)} with ${keySpec}, which Keyhold does not support`,
    );
  }
  return { keySpec, keyUsage };
}

/** The description of a usable key, checked against its GetPublicKey answer. */
export function describeAwsKey(
  usable: { keySpec: AsymmetricKeySpec; keyUsage: KeyUsage },
  publicKeyAnswer: GetPublicKeyResponse,
  providerKeyId: string,
): RemoteKeyDescription {
  const { keySpec, keyUsage } = usable;
  /* Postcondition: GetPublicKey agrees with DescribeKey about the spec and usage. */
  const answeredSpec = publicKeyAnswer.KeySpec ?? publicKeyAnswer.CustomerMasterKeySpec;
  if ((answeredSpec && answeredSpec !== keySpec) || (publicKeyAnswer.KeyUsage && publicKeyAnswer.KeyUsage !== keyUsage)) {
    throw new KMSInternalException(`AWS KMS described key '${providerKeyId}' inconsistently`);
  }
  const publicKey = publicKeyAnswer.PublicKey ? Buffer.from(publicKeyAnswer.PublicKey) : Buffer.alloc(0);
  /* Postcondition: the public key is a DER SubjectPublicKeyInfo of the key's spec. */
  if (publicKeySpec(publicKey) !== keySpec) {
    throw new KMSInternalException(`AWS KMS returned a public key for '${providerKeyId}' that is not a ${keySpec} key`);
  }

  // Names AWS may add later are dropped: Keyhold only offers what it can verify locally.
  const signingAlgorithms =
    keyUsage === 'SIGN_VERIFY'
      ? (publicKeyAnswer.SigningAlgorithms ?? []).filter(isSigningAlgorithm).filter((algorithm) => algorithmFitsSpec(algorithm, keySpec))
      : [];
  const encryptionAlgorithms = keyUsage === 'ENCRYPT_DECRYPT' ? (publicKeyAnswer.EncryptionAlgorithms ?? []).filter(isAsymmetricEncryptionAlgorithm) : [];
  /* Postcondition: the key offers at least one algorithm Keyhold supports for its usage. */
  if (signingAlgorithms.length === 0 && encryptionAlgorithms.length === 0) {
    throw new ValidationException(`AWS KMS key '${providerKeyId}' offers no ${keyUsage} algorithm that Keyhold supports`);
  }
  return { keySpec, keyUsage, publicKey, signingAlgorithms, encryptionAlgorithms };
}

function publicKeySpec(der: Buffer): AsymmetricKeySpec | undefined {
  try {
    return specOfPublicKey(publicKeyFromDer(der));
  } catch (error) {
    if (error instanceof AsymmetricInputError) return undefined;
    throw error;
  }
}
