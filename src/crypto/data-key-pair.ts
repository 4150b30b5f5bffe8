import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Data key pairs (GenerateDataKeyPair): key pairs made for use outside the KMS, answered as AWS
 * KMS answers them: the private key as DER PKCS#8 PrivateKeyInfo, the public key as DER X.509
 * SubjectPublicKeyInfo. Unlike a KMS key's pair (asymmetric.ts), nothing here is kept.
 */
export const DATA_KEY_PAIR_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
] as const;
export type DataKeyPairSpec = (typeof DATA_KEY_PAIR_SPECS)[number];

const RSA_BITS = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 } as const;
// OpenSSL's names; node takes them for namedCurve.
const CURVES = { ECC_NIST_P256: 'prime256v1', ECC_NIST_P384: 'secp384r1', ECC_NIST_P521: 'secp521r1', ECC_SECG_P256K1: 'secp256k1' } as const;

const generate = promisify(generateKeyPair);
const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;

/** RSA pairs take long to make (about a second for 4096 bits); EC pairs a millisecond. */
export function isRsaPairSpec(spec: DataKeyPairSpec): spec is keyof typeof RSA_BITS {
  return Object.hasOwn(RSA_BITS, spec);
}

/**
 * A new pair, generated on libuv's thread pool: an RSA 4096 pair takes about a second of CPU,
 * which must not stop the event loop. The caller zeroes `privateKey` when done with it.
 */
export async function generateDataKeyPair(spec: DataKeyPairSpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  if (isRsaPairSpec(spec)) {
    return generate('rsa', { modulusLength: RSA_BITS[spec], publicExponent: 0x10001, publicKeyEncoding, privateKeyEncoding });
  }
  return generate('ec', { namedCurve: CURVES[spec], publicKeyEncoding, privateKeyEncoding });
}
