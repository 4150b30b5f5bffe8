/**
 * Envelope encryption of files of any size, streamed in constant memory: one data key per file
 * from the KMS, wrapped in a small header, and the data in AES-256-GCM chunks whose nonces
 * carry the chunk's position and a final-chunk flag (after age's STREAM construction and the
 * AWS Encryption SDK's framed message format). Used by `keyhold encrypt-file` / `decrypt-file`.
 *
 * ## The Keyhold encrypted file format, version 1 (`KHF1`)
 *
 * A file is a header, then one or more chunks. Integers are unsigned big-endian.
 *
 * | Offset   | Size | Field            | Contents                                                              |
 * |----------|------|------------------|-----------------------------------------------------------------------|
 * | 0        | 4    | magic            | `KHF1` (`4b 48 46 31`)                                                |
 * | 4        | 1    | version          | `1`                                                                   |
 * | 5        | 4    | chunk size       | plaintext bytes per chunk, 1024..16777216 (default 65536)             |
 * | 9        | 2    | context length   | n, 2..8192                                                            |
 * | 11       | n    | context          | the encryption context as canonical JSON (below); not secret          |
 * | 11+n     | 2    | wrapped key len  | m, 1..4096                                                            |
 * | 13+n     | m    | wrapped data key | the `CiphertextBlob` of GenerateDataKey(AES_256, context)             |
 * | 13+n+m   | 32   | file salt        | random, new for every file                                            |
 *
 * The header is 45 + n + m bytes. Canonical JSON: one object of string values, members sorted
 * by the UTF-8 bytes of their keys, no whitespace, strings escaped as JSON.stringify does,
 * UTF-8; keys non-empty, no lone surrogates. `{}` when there is no context. A reader accepts
 * only this form. The key id is not in the header: the wrapped key names its key itself.
 *
 * **Payload key** = HKDF-SHA256(ikm = data key, salt = file salt,
 * info = `"keyhold/file/v1"` || SHA-256(header bytes)), 32 bytes. The data key and payload
 * key buffers are zeroed once the file is done.
 *
 * **Chunks**, numbered i = 0, 1, …, each sealed with AES-256-GCM under the payload key:
 *
 * | Part       | Size                                                          |
 * |------------|---------------------------------------------------------------|
 * | ciphertext | chunk size for every chunk but the last; 0..chunk size-1 for the last |
 * | tag        | 16                                                            |
 *
 * nonce_i = i as 11 bytes || final flag (1 byte: 1 on the last chunk, else 0); AAD empty.
 * The last chunk is the one shorter than chunk size, so a file of L bytes has
 * floor(L / chunk size) + 1 chunks and is 45 + n + m + L + 16 * (floor(L / chunk size) + 1)
 * bytes: an empty file is one empty final chunk, and a file whose size is a multiple of the
 * chunk size ends with an empty final chunk.
 *
 * **Decryption** reads the header (each length checked against its bound before the field is
 * read), asks the KMS to decrypt the wrapped key under the header's context, derives the
 * payload key, then reads chunk size + 16 bytes at a time: a full record is a non-final chunk,
 * a shorter one (16 bytes at least) is the final chunk and must end the file. Each chunk is
 * decrypted and its tag verified before any of its plaintext is written.
 *
 * | Attack                                        | Refused because                                              | Error                     |
 * |-----------------------------------------------|--------------------------------------------------------------|---------------------------|
 * | not a KHF1 file, unknown version              | magic and version are checked first                          | ERR_KEYHOLD_FILE_FORMAT   |
 * | oversized or out-of-range header field        | every length is bounded before its field is read             | ERR_KEYHOLD_FILE_FORMAT   |
 * | truncation inside the header                  | the header is incomplete                                     | ERR_KEYHOLD_FILE_FORMAT   |
 * | truncation inside a chunk                     | the shortened record is taken as final and its tag fails     | ERR_KEYHOLD_FILE_TAMPERED |
 * | truncation at a chunk boundary, final dropped | the file ends after a full record: no final chunk was seen   | ERR_KEYHOLD_FILE_TAMPERED |
 * | bytes appended after the final chunk          | they join the final record, which then fails its tag         | ERR_KEYHOLD_FILE_TAMPERED |
 * | chunks reordered, duplicated or dropped       | the counter in the nonce no longer matches                   | ERR_KEYHOLD_FILE_TAMPERED |
 * | a chunk from another file                     | each file has its own payload key (own data key, own salt)   | ERR_KEYHOLD_FILE_TAMPERED |
 * | any bit flipped in a chunk or tag             | GCM authentication                                           | ERR_KEYHOLD_FILE_TAMPERED |
 * | header swapped between files, salt or chunk size edited | the payload key is bound to SHA-256(header)        | ERR_KEYHOLD_FILE_TAMPERED |
 * | context or wrapped key edited                 | the KMS refuses to unwrap (the context is in the wrapped key's AAD); were it to, the header hash would still change the key | the KMS's error (InvalidCiphertextException) |
 *
 * Not covered: an attacker allowed to call GenerateDataKey on the same key can make a valid
 * file with any context, so check `encryptionContext` in the result against what you expect.
 * `decryptFile` to a stream writes each chunk once it is authenticated: if a later chunk fails,
 * the output already holds a verified prefix; `decryptFileAtPath` writes to a temporary file
 * and renames it only when the whole file authenticated.
 *
 * Design notes. The header is bound through the key rather than per-chunk AAD: the key must
 * come from the header anyway, and a key derived from the header hash makes every header edit
 * fail at the first chunk, which always exists (even for an empty file), so the header is
 * authenticated before any plaintext is released. The final chunk is the short one rather than
 * "the last full chunk, flagged": age's choice needs look-ahead in the encryptor and, for a
 * full-size last chunk, a second trial decryption with the other flag; ours reads the flag
 * off the record length at the cost of 16 bytes when the size is a chunk multiple. With that
 * rule (and GCM authenticating each ciphertext's length) the flag is redundant, and kept as
 * defense in depth: it puts the rule into the cryptography, so a short chunk sealed as
 * non-final, or a full one sealed as final, is refused too. Memory, whatever the file size:
 * one chunk of plaintext and the streams' buffers; the path functions read and write through
 * file handles in blocks of about 128 KiB (src/client/file-envelope-blocks.ts), two blocks
 * read and one written at a time.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openChunks, sealChunks, type ChunkTotals } from './file-envelope-chunks.js';
import { readHeader } from './file-envelope-header.js';
import { encryptionSettings, newFileKey, openFileKey } from './file-envelope-keys.js';
import type { DecryptFileOptions, DecryptFileResult, EncryptFileOptions, EncryptFileResult } from './file-envelope-options.js';
import { ByteReader } from './file-envelope-reader.js';
import type { EncryptionContext } from './types.js';

export { FileEnvelopeError, type FileEnvelopeErrorCode } from './file-envelope-error.js';
export { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './file-envelope-header.js';
export type { DecryptFileOptions, DecryptFileResult, EncryptFileOptions, EncryptFileResult, FileDataKey } from './file-envelope-options.js';
export { decryptFileAtPath, encryptFileAtPath } from './file-envelope-paths.js';

/**
 * Encrypts `input` into `output` in the KHF1 format. Resolves when `output` has finished;
 * on failure both streams are destroyed.
 *
 * @example
 *   await encryptFile(process.stdin, process.stdout, {
 *     encryptionContext: { purpose: 'backup' },
 *     generateDataKey: (encryptionContext) =>
 *       client.generateDataKey({ keyId: 'alias/backups', keySpec: 'AES_256', encryptionContext }),
 *   });
 */
export async function encryptFile(
  input: Readable,
  output: Writable,
  options: EncryptFileOptions,
): Promise<EncryptFileResult> {
  const settings = encryptionSettings(options);
  const totals: ChunkTotals = { plaintextBytes: 0 };
  let bytesOut = 0;
  let keyId: string | undefined;
  await pipeline(
    input,
    async function* (source: AsyncIterable<unknown>) {
      const fileKey = await newFileKey(options, settings);
      keyId = fileKey.keyId;
      try {
        yield fileKey.header;
        bytesOut += fileKey.header.length;
        for await (const piece of sealChunks(new ByteReader(source), fileKey.payloadKey, settings.chunkSize, totals)) {
          bytesOut += piece.length;
          yield piece;
        }
      } finally {
        fileKey.payloadKey.fill(0);
      }
    },
    output,
  );
  return { bytesIn: totals.plaintextBytes, bytesOut, ...(keyId === undefined ? {} : { keyId }) };
}

/**
 * Decrypts a KHF1 `input` into `output`. Each chunk is written only after its tag verified,
 * but a later chunk can still fail: treat `output` as incomplete until this resolves (or use
 * decryptFileAtPath). On failure both streams are destroyed.
 *
 * @example
 *   const { encryptionContext } = await decryptFile(process.stdin, process.stdout, {
 *     decrypt: (ciphertextBlob, encryptionContext) => client.decrypt({ ciphertextBlob, encryptionContext }),
 *   });
 */
export async function decryptFile(
  input: Readable,
  output: Writable,
  options: DecryptFileOptions,
): Promise<DecryptFileResult> {
  const totals: ChunkTotals = { plaintextBytes: 0 };
  let keyId: string | undefined;
  let encryptionContext: Readonly<EncryptionContext> = {};
  await pipeline(
    input,
    async function* (source: AsyncIterable<unknown>) {
      const reader = new ByteReader(source);
      const header = await readHeader(reader);
      encryptionContext = header.encryptionContext;
      const fileKey = await openFileKey(header, options);
      keyId = fileKey.keyId;
      try {
        yield* openChunks(reader, fileKey.payloadKey, header.chunkSize, totals);
      } finally {
        fileKey.payloadKey.fill(0);
      }
    },
    output,
  );
  return { bytesOut: totals.plaintextBytes, ...(keyId === undefined ? {} : { keyId }), encryptionContext };
}
