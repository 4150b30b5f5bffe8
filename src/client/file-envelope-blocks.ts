/**
 * The chunk loops of encryptFileAtPath / decryptFileAtPath, between two open files: the input
 * is read in blocks of whole chunks (records, when decrypting), each block is sealed or opened
 * at once, and its output goes out in one writev. Reading the next block, working on this one
 * and writing the previous one overlap, so the disk and the cipher are busy at the same time.
 * The layout is the one in src/client/file-envelope.ts; only the I/O differs from the stream
 * functions there.
 */
import type { FileHandle } from 'node:fs/promises';
import { openChunk, sealChunk, TAG_LENGTH } from './file-envelope-chunks.js';
import { tamperedError } from './file-envelope-error.js';

// About 128 KiB per read. In the 1 GiB bench (bench/file-encryption.ts) 1 MiB blocks were no
// faster end to end, where the disk sets the pace, and raised peak RSS by 10-15 MB: fewer,
// larger blocks let more dead output buffers pile up between two young-generation GCs.
const BLOCK_TARGET = 128 * 1024;

/** A block of whole units (chunks or records) near BLOCK_TARGET: at least one unit. */
function blockLength(unit: number): number {
  return unit * Math.max(1, Math.round(BLOCK_TARGET / unit));
}

/**
 * Encrypts the rest of `input` into `output` as chunks of `chunkSize`: a short chunk is the
 * final one, an empty one when the input is a multiple of chunkSize. Resolves once every
 * write has finished.
 */
export async function sealBlocks(
  input: FileHandle,
  output: FileHandle,
  payloadKey: Buffer,
  chunkSize: number,
): Promise<{ plaintextBytes: number; bytesWritten: number }> {
  const blockSize = blockLength(chunkSize);
  const reader = new BlockReader(input, blockSize);
  const writer = new BlockWriter(output);
  let counter = 0;
  let plaintextBytes = 0;
  let bytesWritten = 0;
  for (;;) {
    const block = await reader.next();
    // A block shorter than asked is the end of the input; it holds the final chunk.
    const last = block.length < blockSize;
    const sealed: Buffer[] = [];
    const fullChunks = Math.floor(block.length / chunkSize);
    for (let index = 0; index < fullChunks; index++) {
      const start = index * chunkSize;
      sealed.push(...sealChunk(payloadKey, counter++, false, [block.subarray(start, start + chunkSize)]));
    }
    // The rest of the last block (0..chunkSize-1 bytes) is the final chunk.
    if (last) sealed.push(...sealChunk(payloadKey, counter++, true, [block.subarray(fullChunks * chunkSize)]));
    plaintextBytes += block.length;
    for (const piece of sealed) bytesWritten += piece.length;
    await writer.write(sealed);
    if (last) break;
  }
  await writer.finish();
  return { plaintextBytes, bytesWritten };
}

/**
 * Decrypts the rest of `input` (after the header; `initial` holds bytes already read past it)
 * into `output`. Records of chunkSize + 16 bytes are non-final chunks; the short record at
 * the end is the final one and must be there. Each block's plaintext is written only after
 * every chunk in it authenticated.
 */
export async function openBlocks(
  input: FileHandle,
  output: FileHandle,
  payloadKey: Buffer,
  chunkSize: number,
  initial: Buffer,
): Promise<number> {
  const recordLength = chunkSize + TAG_LENGTH;
  const blockSize = blockLength(recordLength);
  const reader = new BlockReader(input, blockSize, initial);
  const writer = new BlockWriter(output);
  let counter = 0;
  let plaintextBytes = 0;
  for (;;) {
    const block = await reader.next();
    const last = block.length < blockSize;
    const opened: Buffer[] = [];
    const fullRecords = Math.floor(block.length / recordLength);
    for (let index = 0; index < fullRecords; index++) {
      const start = index * recordLength;
      const tagStart = start + chunkSize;
      opened.push(...openChunk(payloadKey, counter++, false, [block.subarray(start, tagStart)], block.subarray(tagStart, tagStart + TAG_LENGTH)));
    }
    if (last) {
      const final = block.subarray(fullRecords * recordLength);
      /* Precondition: the file does not end before its final chunk. */
      if (final.length < TAG_LENGTH) throw tamperedError();
      const tagStart = final.length - TAG_LENGTH;
      opened.push(...openChunk(payloadKey, counter++, true, [final.subarray(0, tagStart)], final.subarray(tagStart)));
    }
    for (const piece of opened) plaintextBytes += piece.length;
    await writer.write(opened);
    if (last) break;
  }
  await writer.finish();
  return plaintextBytes;
}

/**
 * Sequential reads of whole blocks, the next one read ahead into a second buffer while the
 * caller works on the current one. A block is short only at the end of the input.
 */
class BlockReader {
  readonly #input: FileHandle;
  readonly #buffers: [Buffer, Buffer];
  #current = 0;
  #ahead: Promise<number>;

  /**
   * `initial`: bytes already read from the input, the start of the first block. (Less than a
   * header, at most 12,333 bytes; a block is at least 64 KiB.)
   */
  constructor(input: FileHandle, blockSize: number, initial: Buffer = Buffer.alloc(0)) {
    this.#input = input;
    this.#buffers = [Buffer.allocUnsafe(blockSize), Buffer.allocUnsafe(blockSize)];
    this.#ahead = this.#fill(this.#buffers[0], initial.copy(this.#buffers[0]));
  }

  /** The next block, valid until the following call (its buffer is then read into again). */
  async next(): Promise<Buffer> {
    const filled = await this.#ahead;
    const buffer = this.#buffers[this.#current]!;
    this.#current ^= 1;
    // After a short block there is nothing more to read.
    this.#ahead = filled === buffer.length ? this.#fill(this.#buffers[this.#current]!, 0) : Promise.resolve(0);
    return buffer.subarray(0, filled);
  }

  #fill(buffer: Buffer, start: number): Promise<number> {
    const filling = fill(this.#input, buffer, start);
    // A read still running when the loop fails must not become an unhandled rejection.
    filling.catch(() => undefined);
    return filling;
  }
}

/** Writes each block's buffers with one writev, one block in flight while the next is made. */
class BlockWriter {
  readonly #output: FileHandle;
  #writing: Promise<void> = Promise.resolve();

  constructor(output: FileHandle) {
    this.#output = output;
  }

  /** Waits for the previous block's write, then starts this one's. */
  async write(buffers: Buffer[]): Promise<void> {
    await this.#writing;
    this.#writing = writeAll(this.#output, buffers);
    this.#writing.catch(() => undefined);
  }

  /** Resolves once every write has finished. */
  finish(): Promise<void> {
    return this.#writing;
  }
}

/**
 * Reads from the input's current offset until `length` bytes or its end.
 *
 * @example const start = await readUpTo(input, MAX_HEADER_LENGTH); // shorter for a short file
 */
export async function readUpTo(input: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  return buffer.subarray(0, await fill(input, buffer, 0));
}

/** writev until every byte is written: a write may take only part of what it was given. */
export async function writeAll(output: FileHandle, buffers: Buffer[]): Promise<void> {
  let remaining = buffers.filter((buffer) => buffer.length > 0);
  while (remaining.length > 0) {
    const { bytesWritten } = await output.writev(remaining);
    if (bytesWritten === 0) throw new Error('The output file accepted no bytes');
    remaining = dropBytes(remaining, bytesWritten);
  }
}

/** Reads into `buffer` from `start` until it is full or the input ends; resolves with its fill. */
async function fill(input: FileHandle, buffer: Buffer, start: number): Promise<number> {
  let filled = start;
  while (filled < buffer.length) {
    // position null: the file's own offset, so a pipe (/dev/stdin) works as input too.
    const { bytesRead } = await input.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** The buffers without their first `count` bytes. */
function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let skipped = 0;
  let index = 0;
  while (index < buffers.length && skipped + buffers[index]!.length <= count) skipped += buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (rest.length > 0 && count > skipped) rest[0] = rest[0]!.subarray(count - skipped);
  return rest;
}
