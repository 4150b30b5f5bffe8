import { open } from 'node:fs/promises';
import { maskedCrcOf } from './crc32c.js';
import { problem, type LevelDbProblem, type TornTail } from './report.js';

/** LevelDB log format (doc/log_format.md): records never cross a 32 KiB block. */
export const LOG_BLOCK_SIZE = 32 * 1024;
/** checksum (4, masked CRC32C of type and payload) + length (2, LE) + type (1). */
export const LOG_HEADER_SIZE = 7;

const ZERO_TYPE = 0;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

export interface LogFileResult {
  bytes: number;
  problems: LevelDbProblem[];
  tornTail?: TornTail;
}

/** The walk over one log's records: fragments in progress, damage seen, where the last whole record ended. */
class LogWalk {
  readonly damage: LevelDbProblem[] = [];
  /** Offset of the FIRST fragment of the record being assembled, if any. */
  fragmentStart: number | undefined;
  /** End of the last complete logical record (FULL, or FIRST..LAST). */
  lastCompleteEnd = 0;

  /** Fragments of the record being assembled, kept only when records are collected. */
  private pieces: Buffer[] = [];

  constructor(
    readonly file: string,
    private readonly collect?: (record: Buffer) => void,
  ) {}

  report(kind: LevelDbProblem['kind'], text: string, offset: number): void {
    this.damage.push(problem(this.file, kind, text, offset));
  }

  /** Pairs fragments up: FULL or FIRST..MIDDLE*..LAST, nothing else. */
  fragment(type: number, offset: number, end: number, payload: Buffer): void {
    if (type === FULL || type === FIRST) {
      if (this.fragmentStart !== undefined) this.report('bad-fragment-sequence', 'record started at this byte never ends', this.fragmentStart);
      this.fragmentStart = type === FIRST ? offset : undefined;
      this.pieces = type === FIRST && this.collect ? [Buffer.from(payload)] : [];
      if (type === FULL) this.complete(end, payload);
      return;
    }
    if (this.fragmentStart === undefined) {
      this.report('bad-fragment-sequence', 'fragment without the start of its record', offset);
      return;
    }
    if (this.collect) this.pieces.push(Buffer.from(payload));
    if (type === LAST) {
      this.fragmentStart = undefined;
      this.complete(end, Buffer.concat(this.pieces));
      this.pieces = [];
    }
  }

  private complete(end: number, record: Buffer): void {
    this.lastCompleteEnd = end;
    this.collect?.(record);
  }
}

function isZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/**
 * Walks one block's records. Returns nothing: damage goes to `walk`, and after damage the
 * rest of the block is skipped, as LevelDB's reader does, to look for records in the next.
 */
function walkBlock(walk: LogWalk, block: Uint8Array, blockStart: number, isLastBlock: boolean): void {
  const fullBlock = block.length === LOG_BLOCK_SIZE;
  let position = 0;
  // After a checksum mismatch the walk looks once at the record its length points to:
  // LevelDB's reader drops the rest of the block, but a whole record there shows that the
  // damage is not a torn tail. A second mismatch is the same damage, and ends the block.
  let afterMismatch = false;
  while (position < block.length) {
    const offset = blockStart + position;
    const remaining = block.length - position;
    if (remaining < LOG_HEADER_SIZE) {
      // A full block ends in a zero trailer too short for a header; a partial last block
      // that ends in fewer bytes than a header is a header cut short.
      if (!fullBlock && isLastBlock) walk.report('incomplete-record', 'record header cut short', offset);
      else if (!isZero(block.subarray(position))) walk.report('bad-block-trailer', 'block trailer is not zero', offset);
      return;
    }
    const view = Buffer.from(block.buffer, block.byteOffset + position, remaining);
    const storedCrc = view.readUInt32LE(0);
    const length = view.readUInt16LE(4);
    const type = view[6]!;
    if (type === ZERO_TYPE && length === 0 && storedCrc === 0) {
      // Preallocated space (mmap writers): zeros to the end of the block.
      if (!isZero(view)) walk.report('bad-record-type', 'zero record followed by non-zero bytes', offset);
      return;
    }
    if (LOG_HEADER_SIZE + length > remaining) {
      if (!fullBlock && isLastBlock) walk.report('incomplete-record', 'record cut short', offset);
      else walk.report('bad-record-length', `record length ${length} runs past its block`, offset);
      return;
    }
    const payload = view.subarray(LOG_HEADER_SIZE, LOG_HEADER_SIZE + length);
    if (maskedCrcOf(view.subarray(6, 7), payload) !== storedCrc) {
      if (afterMismatch) return;
      walk.report('checksum-mismatch', 'checksum mismatch', offset);
      afterMismatch = true;
      position += LOG_HEADER_SIZE + length;
      continue;
    }
    afterMismatch = false;
    const end = offset + LOG_HEADER_SIZE + length;
    if (type < FULL || type > LAST) walk.report('bad-record-type', `unknown record type ${type}`, offset);
    else walk.fragment(type, offset, end, payload);
    position += LOG_HEADER_SIZE + length;
  }
}

/**
 * Checks a LevelDB log file (a *.log or a MANIFEST), reading it one block at a time.
 *
 * With `tailMayBeTorn` (the newest *.log), damage after which no complete record follows is
 * a torn tail, not a problem: a crash during a write that was not yet acknowledged leaves it.
 * `collect`, when given, is called with each whole record's payload (the MANIFEST's edits).
 */
export async function checkLogFile(
  path: string,
  file: string,
  tailMayBeTorn: boolean,
  collect?: (record: Buffer) => void,
): Promise<LogFileResult> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const walk = new LogWalk(file, collect);
    const buffer = Buffer.alloc(LOG_BLOCK_SIZE);
    for (let blockStart = 0; blockStart < size; blockStart += LOG_BLOCK_SIZE) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(LOG_BLOCK_SIZE, size - blockStart), blockStart);
      walkBlock(walk, buffer.subarray(0, bytesRead), blockStart, blockStart + LOG_BLOCK_SIZE >= size);
    }
    if (walk.fragmentStart !== undefined) walk.report('incomplete-record', 'record started at this byte never ends', walk.fragmentStart);
    if (walk.damage.length === 0) return { bytes: size, problems: [] };
    const firstDamage = Math.min(...walk.damage.map((entry) => entry.offset!));
    if (tailMayBeTorn && walk.lastCompleteEnd <= firstDamage) {
      return { bytes: size, problems: [], tornTail: { file, offset: firstDamage, bytes: size - firstDamage } };
    }
    return { bytes: size, problems: walk.damage.sort((a, b) => a.offset! - b.offset!) };
  } finally {
    await handle.close();
  }
}
