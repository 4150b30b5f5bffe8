/**
 * The header of a Keyhold encrypted file (layout in src/client/file-envelope.ts): written
 * once, read field by field, every length checked against its bound before the bytes it
 * announces are read or sliced.
 */
import { FileEnvelopeError, formatError } from './file-envelope-error.js';
import type { ByteReader } from './file-envelope-reader.js';
import type { EncryptionContext } from './types.js';

export const MAGIC = Buffer.from('KHF1', 'ascii');
export const FORMAT_VERSION = 1;
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 65_536;
export const MAX_CONTEXT_BYTES = 8192;
export const MAX_WRAPPED_KEY_BYTES = 4096;
export const SALT_LENGTH = 32;

// magic(4) version(1) chunkSize(4) contextLength(2): everything before the first variable field.
const FIXED_LENGTH = 11;
const LENGTH_FIELD = 2;
const EMPTY_CONTEXT_JSON_LENGTH = 2; // "{}"

/** The longest valid header: 12,333 bytes. */
export const MAX_HEADER_LENGTH = FIXED_LENGTH + MAX_CONTEXT_BYTES + LENGTH_FIELD + MAX_WRAPPED_KEY_BYTES + SALT_LENGTH;

/** A header as read from a file: `bytes` is exactly what the payload key is bound to. */
export interface FileHeader {
  readonly bytes: Buffer;
  readonly chunkSize: number;
  readonly encryptionContext: Readonly<EncryptionContext>;
  readonly wrappedDataKey: Buffer;
  readonly salt: Buffer;
}

/**
 * The encryption context as canonical JSON: pairs sorted by the UTF-8 bytes of their keys,
 * no whitespace, JSON.stringify's string escaping. Built by hand because a JS object puts
 * integer-like keys first whatever order they were inserted in.
 *
 * @example canonicalContextJson({ b: '2', a: '1' }).toString() // '{"a":"1","b":"2"}'
 */
export function canonicalContextJson(context: EncryptionContext = {}): Buffer {
  /* Precondition: the context is a plain object of non-empty keys and string values. */
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new TypeError('encryptionContext must be an object whose values are strings');
  }
  const pairs = Object.entries(context).map(([key, value]) => {
    if (key.length === 0 || typeof value !== 'string') {
      throw new TypeError('encryptionContext keys must be non-empty strings and values strings');
    }
    // A lone surrogate has no UTF-8 form: two contexts would share one encoding.
    if (!key.isWellFormed() || !value.isWellFormed()) {
      throw new TypeError('encryptionContext keys and values must be well-formed Unicode');
    }
    return { key, keyBytes: Buffer.from(key, 'utf8'), value };
  });
  pairs.sort((left, right) => Buffer.compare(left.keyBytes, right.keyBytes));
  const members = pairs.map(({ key, value }) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return Buffer.from(`{${members.join(',')}}`, 'utf8');
}

/** The header bytes for one file. Callers validate chunkSize; the field bounds are checked here. */
export function encodeHeader(fields: {
  chunkSize: number;
  contextJson: Buffer;
  wrappedDataKey: Buffer;
  salt: Buffer;
}): Buffer {
  const { chunkSize, contextJson, wrappedDataKey, salt } = fields;
  /* Precondition: every field fits its length prefix and its bound. */
  if (contextJson.length > MAX_CONTEXT_BYTES) {
    throw new TypeError(`encryptionContext must be at most ${MAX_CONTEXT_BYTES} bytes as canonical JSON`);
  }
  if (wrappedDataKey.length < 1 || wrappedDataKey.length > MAX_WRAPPED_KEY_BYTES) {
    throw new TypeError(`The wrapped data key must be 1 to ${MAX_WRAPPED_KEY_BYTES} bytes`);
  }
  if (salt.length !== SALT_LENGTH) throw new TypeError(`The file salt must be ${SALT_LENGTH} bytes`);

  const header = Buffer.alloc(FIXED_LENGTH + contextJson.length + LENGTH_FIELD + wrappedDataKey.length + SALT_LENGTH);
  let offset = MAGIC.copy(header, 0);
  offset = header.writeUInt8(FORMAT_VERSION, offset);
  offset = header.writeUInt32BE(chunkSize, offset);
  offset = header.writeUInt16BE(contextJson.length, offset);
  offset += contextJson.copy(header, offset);
  offset = header.writeUInt16BE(wrappedDataKey.length, offset);
  offset += wrappedDataKey.copy(header, offset);
  salt.copy(header, offset);
  return header;
}

/**
 * Reads the header from the start of a file. Each length is checked against its bound before
 * the field it announces is read, so a hostile length cannot make the reader buffer more than
 * the largest valid header (under 13 KiB).
 */
export async function readHeader(reader: ByteReader): Promise<FileHeader> {
  const fixed = await reader.readBuffer(FIXED_LENGTH);
  /* Precondition: the file starts with the magic "KHF1". */
  if (fixed.length < MAGIC.length || !fixed.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw formatError('Not a Keyhold encrypted file (the magic "KHF1" is missing)');
  }
  /* Precondition: the header is complete. */
  if (fixed.length < FIXED_LENGTH) throw endsInsideHeader();
  const version = fixed.readUInt8(4);
  /* Precondition: the format version is one this code reads. */
  if (version !== FORMAT_VERSION) {
    throw formatError(`Unsupported Keyhold file format version ${version} (this version reads ${FORMAT_VERSION})`);
  }
  const chunkSize = fixed.readUInt32BE(5);
  /* Precondition: the chunk size is within 1 KiB..16 MiB. */
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw formatError(`The chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  }
  const contextLength = fixed.readUInt16BE(9);
  /* Precondition: the encryption context is at most 8 KiB. */
  if (contextLength < EMPTY_CONTEXT_JSON_LENGTH || contextLength > MAX_CONTEXT_BYTES) {
    throw formatError(`The encryption context length ${contextLength} is outside ${EMPTY_CONTEXT_JSON_LENGTH}..${MAX_CONTEXT_BYTES}`);
  }

  const contextAndLength = await reader.readBuffer(contextLength + LENGTH_FIELD);
  if (contextAndLength.length < contextLength + LENGTH_FIELD) throw endsInsideHeader();
  const contextJson = contextAndLength.subarray(0, contextLength);
  const wrappedKeyLength = contextAndLength.readUInt16BE(contextLength);
  /* Precondition: the wrapped data key is 1 to 4096 bytes. */
  if (wrappedKeyLength < 1 || wrappedKeyLength > MAX_WRAPPED_KEY_BYTES) {
    throw formatError(`The wrapped data key length ${wrappedKeyLength} is outside 1..${MAX_WRAPPED_KEY_BYTES}`);
  }

  const keyAndSalt = await reader.readBuffer(wrappedKeyLength + SALT_LENGTH);
  if (keyAndSalt.length < wrappedKeyLength + SALT_LENGTH) throw endsInsideHeader();

  // Copies, so that no later use can alias the input stream's buffers.
  const bytes = Buffer.concat([fixed, contextAndLength, keyAndSalt]);
  const keyStart = FIXED_LENGTH + contextLength + LENGTH_FIELD;
  return {
    bytes,
    chunkSize,
    encryptionContext: parseContextJson(contextJson),
    wrappedDataKey: bytes.subarray(keyStart, keyStart + wrappedKeyLength),
    salt: bytes.subarray(keyStart + wrappedKeyLength),
  };
}

/**
 * The context from its header bytes. Only the canonical encoding is accepted, so one context
 * has exactly one header form (no duplicate keys, no whitespace, no reordering).
 */
function parseContextJson(contextJson: Buffer): Readonly<EncryptionContext> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(contextJson));
  } catch {
    throw formatError('The encryption context in the header is not UTF-8 JSON');
  }
  /* Precondition: the context is canonical JSON of an object of strings. */
  let canonical: Buffer;
  try {
    canonical = canonicalContextJson(parsed as EncryptionContext);
  } catch {
    throw formatError('The encryption context in the header is not an object of strings');
  }
  if (!canonical.equals(contextJson)) {
    throw formatError('The encryption context in the header is not in canonical form');
  }
  return Object.freeze(parsed as EncryptionContext);
}

function endsInsideHeader(): FileEnvelopeError {
  return formatError('The file ends inside its header');
}
