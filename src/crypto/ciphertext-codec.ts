import { Buffer } from 'node:buffer';
import { DecryptionFailedError } from './errors.js';
import { assertKeyId, assertKeyVersion } from './identifiers.js';

// Formats 1 and 2 share one layout, byte ranges half-open:
//   [0,1) format  [1,17) KeyId  [17,21) version u32be  [21,53) salt  [53,len-16) ciphertext  [len-16,len) tag
// They differ only in how the message key and IV come from the version key (src/crypto/envelope.ts).

/** Format 1: the message key and IV by HKDF-SHA256 (extract and expand) of the version key. */
export const CIPHERTEXT_FORMAT_1 = 0x01;
/** Format 2: the message key by HKDF-Expand (one HMAC) from the version key's cached PRK, the IV from the salt. */
export const CIPHERTEXT_FORMAT_2 = 0x02;
/** The formats this module reads and writes. */
export type CiphertextFormat = typeof CIPHERTEXT_FORMAT_1 | typeof CIPHERTEXT_FORMAT_2;
/** What encrypt writes unless told otherwise (KEYHOLD_CIPHERTEXT_FORMAT). */
export const DEFAULT_CIPHERTEXT_FORMAT: CiphertextFormat = CIPHERTEXT_FORMAT_2;
/** format || KeyId || version: the part that names the key. */
export const HEAD_LENGTH = 21;
/** The per-message random salt that follows the head (HKDF's salt in format 1, part of its info in format 2). */
export const SALT_LENGTH = 32;
/** head || salt: the authenticated prefix before the ciphertext. */
export const PREFIX_LENGTH = HEAD_LENGTH + SALT_LENGTH;
/** The AES-GCM tag length; shorter tags are never accepted. */
export const TAG_LENGTH = 16;
/** A blob of an empty plaintext: prefix and tag only. */
export const MIN_BLOB_LENGTH = PREFIX_LENGTH + TAG_LENGTH;

const FORMAT_OFFSET = 0;
const KEY_ID_OFFSET = 1;
const UUID_LENGTH = 16;
const VERSION_OFFSET = KEY_ID_OFFSET + UUID_LENGTH;

/** The parts of a blob, as views into it (no copies): do not mutate the blob while in use. */
export interface ParsedCiphertext {
  readonly format: CiphertextFormat;
  readonly keyId: string;
  readonly version: number;
  /** blob[0:21], the end of the key derivation's info. */
  readonly head: Buffer;
  /** blob[21:53], the per-message salt. */
  readonly salt: Buffer;
  /** blob[0:53], the AAD prefix. */
  readonly prefix: Buffer;
  /** blob[53:], ciphertext || tag. */
  readonly body: Buffer;
}

/**
 * The 16 bytes of a hyphenated UUID, as stored in the blob head.
 * @example uuidToBytes('19e8782d-12e4-e972-8653-d19be3ec54bf').length // 16
 */
export function uuidToBytes(uuid: string): Buffer {
  assertKeyId(uuid);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/**
 * The lowercase hyphenated form of 16 UUID bytes.
 * @example bytesToUuid(blob.subarray(1, 17)) // '19e8782d-12e4-e972-8653-d19be3ec54bf'
 */
export function bytesToUuid(bytes: Uint8Array): string {
  /* Precondition: UUID bytes are exactly 16 bytes. */
  if (!(bytes instanceof Uint8Array) || bytes.length !== UUID_LENGTH) {
    throw new TypeError('UUID bytes must be 16 bytes');
  }
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * format || KeyId || version: the first 21 bytes of a blob, which also feed the key derivation's info.
 * @example encodeHead(keyId, 1) // 02 <16 KeyId bytes> 00000001
 */
export function encodeHead(keyId: string, version: number, format: CiphertextFormat = DEFAULT_CIPHERTEXT_FORMAT): Buffer {
  const head = Buffer.allocUnsafe(HEAD_LENGTH);
  writeHead(head, keyId, version, format);
  return head;
}

/**
 * Writes the head of `encodeHead` into the first 21 bytes of `target` (a blob being built).
 * @example writeHead(blob, keyId, 1) // blob[0:21] = 02 <16 KeyId bytes> 00000001
 */
export function writeHead(target: Buffer, keyId: string, version: number, format: CiphertextFormat = DEFAULT_CIPHERTEXT_FORMAT): void {
  assertKeyVersion(version);
  assertKeyId(keyId);
  /* Precondition: the target has room for the head. */
  if (target.length < HEAD_LENGTH) throw new RangeError('a head needs 21 bytes');
  /* Precondition: a format this module knows. */
  if (!isCiphertextFormat(format)) throw new RangeError('the ciphertext format must be 1 or 2');
  target[FORMAT_OFFSET] = format;
  // The KeyId was checked to be a hyphenated UUID, so its 32 hex digits fill the 16 bytes.
  target.write(keyId.replaceAll('-', ''), KEY_ID_OFFSET, UUID_LENGTH, 'hex');
  target.writeUInt32BE(version, VERSION_OFFSET);
}

/** Whether `value` is a format byte this module reads and writes. */
export function isCiphertextFormat(value: unknown): value is CiphertextFormat {
  return value === CIPHERTEXT_FORMAT_1 || value === CIPHERTEXT_FORMAT_2;
}

/**
 * Splits a blob (format 1 or 2) into its parts after checking its whole layout, so callers can find
 * the key by `keyId` and `version` before decrypting. Throws DecryptionFailedError for any
 * malformed blob, like every other decryption failure.
 *
 * @example
 *   const parsed = parseCiphertext(blob);
 *   const plaintext = decryptMessage(parsed, await versionKeyFor(parsed.keyId, parsed.version), context);
 */
export function parseCiphertext(blob: Uint8Array): ParsedCiphertext {
  /* Precondition: the whole layout is validated before any field is read. */
  /* Precondition: a blob is at least 69 bytes. */
  if (!(blob instanceof Uint8Array) || blob.length < MIN_BLOB_LENGTH) {
    throw new DecryptionFailedError();
  }
  const bytes = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  /* Precondition: the format byte is 0x01 or 0x02. */
  const format = bytes[FORMAT_OFFSET];
  if (!isCiphertextFormat(format)) throw new DecryptionFailedError();
  const version = bytes.readUInt32BE(VERSION_OFFSET);
  /* Precondition: the key version is at least 1. */
  if (version < 1) throw new DecryptionFailedError();

  return {
    format,
    keyId: bytesToUuid(bytes.subarray(KEY_ID_OFFSET, VERSION_OFFSET)),
    version,
    head: bytes.subarray(0, HEAD_LENGTH),
    salt: bytes.subarray(HEAD_LENGTH, PREFIX_LENGTH),
    prefix: bytes.subarray(0, PREFIX_LENGTH),
    body: bytes.subarray(PREFIX_LENGTH),
  };
}
