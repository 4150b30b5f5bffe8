import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DecryptionFailedError } from './errors.js';
import { assertKeyId, assertKeyVersion } from './identifiers.js';
import { KEY_LENGTH, type WrappedKey } from './types.js';

const WRAP_ALGORITHM = 'aes-256-gcm';
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_CHECK_LABEL = 'keyhold/v1/key-check';
const KEY_CHECK_LENGTH = 16;

/** The AAD under which the root key is wrapped by the master key. */
export const ROOT_KEY_AAD = 'keyhold:v1|root';

/**
 * The AAD of a wrapped version key. It binds the blob to its key and version, so a wrapped key
 * cannot be moved to another key or version in the store.
 * @example versionKeyAad('19e8782d-12e4-e972-8653-d19be3ec54bf', 2) // 'keyhold:v1|19e8782d-…|2'
 */
export function versionKeyAad(keyId: string, version: number): string {
  // A UUID can never be 'root' or 'credential', so the three AAD families cannot collide.
  assertKeyId(keyId);
  assertKeyVersion(version);
  return `keyhold:v1|${keyId}|${version}`;
}

/**
 * The AAD of an asymmetric key's wrapped private key (PKCS#8 DER). Distinct from every
 * version-key AAD (those end in a number), so neither can be unwrapped as the other.
 * @example privateKeyAad('19e8782d-…', 1) // 'keyhold:v1|19e8782d-…|1|private'
 */
export function privateKeyAad(keyId: string, version: number): string {
  return `${versionKeyAad(keyId, version)}|private`;
}

/**
 * The AAD of an HMAC key's wrapped key material. Distinct from every version-key AAD (those
 * end in a number), so HMAC material cannot be unwrapped as an encryption key, nor the reverse.
 * @example macKeyAad('19e8782d-…', 1) // 'keyhold:v1|19e8782d-…|1|mac'
 */
export function macKeyAad(keyId: string, version: number): string {
  return `${versionKeyAad(keyId, version)}|mac`;
}

/**
 * The AAD of a wrapped credential secret, binding it to its access key id.
 * @example credentialSecretAad('AKIDEXAMPLE') // 'keyhold:v1|credential|AKIDEXAMPLE'
 */
export function credentialSecretAad(accessKeyId: string): string {
  /* Precondition: a credential AAD names a non-empty access key id. */
  if (typeof accessKeyId !== 'string' || accessKeyId.length === 0) {
    throw new TypeError('an access key id must be a non-empty string');
  }
  return `keyhold:v1|credential|${accessKeyId}`;
}

function aadBytes(aad: string | Buffer): Buffer {
  return typeof aad === 'string' ? Buffer.from(aad, 'utf8') : aad;
}

/**
 * Seals key material under a 32-byte wrapping key with AES-256-GCM: iv(12, random) ||
 * ciphertext || tag(16). The AAD says what the material is, so it cannot be unwrapped as
 * something else.
 *
 * @example const wrapped = wrapKey(rootKey, versionKey, versionKeyAad(keyId, 1));
 */
export function wrapKey(wrappingKey: Buffer, key: Buffer, aad: string | Buffer): WrappedKey {
  /* Precondition: a wrapping key is exactly 32 bytes. */
  if (!(wrappingKey instanceof Uint8Array) || wrappingKey.length !== KEY_LENGTH) {
    throw new TypeError('a wrapping key must be 32 bytes');
  }
  // Random 96-bit IVs are safe here: wraps under one key number far below 2^32.
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv(WRAP_ALGORITHM, wrappingKey, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aadBytes(aad));
  const ciphertext = cipher.update(key);
  cipher.final();
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]) as WrappedKey;
}

/**
 * Opens material sealed by `wrapKey` with the same wrapping key and AAD. Any failure (wrong
 * key, wrong AAD, tampered or short input) is one DecryptionFailedError.
 *
 * @example const versionKey = asVersionKey(unwrapKey(rootKey, wrapped, versionKeyAad(keyId, 1)));
 */
export function unwrapKey(wrappingKey: Buffer, wrapped: Uint8Array, aad: string | Buffer): Buffer {
  let key: Buffer | undefined;
  try {
    /* Precondition: a wrapped key is at least iv and tag long. */
    if (!(wrapped instanceof Uint8Array) || wrapped.length < IV_LENGTH + TAG_LENGTH) {
      throw new DecryptionFailedError();
    }
    const bytes = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    const tagOffset = bytes.length - TAG_LENGTH;
    const decipher = createDecipheriv(WRAP_ALGORITHM, wrappingKey, bytes.subarray(0, IV_LENGTH), {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAAD(aadBytes(aad));
    decipher.setAuthTag(bytes.subarray(tagOffset));
    key = decipher.update(bytes.subarray(IV_LENGTH, tagOffset));
    decipher.final();
    return key;
  } catch {
    // Unverified key bytes must not outlive a failed tag check.
    key?.fill(0);
    throw new DecryptionFailedError();
  }
}

/**
 * A 16-byte fingerprint stored beside the wrapped root key, so a wrong passphrase or HSM key is
 * recognised at start before anything is touched. HMAC, not a hash, so it reveals nothing of
 * the key.
 *
 * @example record.keyCheckValue = keyCheckValue(rootKey);
 */
export function keyCheckValue(rootKey: Buffer): Buffer {
  const mac = createHmac('sha256', rootKey).update(KEY_CHECK_LABEL, 'utf8').digest();
  // Copied, so the stored value does not keep the rest of the MAC in its backing memory.
  return Buffer.from(mac.subarray(0, KEY_CHECK_LENGTH));
}

/**
 * Whether a root key matches a stored key-check value, compared in constant time.
 * @example if (!keyCheckMatches(rootKey, record.keyCheckValue)) throw new Error('wrong passphrase');
 */
export function keyCheckMatches(rootKey: Buffer, expected: Uint8Array): boolean {
  /* Precondition: a key-check value is 16 bytes before it is compared. */
  // timingSafeEqual throws on unequal lengths; a stored value of another length simply does not match.
  if (!(expected instanceof Uint8Array) || expected.length !== KEY_CHECK_LENGTH) return false;
  return timingSafeEqual(keyCheckValue(rootKey), expected);
}
