import type { Buffer } from 'node:buffer';

/** Unwrapped material of one key version: 32 bytes, the HKDF input for each message. */
export type VersionKey = Buffer & { readonly __brand: 'VersionKey' };

/** The unwrapped root key: 32 bytes that wrap every version key and credential secret. */
export type RootKey = Buffer & { readonly __brand: 'RootKey' };

/** Key material sealed by `wrapKey`: iv || ciphertext || tag. Never usable as a key. */
export type WrappedKey = Buffer & { readonly __brand: 'WrappedKey' };

/** Caller-chosen pairs bound to a ciphertext as AAD; decryption needs the same pairs. */
export type EncryptionContext = Readonly<Record<string, string>>;

/** Every symmetric key in Keyhold is AES-256: 32 bytes. */
export const KEY_LENGTH = 32;

function assertKeyLength(bytes: Buffer, what: string): void {
  /* Precondition: a key is exactly 32 bytes. */
  // The message names the kind of key and the rule, never the bytes.
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_LENGTH) {
    throw new TypeError(`${what} must be ${KEY_LENGTH} bytes`);
  }
}

/**
 * Marks 32 unwrapped bytes as a version key, so a wrapped blob cannot be passed in its place.
 * @example const versionKey = asVersionKey(unwrapKey(rootKey, wrapped, versionKeyAad(keyId, 3)));
 */
export function asVersionKey(bytes: Buffer): VersionKey {
  assertKeyLength(bytes, 'a version key');
  return bytes as VersionKey;
}

/**
 * Marks 32 unwrapped bytes as the root key.
 * @example const rootKey = asRootKey(randomBytes(32));
 */
export function asRootKey(bytes: Buffer): RootKey {
  assertKeyLength(bytes, 'a root key');
  return bytes as RootKey;
}

/**
 * Marks bytes read from the store as wrapped material; the length is checked by `unwrapKey`.
 * @example const wrapped = asWrappedKey(record.wrappedKey);
 */
export function asWrappedKey(bytes: Buffer): WrappedKey {
  return bytes as WrappedKey;
}
