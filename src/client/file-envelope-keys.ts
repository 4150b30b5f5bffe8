/**
 * The key step at the start of every encrypted file (layout in src/client/file-envelope.ts):
 * the options checked, the data key from the KMS, the header, the payload key. Shared by the
 * stream functions and the path functions, so both derive keys the same way.
 */
import { randomBytes } from 'node:crypto';
import { DATA_KEY_LENGTH, derivePayloadKey } from './file-envelope-chunks.js';
import { formatError } from './file-envelope-error.js';
import {
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MAX_CONTEXT_BYTES,
  MIN_CHUNK_SIZE,
  SALT_LENGTH,
  canonicalContextJson,
  encodeHeader,
  type FileHeader,
} from './file-envelope-header.js';
import type { DecryptFileOptions, EncryptFileOptions } from './file-envelope-options.js';
import type { EncryptionContext } from './types.js';

export interface EncryptionSettings {
  chunkSize: number;
  contextJson: Buffer;
  encryptionContext: Readonly<EncryptionContext>;
}

/** A file's payload key (zero it when the file is done) and the key that wrapped its data key. */
export interface FileKey {
  payloadKey: Buffer;
  keyId: string | undefined;
}

/**
 * The checked chunk size and context of an encryption. Bad options throw here, before any
 * stream or file is touched.
 */
export function encryptionSettings(options: EncryptFileOptions): EncryptionSettings {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  /* Precondition: the chunk size is an integer within 1 KiB..16 MiB. */
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`chunkSize must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  const contextJson = canonicalContextJson(options.encryptionContext);
  /* Precondition: the encryption context is at most 8 KiB as canonical JSON. */
  if (contextJson.length > MAX_CONTEXT_BYTES) {
    throw new RangeError(`encryptionContext must be at most ${MAX_CONTEXT_BYTES} bytes as canonical JSON`);
  }
  // The KMS gets the context read back from the header bytes, so the two cannot differ.
  const encryptionContext = Object.freeze(JSON.parse(contextJson.toString('utf8')) as EncryptionContext);
  return { chunkSize, contextJson, encryptionContext };
}

/** GenerateDataKey for a new file: its header and payload key. The data key is zeroed. */
export async function newFileKey(
  options: EncryptFileOptions,
  settings: EncryptionSettings,
): Promise<FileKey & { header: Buffer }> {
  const dataKey = await options.generateDataKey(settings.encryptionContext);
  const salt = randomBytes(SALT_LENGTH);
  const { header, payloadKey } = useDataKey(dataKey.plaintext, (key) => {
    /* Precondition: the data key is a 32-byte AES-256 key and its wrapped form is bytes. */
    if (key.length !== DATA_KEY_LENGTH || !Buffer.isBuffer(dataKey.ciphertextBlob)) {
      throw new TypeError(`generateDataKey must return a ${DATA_KEY_LENGTH}-byte plaintext and a ciphertextBlob`);
    }
    const { chunkSize, contextJson } = settings;
    const header = encodeHeader({ chunkSize, contextJson, wrappedDataKey: dataKey.ciphertextBlob, salt });
    return { header, payloadKey: derivePayloadKey(key, salt, header) };
  });
  return { header, payloadKey, keyId: dataKey.keyId };
}

/** Decrypt of the header's wrapped data key under its context: the file's payload key. */
export async function openFileKey(header: FileHeader, options: DecryptFileOptions): Promise<FileKey> {
  const answer = await options.decrypt(header.wrappedDataKey, header.encryptionContext);
  const payloadKey = useDataKey(Buffer.isBuffer(answer) ? answer : answer.plaintext, (key) => {
    /* Precondition: the wrapped key held an AES-256 data key. */
    if (key.length !== DATA_KEY_LENGTH) {
      throw formatError(`The wrapped data key in the header is not a ${DATA_KEY_LENGTH}-byte data key`);
    }
    return derivePayloadKey(key, header.salt, header.bytes);
  });
  return { payloadKey, keyId: Buffer.isBuffer(answer) ? undefined : answer.keyId };
}

/** Runs `derive` on the data key, then zeroes the key whatever happened. */
function useDataKey<T>(dataKey: unknown, derive: (key: Buffer) => T): T {
  /* Precondition: the key function answered with a data key in a Buffer. */
  if (!Buffer.isBuffer(dataKey)) throw new TypeError('The data key must be a Buffer');
  try {
    return derive(dataKey);
  } finally {
    dataKey.fill(0);
  }
}
