/**
 * The asymmetric key specs and algorithms Keyhold offers, with AWS KMS's names, and what
 * each one means: its hash, padding, curve and limits. Pure data; no key material here.
 */

export const ASYMMETRIC_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384'] as const;
export type AsymmetricKeySpec = (typeof ASYMMETRIC_KEY_SPECS)[number];

export const SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const ASYMMETRIC_ENCRYPTION_ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
export type AsymmetricEncryptionAlgorithm = (typeof ASYMMETRIC_ENCRYPTION_ALGORITHMS)[number];

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** RAW messages are capped at this size, as in AWS KMS; longer ones are hashed by the caller. */
export const MAX_RAW_MESSAGE_BYTES = 4096;

export function isAsymmetricKeySpec(value: string): value is AsymmetricKeySpec {
  return (ASYMMETRIC_KEY_SPECS as readonly string[]).includes(value);
}

export function isSigningAlgorithm(value: string): value is SigningAlgorithm {
  return (SIGNING_ALGORITHMS as readonly string[]).includes(value);
}

export function isAsymmetricEncryptionAlgorithm(value: string): value is AsymmetricEncryptionAlgorithm {
  return (ASYMMETRIC_ENCRYPTION_ALGORITHMS as readonly string[]).includes(value);
}

export function isRsaSpec(spec: AsymmetricKeySpec): spec is 'RSA_2048' | 'RSA_3072' | 'RSA_4096' {
  return spec.startsWith('RSA_');
}

/** Modulus length in bits of an RSA spec. */
export function rsaModulusBits(spec: 'RSA_2048' | 'RSA_3072' | 'RSA_4096'): number {
  return Number(spec.slice(4));
}

/** node:crypto's name of an ECC spec's curve. */
export function eccCurve(spec: 'ECC_NIST_P256' | 'ECC_NIST_P384'): 'P-256' | 'P-384' {
  return spec === 'ECC_NIST_P256' ? 'P-256' : 'P-384';
}

/** The hash a signing algorithm signs with; a DIGEST message must be exactly its length. */
export function signingHash(algorithm: SigningAlgorithm): 'sha256' | 'sha384' | 'sha512' {
  return `sha${algorithm.slice(-3)}` as 'sha256' | 'sha384' | 'sha512';
}

export function digestLength(hash: HashName): number {
  return { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }[hash];
}

export function oaepHash(algorithm: AsymmetricEncryptionAlgorithm): 'sha1' | 'sha256' {
  return algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
}

/** The algorithms AWS KMS offers for a key spec and usage (KeyMetadata fields). */
export function algorithmsFor(
  spec: AsymmetricKeySpec,
  usage: 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT',
): { signingAlgorithms: SigningAlgorithm[]; encryptionAlgorithms: AsymmetricEncryptionAlgorithm[] } {
  if (usage === 'ENCRYPT_DECRYPT') {
    return { signingAlgorithms: [], encryptionAlgorithms: isRsaSpec(spec) ? ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] : [] };
  }
  if (spec === 'ECC_NIST_P256') return { signingAlgorithms: ['ECDSA_SHA_256'], encryptionAlgorithms: [] };
  if (spec === 'ECC_NIST_P384') return { signingAlgorithms: ['ECDSA_SHA_384'], encryptionAlgorithms: [] };
  return { signingAlgorithms: SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_')), encryptionAlgorithms: [] };
}

/** The largest plaintext RSAES-OAEP can take with this modulus and hash (RFC 8017 §7.1.1). */
export function maxOaepPlaintextBytes(spec: 'RSA_2048' | 'RSA_3072' | 'RSA_4096', algorithm: AsymmetricEncryptionAlgorithm): number {
  return rsaModulusBits(spec) / 8 - 2 * digestLength(oaepHash(algorithm)) - 2;
}
