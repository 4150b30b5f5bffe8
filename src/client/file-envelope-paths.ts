/**
 * Envelope encryption from one file to another (what `keyhold encrypt-file` / `decrypt-file`
 * run), in the format of src/client/file-envelope.ts. The files are read and written through
 * file handles in blocks rather than through streams (src/client/file-envelope-blocks.ts):
 * the same bytes, faster and in less memory. OUT is written through a temporary file and
 * appears whole or not at all.
 */
import { open } from 'node:fs/promises';
import { checkOutputPath, writeFileAtomically } from './file-envelope-atomic.js';
import { openBlocks, readUpTo, sealBlocks, writeAll } from './file-envelope-blocks.js';
import { MAX_HEADER_LENGTH, readHeader } from './file-envelope-header.js';
import { encryptionSettings, newFileKey, openFileKey } from './file-envelope-keys.js';
import { ByteReader } from './file-envelope-reader.js';
import type {
  DecryptFileOptions,
  DecryptFileResult,
  EncryptFileOptions,
  EncryptFileResult,
} from './file-envelope-options.js';

/**
 * encryptFile from the file `inPath` to the file `outPath`, through a temporary file beside
 * OUT (mode 0600) renamed over it at the end: OUT is whole or untouched.
 *
 * @example
 *   await encryptFileAtPath('backup.tar', 'backup.tar.khf', { generateDataKey, encryptionContext: { host: 'db1' } });
 */
export async function encryptFileAtPath(
  inPath: string,
  outPath: string,
  options: EncryptFileOptions,
): Promise<EncryptFileResult> {
  const settings = encryptionSettings(options); // bad options throw before a file is opened
  checkOutputPath(outPath); // before the KMS is asked for a data key
  const input = await open(inPath, 'r');
  try {
    const { header, payloadKey, keyId } = await newFileKey(options, settings);
    try {
      const { plaintextBytes, bytesWritten } = await writeFileAtomically(outPath, async (output) => {
        await writeAll(output, [header]);
        return sealBlocks(input, output, payloadKey, settings.chunkSize);
      });
      const result = { bytesIn: plaintextBytes, bytesOut: header.length + bytesWritten };
      return keyId === undefined ? result : { ...result, keyId };
    } finally {
      payloadKey.fill(0);
    }
  } finally {
    await input.close();
  }
}

/**
 * decryptFile from the file `inPath` to the file `outPath`: the plaintext goes to a temporary
 * file beside OUT (mode 0600), renamed to OUT only once every chunk authenticated and the
 * final chunk was seen, and fsynced before the rename so that a crash cannot leave a short OUT
 * either. On any failure the temporary file is removed and OUT is not created or changed.
 *
 * @example
 *   await decryptFileAtPath('backup.tar.khf', 'backup.tar', {
 *     decrypt: (ciphertextBlob, encryptionContext) => client.decrypt({ ciphertextBlob, encryptionContext }),
 *   });
 */
export async function decryptFileAtPath(
  inPath: string,
  outPath: string,
  options: DecryptFileOptions,
): Promise<DecryptFileResult> {
  checkOutputPath(outPath); // before the KMS is asked to unwrap the data key
  const input = await open(inPath, 'r');
  try {
    // The header is at most MAX_HEADER_LENGTH bytes; what was read past it starts the chunks.
    const start = await readUpTo(input, MAX_HEADER_LENGTH);
    const header = await readHeader(new ByteReader(once(start)));
    const { payloadKey, keyId } = await openFileKey(header, options);
    try {
      const afterHeader = start.subarray(header.bytes.length);
      const bytesOut = await writeFileAtomically(outPath, (output) =>
        openBlocks(input, output, payloadKey, header.chunkSize, afterHeader),
      );
      const result = { bytesOut, encryptionContext: header.encryptionContext };
      return keyId === undefined ? result : { ...result, keyId };
    } finally {
      payloadKey.fill(0);
    }
  } finally {
    await input.close();
  }
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}
