import type {
  AsymmetricEncryptionAlgorithm,
  AsymmetricKeySpec,
  SigningAlgorithm,
} from '../../../crypto/asymmetric-algorithms.js';
import { ValidationException } from '../../../errors.js';

/**
 * What a Google Cloud KMS CryptoKeyVersionAlgorithm means in Keyhold's (AWS KMS's) terms.
 * A GCP key version has exactly one algorithm, so it offers exactly one of ours.
 */
export type GcpAlgorithmProfile =
  | { keySpec: AsymmetricKeySpec; keyUsage: 'SIGN_VERIFY'; signingAlgorithm: SigningAlgorithm }
  | { keySpec: AsymmetricKeySpec; keyUsage: 'ENCRYPT_DECRYPT'; encryptionAlgorithm: AsymmetricEncryptionAlgorithm };

function signing(keySpec: AsymmetricKeySpec, signingAlgorithm: SigningAlgorithm): GcpAlgorithmProfile {
  return { keySpec, keyUsage: 'SIGN_VERIFY', signingAlgorithm };
}

function decrypting(keySpec: AsymmetricKeySpec, encryptionAlgorithm: AsymmetricEncryptionAlgorithm): GcpAlgorithmProfile {
  return { keySpec, keyUsage: 'ENCRYPT_DECRYPT', encryptionAlgorithm };
}

// The GCP algorithms Keyhold can offer. Everything else (raw PKCS#1, secp256k1, Ed25519,
// OAEP with SHA-512, symmetric, HMAC, post-quantum) has no AWS KMS counterpart.
const GCP_ALGORITHMS: ReadonlyMap<string, GcpAlgorithmProfile> = new Map([
  ['EC_SIGN_P256_SHA256', signing('ECC_NIST_P256', 'ECDSA_SHA_256')],
  ['EC_SIGN_P384_SHA384', signing('ECC_NIST_P384', 'ECDSA_SHA_384')],
  ['RSA_SIGN_PSS_2048_SHA256', signing('RSA_2048', 'RSASSA_PSS_SHA_256')],
  ['RSA_SIGN_PSS_3072_SHA256', signing('RSA_3072', 'RSASSA_PSS_SHA_256')],
  ['RSA_SIGN_PSS_4096_SHA256', signing('RSA_4096', 'RSASSA_PSS_SHA_256')],
  ['RSA_SIGN_PSS_4096_SHA512', signing('RSA_4096', 'RSASSA_PSS_SHA_512')],
  ['RSA_SIGN_PKCS1_2048_SHA256', signing('RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256')],
  ['RSA_SIGN_PKCS1_3072_SHA256', signing('RSA_3072', 'RSASSA_PKCS1_V1_5_SHA_256')],
  ['RSA_SIGN_PKCS1_4096_SHA256', signing('RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_256')],
  ['RSA_SIGN_PKCS1_4096_SHA512', signing('RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_512')],
  ['RSA_DECRYPT_OAEP_2048_SHA256', decrypting('RSA_2048', 'RSAES_OAEP_SHA_256')],
  ['RSA_DECRYPT_OAEP_3072_SHA256', decrypting('RSA_3072', 'RSAES_OAEP_SHA_256')],
  ['RSA_DECRYPT_OAEP_4096_SHA256', decrypting('RSA_4096', 'RSAES_OAEP_SHA_256')],
  ['RSA_DECRYPT_OAEP_2048_SHA1', decrypting('RSA_2048', 'RSAES_OAEP_SHA_1')],
  ['RSA_DECRYPT_OAEP_3072_SHA1', decrypting('RSA_3072', 'RSAES_OAEP_SHA_1')],
  ['RSA_DECRYPT_OAEP_4096_SHA1', decrypting('RSA_4096', 'RSAES_OAEP_SHA_1')],
]);

/** The GCP algorithm names Keyhold accepts, for tests and documentation. */
export const SUPPORTED_GCP_ALGORITHMS: readonly string[] = [...GCP_ALGORITHMS.keys()];

/**
 * Our profile of a GCP key version's algorithm.
 *
 * @example
 *   gcpAlgorithmProfile('EC_SIGN_P256_SHA256') // { keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', signingAlgorithm: 'ECDSA_SHA_256' }
 */
export function gcpAlgorithmProfile(gcpAlgorithm: string): GcpAlgorithmProfile {
  const profile = GCP_ALGORITHMS.get(gcpAlgorithm);
  /* Precondition: the key version's algorithm has an AWS KMS counterpart. */
  if (!profile) {
    throw new ValidationException(`Google Cloud KMS algorithm '${safeAlgorithmName(gcpAlgorithm)}' is not supported by Keyhold`);
  }
  return profile;
}

// The algorithm name comes from the remote service: keep it to what an enum name can be.
function safeAlgorithmName(name: string): string {
  return /^[A-Z0-9_]{1,64}$/.test(name) ? name : 'unknown';
}
