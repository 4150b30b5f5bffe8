/**
 * The payload of a Keyhold encrypted file: the payload key, the chunk nonces and the
 * AES-256-GCM chunks (layout in src/client/file-envelope.ts).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { tamperedError } from './file-envelope-error.js';
import type { ByteReader } from './file-envelope-reader.js';

export const DATA_KEY_LENGTH = 32;
export const TAG_LENGTH = 16;

const PAYLOAD_KEY_LENGTH = 32;
const KEY_INFO_LABEL = Buffer.from('keyhold/file/v1', 'ascii');
const NONCE_LENGTH = 12;
const FINAL_FLAG_OFFSET = 11;
const TWO_TO_THE_32 = 2 ** 32;

/** Plaintext bytes through a sealer or opener, read once it has finished. */
export interface ChunkTotals {
  plaintextBytes: number;
}

/**
 * HKDF-SHA256(ikm = data key, salt = file salt, info = "keyhold/file/v1" || SHA-256(header)).
 * The header hash makes the key depend on every header byte, so an edited or swapped header
 * derives another key and the first chunk fails; the per-file salt gives every file its own
 * key even if a data key were ever used twice.
 */
export function derivePayloadKey(dataKey: Buffer, salt: Buffer, header: Buffer): Buffer {
  /* Precondition: the data key is an AES-256 key. */
  if (dataKey.length !== DATA_KEY_LENGTH) throw new TypeError(`The data key must be ${DATA_KEY_LENGTH} bytes`);
  const info = Buffer.concat([KEY_INFO_LABEL, createHash('sha256').update(header).digest()]);
  return Buffer.from(hkdfSync('sha256', dataKey, salt, info, PAYLOAD_KEY_LENGTH));
}

/**
 * nonce = 11-byte big-endian chunk counter || final flag (1 on the last chunk). The counter
 * puts each chunk at its place (reordering fails); the flag marks the end (truncation at a
 * chunk boundary leaves a stream without a final chunk, which fails).
 */
export function chunkNonce(counter: number, final: boolean): Buffer {
  /* Precondition: the chunk counter is a non-negative safe integer. */
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('chunk counter out of range');
  const nonce = Buffer.alloc(NONCE_LENGTH);
  // Bytes 0..2 stay zero: 2^53 chunks is beyond any file.
  nonce.writeUInt32BE(Math.floor(counter / TWO_TO_THE_32), 3);
  nonce.writeUInt32BE(counter % TWO_TO_THE_32, 7);
  nonce[FINAL_FLAG_OFFSET] = final ? 1 : 0;
  return nonce;
}

/**
 * Seals one chunk under nonce(counter, final): its ciphertext (one piece per plaintext piece)
 * followed by its 16-byte tag, in the order they are written.
 */
export function sealChunk(payloadKey: Buffer, counter: number, final: boolean, plaintext: readonly Buffer[]): Buffer[] {
  const cipher = createCipheriv('aes-256-gcm', payloadKey, chunkNonce(counter, final), { authTagLength: TAG_LENGTH });
  const sealed = plaintext.map((piece) => cipher.update(piece));
  cipher.final();
  sealed.push(cipher.getAuthTag());
  return sealed;
}

/**
 * Opens one chunk sealed under nonce(counter, final) and verifies its tag; only then returns
 * the plaintext. A chunk that fails throws the one tampered error, its plaintext zeroed.
 */
export function openChunk(
  payloadKey: Buffer,
  counter: number,
  final: boolean,
  ciphertext: readonly Buffer[],
  tag: Buffer,
): Buffer[] {
  const decipher = createDecipheriv('aes-256-gcm', payloadKey, chunkNonce(counter, final), { authTagLength: TAG_LENGTH });
  decipher.setAuthTag(tag);
  const plaintext = ciphertext.map((piece) => decipher.update(piece));
  try {
    decipher.final();
  } catch {
    // Unauthenticated plaintext never leaves this function.
    for (const piece of plaintext) piece.fill(0);
    throw tamperedError();
  }
  return plaintext;
}

/**
 * Encrypts the rest of `reader` as chunks: every chunk but the last holds exactly chunkSize
 * plaintext bytes, the last holds fewer (0..chunkSize-1). A short chunk is the final one, so
 * neither side ever needs to look ahead or try both flags; a file whose size is a multiple of
 * chunkSize ends with an empty final chunk (16 bytes of tag).
 */
export async function* sealChunks(
  reader: ByteReader,
  payloadKey: Buffer,
  chunkSize: number,
  totals: ChunkTotals,
): AsyncGenerator<Buffer> {
  for (let counter = 0; ; counter++) {
    const { pieces, byteLength } = await reader.read(chunkSize);
    const final = byteLength < chunkSize;
    yield* sealChunk(payloadKey, counter, final, pieces);
    totals.plaintextBytes += byteLength;
    if (final) return;
  }
}

/**
 * Decrypts the rest of `reader`, chunk by chunk. A chunk's plaintext is yielded only after its
 * tag verified. The input must end right after the final (short) chunk: a stream that ends
 * before one, or has bytes after it, makes a chunk that fails.
 */
export async function* openChunks(
  reader: ByteReader,
  payloadKey: Buffer,
  chunkSize: number,
  totals: ChunkTotals,
): AsyncGenerator<Buffer> {
  const recordLength = chunkSize + TAG_LENGTH;
  for (let counter = 0; ; counter++) {
    const { pieces, byteLength } = await reader.read(recordLength);
    /* Precondition: the file does not end before its final chunk. */
    if (byteLength < TAG_LENGTH) throw tamperedError();
    // read() returns less than asked only at the end of the input: this is the last chunk.
    const final = byteLength < recordLength;
    const { ciphertext, tag } = splitRecord(pieces, byteLength - TAG_LENGTH);
    yield* openChunk(payloadKey, counter, final, ciphertext, tag);
    totals.plaintextBytes += byteLength - TAG_LENGTH;
    if (final) return;
  }
}

/** A record given as pieces, cut into its ciphertext pieces and its tag (the last 16 bytes). */
function splitRecord(pieces: Buffer[], ciphertextLength: number): { ciphertext: Buffer[]; tag: Buffer } {
  const ciphertext: Buffer[] = [];
  const tagPieces: Buffer[] = [];
  let remaining = ciphertextLength;
  for (const piece of pieces) {
    const take = Math.min(remaining, piece.length);
    if (take > 0) ciphertext.push(piece.subarray(0, take));
    if (take < piece.length) tagPieces.push(piece.subarray(take));
    remaining -= take;
  }
  return { ciphertext, tag: tagPieces.length === 1 ? tagPieces[0]! : Buffer.concat(tagPieces, TAG_LENGTH) };
}
