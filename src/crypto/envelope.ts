import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { CipherGCM, DecipherGCM } from 'node:crypto';
import {
  CIPHERTEXT_FORMAT_1,
  CIPHERTEXT_FORMAT_2,
  DEFAULT_CIPHERTEXT_FORMAT,
  HEAD_LENGTH,
  PREFIX_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  writeHead,
  type CiphertextFormat,
  type ParsedCiphertext,
} from './ciphertext-codec.js';
import { canonicalEncryptionContext } from './encryption-context.js';
import { DecryptionFailedError } from './errors.js';
import { hkdfSha256 } from './hkdf.js';
import { KEY_LENGTH, asVersionKey, type EncryptionContext, type VersionKey } from './types.js';

const AEAD_ALGORITHM = 'aes-256-gcm';
const DEK_INFO_LABEL = Buffer.from('keyhold/v1/dek', 'utf8');
const DEK_INFO_LABEL_2 = Buffer.from('keyhold/v2/dek', 'utf8');
const IV_LENGTH = 12;
const OKM_LENGTH = KEY_LENGTH + IV_LENGTH;

// Format 1's HKDF info, label || head, rebuilt in place for each message: it is read only
// within the synchronous HKDF call, and holds nothing secret.
const messageInfo = Buffer.alloc(DEK_INFO_LABEL.length + HEAD_LENGTH);
DEK_INFO_LABEL.copy(messageInfo);

// Format 2's fixed HKDF salt, and its HKDF-Expand input, label || head || salt || 0x01, rebuilt in
// place for each message the same way (public bytes only).
const FORMAT_2_EXTRACT_SALT = Buffer.from('keyhold/v2', 'utf8');
const messageInfo2 = Buffer.alloc(DEK_INFO_LABEL_2.length + PREFIX_LENGTH + 1);
DEK_INFO_LABEL_2.copy(messageInfo2);
messageInfo2[messageInfo2.length - 1] = 0x01;

// Salts are public (each is written into its blob), so they are drawn from random bytes fetched
// 4 KiB at a time rather than by one call into OpenSSL's DRBG per message; no byte is used twice.
const saltPool = Buffer.alloc(128 * SALT_LENGTH);
let saltPoolOffset = saltPool.length;

/** Copies 32 fresh random bytes into `target` at `offset`. */
function writeRandomSalt(target: Buffer, offset: number): void {
  if (saltPoolOffset === saltPool.length) {
    randomFillSync(saltPool);
    saltPoolOffset = 0;
  }
  saltPool.copy(target, offset, saltPoolOffset, saltPoolOffset + SALT_LENGTH);
  saltPoolOffset += SALT_LENGTH;
}

/** What `encryptMessage` needs; `salt` is for known-answer tests and is random otherwise. */
export interface EncryptMessageParams {
  versionKey: VersionKey;
  keyId: string;
  version: number;
  plaintext: Uint8Array;
  context?: EncryptionContext;
  salt?: Uint8Array;
  /** The blob's format: 2 unless told (1 while older Keyhold releases must still read new blobs). */
  format?: CiphertextFormat;
  /** `format2DerivationKey(versionKey)`, when the caller keeps it (else it is made and zeroed per message). */
  derivationKey?: Uint8Array;
}

/**
 * Format 2's HKDF-Extract of a version key: HMAC-SHA256(key = "keyhold/v2", message = version
 * key), the PRK every message key of that version is expanded from. It is as secret as the
 * version key: whoever keeps it (the key registry's cache) zeroes it with the version key.
 */
export function format2DerivationKey(versionKey: Uint8Array): Buffer {
  return createHmac('sha256', FORMAT_2_EXTRACT_SALT).update(versionKey).digest();
}

/**
 * Derives this message's key and IV from the version key and the blob prefix (by the format
 * its first byte names), and hands them to `create` only for the cipher's construction; the
 * derived bytes are zeroed right after.
 */
function withMessageKey<T>(versionKey: Buffer, prefix: Buffer, derivationKey: Uint8Array | undefined, create: (dek: Uint8Array, iv: Uint8Array) => T): T {
  if (prefix[0] === CIPHERTEXT_FORMAT_2) return withMessageKey2(versionKey, prefix, derivationKey, create);
  /* Precondition: a format this module knows (a hand-made ParsedCiphertext may name another). */
  if (prefix[0] !== CIPHERTEXT_FORMAT_1) throw new DecryptionFailedError();
  // A fresh key per message (salted by 32 random bytes) lifts the 2^32-messages limit of random
  // GCM nonces under one key; info carries the head, so the key is bound to KeyId and version.
  prefix.copy(messageInfo, DEK_INFO_LABEL.length, 0, HEAD_LENGTH);
  const okm = hkdfSha256(versionKey, prefix.subarray(HEAD_LENGTH, PREFIX_LENGTH), messageInfo, OKM_LENGTH);
  try {
    // The cipher copies the key schedule and IV at construction, so zeroing afterwards is safe.
    return create(okm.subarray(0, KEY_LENGTH), okm.subarray(KEY_LENGTH));
  } finally {
    okm.fill(0);
  }
}

/**
 * Format 2: dek = HKDF-SHA256(ikm = version key, salt = "keyhold/v2", info = "keyhold/v2/dek" ||
 * head || blob salt, 32 bytes), iv = blob salt[0:12]. The extract step depends on the version
 * key alone, so its PRK (`format2DerivationKey`) is made once per version key and kept beside
 * it; each message then costs one HMAC (HKDF-Expand's T(1)) where format 1 spends three, about
 * 8 µs per message here (bench/RESULTS.md, "Ciphertext format 2"). Each message still gets a
 * key of its own, bound to the KeyId, the version and all 32 bytes of the salt: a GCM (key, IV)
 * pair repeats only if a 256-bit random salt does under one key version. The version key is
 * only ever HMAC's message, never its key, as in format 1: an HMAC key imported with the same
 * bytes (GenerateMac) cannot compute a message key.
 */
function withMessageKey2<T>(versionKey: Buffer, prefix: Buffer, derivationKey: Uint8Array | undefined, create: (dek: Uint8Array, iv: Uint8Array) => T): T {
  /* Precondition: a derivation key given is a PRK of 32 bytes (a wrong one only fails the tag). */
  if (derivationKey !== undefined && derivationKey.length !== KEY_LENGTH) throw new TypeError('a derivation key must be 32 bytes');
  prefix.copy(messageInfo2, DEK_INFO_LABEL_2.length, 0, PREFIX_LENGTH);
  const prk = derivationKey ?? format2DerivationKey(versionKey);
  let dek: Buffer | undefined;
  try {
    dek = createHmac('sha256', prk).update(messageInfo2).digest();
    return create(dek, prefix.subarray(HEAD_LENGTH, HEAD_LENGTH + IV_LENGTH));
  } finally {
    dek?.fill(0);
    if (prk !== derivationKey) prk.fill(0);
  }
}

/** AAD = blob[0:53] || canonical(context), given in two pieces: GCM hashes AAD as one stream. */
function setMessageAad(cipher: CipherGCM | DecipherGCM, prefix: Buffer, context: EncryptionContext | undefined): void {
  // The prefix in the AAD binds KeyId, version and salt; the context binds the caller's pairs.
  cipher.setAAD(prefix);
  const canonicalContext = canonicalEncryptionContext(context);
  if (canonicalContext.length > 0) cipher.setAAD(canonicalContext);
}

/**
 * Seals a plaintext into a blob of format 2 (or the format given) under one key version. A
 * given salt makes the result deterministic (for known-answer tests); leave it out everywhere else.
 *
 * @example
 *   const blob = encryptMessage({ versionKey, keyId, version: 3, plaintext, context: { tenant: 'acme' } });
 */
export function encryptMessage(params: EncryptMessageParams): Buffer {
  const { versionKey, keyId, version, plaintext, context, format = DEFAULT_CIPHERTEXT_FORMAT, derivationKey } = params;
  asVersionKey(versionKey); // the brand is a compile-time promise; the length is checked here
  const { salt } = params;
  /* Precondition: a given salt is exactly 32 bytes. */
  if (salt !== undefined && (!(salt instanceof Uint8Array) || salt.length !== SALT_LENGTH)) {
    throw new TypeError('a salt must be 32 bytes');
  }

  // One allocation for the whole blob; the prefix is written in place and used as a view.
  const ciphertextLength = plaintext.length;
  const blob = Buffer.allocUnsafe(PREFIX_LENGTH + ciphertextLength + TAG_LENGTH);
  writeHead(blob, keyId, version, format);
  if (salt === undefined) writeRandomSalt(blob, HEAD_LENGTH);
  else blob.set(salt, HEAD_LENGTH);
  const prefix = blob.subarray(0, PREFIX_LENGTH);

  const cipher = withMessageKey(versionKey, prefix, derivationKey, (dek, iv) =>
    createCipheriv(AEAD_ALGORITHM, dek, iv, { authTagLength: TAG_LENGTH }),
  );
  setMessageAad(cipher, prefix, context);
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  /* Postcondition: GCM is a stream mode, so the ciphertext is as long as the plaintext. */
  if (ciphertext.length !== ciphertextLength) throw new Error('AES-GCM returned an unexpected length');
  ciphertext.copy(blob, PREFIX_LENGTH);
  cipher.getAuthTag().copy(blob, PREFIX_LENGTH + ciphertextLength);
  return blob;
}

/**
 * Opens a parsed blob (format 1 or 2) with its version key and the context it was sealed with
 * (and `format2DerivationKey(versionKey)`, if the caller keeps it). Any failure (wrong key,
 * wrong context, tampered or malformed parts) is one DecryptionFailedError.
 *
 * @example
 *   const parsed = parseCiphertext(blob);
 *   const plaintext = decryptMessage(parsed, versionKey, { tenant: 'acme' });
 */
export function decryptMessage(parsed: ParsedCiphertext, versionKey: VersionKey, context?: EncryptionContext, derivationKey?: Uint8Array): Buffer {
  let plaintext: Buffer | undefined;
  try {
    const { prefix, body } = parsed;
    /* Precondition: the parsed parts have the lengths of formats 1 and 2. */
    // Only prefix and body are read: head and salt are views of the prefix, so a hand-made
    // ParsedCiphertext cannot pair one blob's salt with another blob's head.
    if (prefix.length !== PREFIX_LENGTH || body.length < TAG_LENGTH) throw new DecryptionFailedError();
    const ciphertextLength = body.length - TAG_LENGTH;

    const decipher = withMessageKey(versionKey, prefix, derivationKey, (dek, iv) =>
      createDecipheriv(AEAD_ALGORITHM, dek, iv, { authTagLength: TAG_LENGTH }),
    );
    setMessageAad(decipher, prefix, context);
    decipher.setAuthTag(body.subarray(ciphertextLength));
    plaintext = decipher.update(body.subarray(0, ciphertextLength));
    decipher.final();
    return plaintext;
  } catch {
    // GCM decrypts before the tag is checked: unverified plaintext must not outlive a failure.
    plaintext?.fill(0);
    throw new DecryptionFailedError();
  }
}
