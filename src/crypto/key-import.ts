import { Buffer } from 'node:buffer';
import { constants, createDecipheriv, createHmac, generateKeyPair, privateDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { DecryptionFailedError } from './errors.js';
import { assertKeyId } from './identifiers.js';

/**
 * Importing key material (AWS KMS's GetParametersForImport / ImportKeyMaterial): the RSA
 * wrapping keys, the unwrapping of EncryptedKeyMaterial by each wrapping algorithm, and the
 * keyed fingerprint that tells whether a reimport brings the same material.
 */

export const WRAPPING_ALGORITHMS = ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const WRAPPING_KEY_SPECS = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 } as const;
export type WrappingKeySpec = keyof typeof WRAPPING_KEY_SPECS;

/** RFC 5649's alternative initial value, which node's 'id-aes256-wrap-pad' takes as its IV. */
const KEY_WRAP_PAD_IV = Buffer.from('a65959a6', 'hex');
const EPHEMERAL_AES_KEY_BYTES = 32;
const FINGERPRINT_LABEL = 'keyhold/v1/imported-material';

const generateRsaKeyPair = promisify(generateKeyPair);

/** A fresh RSA wrapping key pair of a WrappingKeySpec, made off the event loop (RSA-4096 takes a second or more). */
export function newWrappingKeyPair(spec: WrappingKeySpec): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return generateRsaKeyPair('rsa', { modulusLength: WRAPPING_KEY_SPECS[spec] });
}

/**
 * The AAD of a wrapping private key wrapped under the root key, binding it to its key and
 * import token. Distinct from the version and private-key AADs (those end in a number or `private`).
 */
export function wrappingKeyAad(keyId: string, token: Buffer): string {
  assertKeyId(keyId);
  return `keyhold:v1|${keyId}|import|${token.toString('base64')}`;
}

/**
 * The plaintext key material of an EncryptedKeyMaterial. RSAES_OAEP_SHA_*: RSA-OAEP with that
 * hash (and MGF1 with the same hash); RSA_AES_KEY_WRAP_SHA_256: RSA-OAEP-SHA-256 of an ephemeral
 * AES-256 key (one modulus long), then that key's AES key wrap with padding (RFC 5649) of the
 * material. Any failure is one DecryptionFailedError.
 */
export function unwrapImportedMaterial(privateKey: KeyObject, algorithm: WrappingAlgorithm, encrypted: Buffer): Buffer {
  try {
    if (algorithm === 'RSA_AES_KEY_WRAP_SHA_256') return unwrapRsaAes(privateKey, encrypted);
    return rsaOaep(privateKey, algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256', encrypted);
  } catch {
    throw new DecryptionFailedError();
  }
}

function rsaOaep(privateKey: KeyObject, hash: 'sha1' | 'sha256', ciphertext: Buffer): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
}

function unwrapRsaAes(privateKey: KeyObject, encrypted: Buffer): Buffer {
  const modulusBytes = privateKey.asymmetricKeyDetails!.modulusLength! / 8;
  /* Precondition: an RSA block and at least one wrapped block (RFC 5649: 16 bytes or more). */
  if (encrypted.length < modulusBytes + 16) throw new DecryptionFailedError();
  const aesKey = rsaOaep(privateKey, 'sha256', encrypted.subarray(0, modulusBytes));
  try {
    if (aesKey.length !== EPHEMERAL_AES_KEY_BYTES) throw new DecryptionFailedError();
    const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, KEY_WRAP_PAD_IV);
    return Buffer.concat([decipher.update(encrypted.subarray(modulusBytes)), decipher.final()]);
  } finally {
    aesKey.fill(0);
  }
}

/**
 * The keyed fingerprint of a key's imported material: HMAC-SHA-256 under a key the root key
 * derives, over the KeyId and the material. It reveals nothing of the material without the
 * root key, and a reimport is checked against it (materialMatches).
 */
export function materialFingerprint(rootKey: Buffer, keyId: string, material: Buffer): Buffer {
  assertKeyId(keyId);
  const fingerprintKey = createHmac('sha256', rootKey).update(FINGERPRINT_LABEL, 'utf8').digest();
  try {
    return createHmac('sha256', fingerprintKey).update(`${keyId}|`, 'utf8').update(material).digest();
  } finally {
    fingerprintKey.fill(0);
  }
}

/** Whether material is the one a stored fingerprint was made of, compared in constant time. */
export function materialMatches(rootKey: Buffer, keyId: string, material: Buffer, fingerprint: Buffer): boolean {
  const actual = materialFingerprint(rootKey, keyId, material);
  return fingerprint.length === actual.length && timingSafeEqual(actual, fingerprint);
}
