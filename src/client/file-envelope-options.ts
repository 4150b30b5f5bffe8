/**
 * What the file-encryption functions take and return, shared by the stream functions
 * (src/client/file-envelope.ts), the path functions (src/client/file-envelope-paths.ts) and
 * the key step (src/client/file-envelope-keys.ts). In a file of its own because
 * file-envelope.ts imports the other two: they take these types from here, not from it.
 */
import type { EncryptionContext } from './types.js';

/** A fresh data key as GenerateDataKey returns it. `plaintext` is zeroed once used. */
export interface FileDataKey {
  plaintext: Buffer;
  ciphertextBlob: Buffer;
  keyId?: string;
}

export interface EncryptFileOptions {
  /** Called once per file: GenerateDataKey with KeySpec AES_256 under this context. */
  generateDataKey: (encryptionContext: Readonly<EncryptionContext>) => Promise<FileDataKey>;
  /** Stored in the header (not secret) and bound into the wrapped key; at most 8 KiB as JSON. */
  encryptionContext?: EncryptionContext;
  /** Plaintext bytes per chunk, 1024..16777216. Default 65536. */
  chunkSize?: number;
}

export interface EncryptFileResult {
  bytesIn: number;
  bytesOut: number;
  /** The key that wrapped the data key, when generateDataKey said. */
  keyId?: string;
}

export interface DecryptFileOptions {
  /**
   * Called once per file: Decrypt of the wrapped data key under the header's context. May
   * return the data key, or `{ plaintext, keyId }` as KeyholdClient.decrypt does. The
   * returned key is zeroed once used.
   */
  decrypt: (
    ciphertextBlob: Buffer,
    encryptionContext: Readonly<EncryptionContext>,
  ) => Promise<Buffer | { plaintext: Buffer; keyId?: string }>;
}

export interface DecryptFileResult {
  bytesOut: number;
  keyId?: string;
  /** The context from the header, authenticated by the KMS: check it is the one you expect. */
  encryptionContext: Readonly<EncryptionContext>;
}
