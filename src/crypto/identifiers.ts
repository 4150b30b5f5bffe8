// Internal: the one definition of a valid KeyId and key version, shared by the blob codec and
// the wrapping AADs. Not re-exported from index.ts.

/** Versions are stored as uint32 big-endian and start at 1. */
export const MAX_KEY_VERSION = 0xffff_ffff;

// Any UUID variant: the vectors use non-v4 ids, and src/crypto carries bytes, not policy.
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function assertKeyId(keyId: string): void {
  /* Precondition: a KeyId is a hyphenated UUID. */
  if (typeof keyId !== 'string' || !UUID_PATTERN.test(keyId)) {
    throw new TypeError('a KeyId must be a hyphenated UUID');
  }
}

export function assertKeyVersion(version: number): void {
  /* Precondition: a key version is an integer from 1 to 4294967295. */
  if (!Number.isInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new RangeError('a key version must be an integer from 1 to 4294967295');
  }
}
