import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import type { CipherGCM, DecipherGCM } from 'node:crypto';
import {
  HEAD_LENGTH,
  PREFIX_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  writeHead,
  type ParsedCiphertext,
} from './ciphertext-codec.js';
import { canonicalEncryptionContext } from './encryption-context.js';
import { DecryptionFailedError } from './errors.js';
import { hkdfSha256 } from './hkdf.js';
import { KEY_LENGTH, asVersionKey, type EncryptionContext, type VersionKey } from './types.js';

const AEAD_ALGORITHM = 'aes-256-gcm';
const DEK_INFO_LABEL = Buffer.from('keyhold/v1/dek', 'utf8');
const IV_LENGTH = 12;
const OKM_LENGTH = KEY_LENGTH + IV_LENGTH;

// HKDF's info, label || head, rebuilt in place for each message: it is read only within the
// synchronous HKDF call, and holds nothing secret.
const messageInfo = Buffer.alloc(DEK_INFO_LABEL.length + HEAD_LENGTH);
DEK_INFO_LABEL.copy(messageInfo);

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
}

/**
 * Derives this message's key and IV from the version key and the blob prefix, and hands them
 * to `create` only for the cipher's construction; the derived bytes are zeroed right after.
 */
function withMessageKey<T>(versionKey: Buffer, prefix: Buffer, create: (dek: Uint8Array, iv: Uint8Array) => T): T {
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

/** AAD = blob[0:53] || canonical(context), given in two pieces: GCM hashes AAD as one stream. */
function setMessageAad(cipher: CipherGCM | DecipherGCM, prefix: Buffer, context: EncryptionContext | undefined): void {
  // The prefix in the AAD binds KeyId, version and salt; the context binds the caller's pairs.
  cipher.setAAD(prefix);
  const canonicalContext = canonicalEncryptionContext(context);
  if (canonicalContext.length > 0) cipher.setAAD(canonicalContext);
}

/**
 * Seals a plaintext into a format-1 blob under one key version. A given salt makes the result
 * deterministic (for known-answer tests); leave it out everywhere else.
 *
 * @example
 *   const blob = encryptMessage({ versionKey, keyId, version: 3, plaintext, context: { tenant: 'acme' } });
 */
export function encryptMessage(params: EncryptMessageParams): Buffer {
  const { versionKey, keyId, version, plaintext, context } = params;
  asVersionKey(versionKey); // the brand is a compile-time promise; the length is checked here
  const { salt } = params;
  /* Precondition: a given salt is exactly 32 bytes. */
  if (salt !== undefined && (!(salt instanceof Uint8Array) || salt.length !== SALT_LENGTH)) {
    throw new TypeError('a salt must be 32 bytes');
  }

  // One allocation for the whole blob; the prefix is written in place and used as a view.
  const ciphertextLength = plaintext.length;
  const blob = Buffer.allocUnsafe(PREFIX_LENGTH + ciphertextLength + TAG_LENGTH);
  writeHead(blob, keyId, version);
  if (salt === undefined) writeRandomSalt(blob, HEAD_LENGTH);
  else blob.set(salt, HEAD_LENGTH);
  const prefix = blob.subarray(0, PREFIX_LENGTH);

  const cipher = withMessageKey(versionKey, prefix, (dek, iv) =>
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
 * Opens a parsed format-1 blob with its version key and the context it was sealed with.
 * Any failure (wrong key, wrong context, tampered or malformed parts) is one DecryptionFailedError.
 *
 * @example
 *   const parsed = parseCiphertext(blob);
 *   const plaintext = decryptMessage(parsed, versionKey, { tenant: 'acme' });
 */
export function decryptMessage(parsed: ParsedCiphertext, versionKey: VersionKey, context?: EncryptionContext): Buffer {
  let plaintext: Buffer | undefined;
  try {
    const { prefix, body } = parsed;
    /* Precondition: the parsed parts have the format-1 lengths. */
    // Only prefix and body are read: head and salt are views of the prefix, so a hand-made
    // ParsedCiphertext cannot pair one blob's salt with another blob's head.
    if (prefix.length !== PREFIX_LENGTH || body.length < TAG_LENGTH) throw new DecryptionFailedError();
    const ciphertextLength = body.length - TAG_LENGTH;

    const decipher = withMessageKey(versionKey, prefix, (dek, iv) =>
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
