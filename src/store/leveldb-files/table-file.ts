import { readFile } from 'node:fs/promises';
import { blockValues, readBlockHandle, TableFormatError, type BlockHandle } from './block.js';
import { maskedCrcOf } from './crc32c.js';
import { problem, type LevelDbProblem } from './report.js';
import { SnappyFormatError, snappyDecompress } from './snappy.js';

/** metaindex handle + index handle, zero-padded to 40 bytes, then the 8-byte magic. */
export const FOOTER_SIZE = 48;
const HANDLES_SIZE = 40;
/** 0xdb4775248b80fb57, little-endian: the two 32-bit halves. */
const MAGIC_LOW = 0x8b80fb57;
const MAGIC_HIGH = 0xdb477524;
/** Compression type byte + masked CRC32C of contents || type. */
export const BLOCK_TRAILER_SIZE = 5;
const NO_COMPRESSION = 0;
const SNAPPY = 1;
/** A decompressed index block larger than this is damage, not data (LevelDB's are kilobytes). */
const MAX_BLOCK_LENGTH = 64 * 1024 * 1024;

/** One table file read whole (tables are about 2 MB), and what is known about it so far. */
class TableCheck {
  readonly problems: LevelDbProblem[] = [];
  /** Byte ranges [start, end) that blocks, their trailers and the footer account for. */
  readonly covered: [number, number][] = [];

  constructor(
    readonly file: string,
    readonly bytes: Buffer,
  ) {}

  get footerStart(): number {
    return this.bytes.length - FOOTER_SIZE;
  }

  /**
   * Checks a block's trailer and CRC; with `contents`, also decompresses it. Undefined when
   * the block is damaged (the problem is recorded).
   */
  block(handle: BlockHandle, what: string, contents: boolean): Buffer | undefined {
    const end = handle.offset + handle.size + BLOCK_TRAILER_SIZE;
    /* Precondition: a block and its trailer lie before the footer. */
    if (end > this.footerStart) {
      this.problems.push(problem(this.file, 'bad-block-handle', `${what} block handle points past the data (${handle.offset}+${handle.size})`));
      return undefined;
    }
    this.covered.push([handle.offset, end]);
    const data = this.bytes.subarray(handle.offset, handle.offset + handle.size);
    const type = this.bytes.subarray(handle.offset + handle.size, handle.offset + handle.size + 1);
    if (maskedCrcOf(data, type) !== this.bytes.readUInt32LE(handle.offset + handle.size + 1)) {
      this.problems.push(problem(this.file, 'checksum-mismatch', `${what} block checksum mismatch`, handle.offset));
      return undefined;
    }
    if (type[0] !== NO_COMPRESSION && type[0] !== SNAPPY) {
      this.problems.push(problem(this.file, 'unknown-compression', `${what} block has unknown compression ${type[0]}`, handle.offset));
      return undefined;
    }
    if (!contents) return data;
    return type[0] === SNAPPY ? snappyDecompress(data, MAX_BLOCK_LENGTH) : data;
  }

  /** The entries of an index or metaindex block point at blocks: check each of those. */
  pointedBlocks(handle: BlockHandle, what: string, pointed: string): void {
    const block = this.block(handle, what, true);
    if (!block) return;
    for (const { value } of blockValues(block)) {
      const [target] = readBlockHandle(value, 0, value.length);
      this.block(target, pointed, false);
    }
  }

  /** Blocks must tile the file from byte 0 to the footer: a byte no CRC covers is a problem. */
  coverage(): void {
    const ranges = [...this.covered, [this.footerStart, this.bytes.length] as [number, number]].sort((a, b) => a[0] - b[0]);
    let expected = 0;
    for (const [start, end] of ranges) {
      if (start !== expected) {
        this.problems.push(problem(this.file, 'uncovered-bytes', start > expected ? `bytes ${expected}..${start} belong to no block` : 'blocks overlap', Math.min(start, expected)));
        return;
      }
      expected = end;
    }
  }
}

/** Reads the footer: the metaindex and index handles, after checking magic and padding. */
function readFooter(check: TableCheck): { metaindex: BlockHandle; index: BlockHandle } | undefined {
  const footer = check.bytes.subarray(check.footerStart);
  if (footer.readUInt32LE(HANDLES_SIZE) !== MAGIC_LOW || footer.readUInt32LE(HANDLES_SIZE + 4) !== MAGIC_HIGH) {
    check.problems.push(problem(check.file, 'bad-footer', 'bad table magic number', check.footerStart + HANDLES_SIZE));
    return undefined;
  }
  const [metaindex, afterMetaindex] = readBlockHandle(footer, 0, HANDLES_SIZE);
  const [index, afterIndex] = readBlockHandle(footer, afterMetaindex, HANDLES_SIZE);
  // The padding is no block's and no CRC's: it must be the zeros the writer put there.
  if (footer.subarray(afterIndex, HANDLES_SIZE).some((byte) => byte !== 0)) {
    check.problems.push(problem(check.file, 'bad-footer', 'footer padding is not zero', check.footerStart + afterIndex));
    return undefined;
  }
  return { metaindex, index };
}

/**
 * Checks a LevelDB table file (*.ldb, *.sst): footer magic, the metaindex and index blocks,
 * and the CRC of every block they point at (data and filter blocks), and that these blocks
 * account for every byte of the file.
 */
export async function checkTableFile(path: string, file: string): Promise<{ bytes: number; problems: LevelDbProblem[] }> {
  const check = new TableCheck(file, await readFile(path));
  if (check.bytes.length < FOOTER_SIZE) {
    return { bytes: check.bytes.length, problems: [problem(file, 'truncated', `table of ${check.bytes.length} bytes is shorter than its footer`)] };
  }
  try {
    const footer = readFooter(check);
    if (footer) {
      check.pointedBlocks(footer.metaindex, 'metaindex', 'meta');
      check.pointedBlocks(footer.index, 'index', 'data');
      if (check.problems.length === 0) check.coverage();
    }
  } catch (error) {
    if (!(error instanceof TableFormatError || error instanceof SnappyFormatError)) throw error;
    check.problems.push(problem(file, 'bad-block', `malformed table structure (${error.message})`));
  }
  return { bytes: check.bytes.length, problems: check.problems };
}
