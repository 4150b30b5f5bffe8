import { constants, verify, type KeyObject } from 'node:crypto';
import { digestLength, signingHash, type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';

/**
 * node:crypto's own verification of a signature over the original message, independent of
 * Keyhold's signing code: RSASSA-PSS with a salt as long as the hash, ECDSA DER-encoded.
 */
export function nodeVerifies(publicKey: KeyObject, algorithm: SigningAlgorithm, message: Buffer, signature: Buffer): boolean {
  const hash = signingHash(algorithm);
  if (algorithm.startsWith('RSASSA_PSS_')) {
    return verify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(hash) }, signature);
  }
  if (algorithm.startsWith('RSASSA_PKCS1_')) return verify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  return verify(hash, message, { key: publicKey, dsaEncoding: 'der' }, signature);
}
