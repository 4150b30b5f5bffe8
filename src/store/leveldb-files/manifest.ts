import { readVarint, TableFormatError } from './block.js';

/**
 * The live files of a LevelDB directory, from its MANIFEST: the VersionEdit records
 * (db/version_edit.cc) applied in order. LevelDB opens only these: a table the MANIFEST does
 * not list is a leftover (an unfinished compaction output) it deletes at open, and a log
 * older than the log number was already written to a table.
 */
export interface LiveFiles {
  /** Logs numbered at or above this one are replayed at open. */
  logNumber: number;
  prevLogNumber: number;
  /** Table file number -> size in bytes. */
  tables: Map<number, number>;
  /** Table file number -> the smallest and largest user keys it holds (internal keys less their 8-byte tag). */
  ranges: Map<number, { smallest: Buffer; largest: Buffer }>;
}

const COMPARATOR = 1;
const LOG_NUMBER = 2;
const NEXT_FILE_NUMBER = 3;
const LAST_SEQUENCE = 4;
const COMPACT_POINTER = 5;
const DELETED_FILE = 6;
const NEW_FILE = 7;
const PREV_LOG_NUMBER = 9;

export function emptyLiveFiles(): LiveFiles {
  return { logNumber: 0, prevLogNumber: 0, tables: new Map(), ranges: new Map() };
}

/** Reads fields of one edit, each bounds-checked against the record. */
class EditReader {
  offset = 0;
  constructor(private readonly record: Buffer) {}

  get done(): boolean {
    return this.offset >= this.record.length;
  }

  varint(maxBytes = 10): number {
    const [value, next] = readVarint(this.record, this.offset, this.record.length, maxBytes);
    this.offset = next;
    return value;
  }

  /** A length-prefixed slice (a key or the comparator name), skipped. */
  skipSlice(): void {
    this.slice();
  }

  /** A length-prefixed slice. */
  slice(): Buffer {
    const length = this.varint(5);
    if (this.offset + length > this.record.length) throw new TableFormatError('slice runs past its record');
    this.offset += length;
    return this.record.subarray(this.offset - length, this.offset);
  }
}

/**
 * Applies one VersionEdit record to `live`. Throws TableFormatError on a tag or field it
 * cannot read: a record with a valid checksum that does not parse is damage too.
 */
export function applyVersionEdit(live: LiveFiles, record: Buffer): void {
  const reader = new EditReader(record);
  while (!reader.done) {
    const tag = reader.varint(5);
    switch (tag) {
      case COMPARATOR:
        reader.skipSlice();
        break;
      case LOG_NUMBER:
        live.logNumber = reader.varint();
        break;
      case PREV_LOG_NUMBER:
        live.prevLogNumber = reader.varint();
        break;
      case NEXT_FILE_NUMBER:
      case LAST_SEQUENCE:
        reader.varint();
        break;
      case COMPACT_POINTER:
        reader.varint(5);
        reader.skipSlice();
        break;
      case DELETED_FILE:
        reader.varint(5);
        {
          const number = reader.varint();
          live.tables.delete(number);
          live.ranges.delete(number);
        }
        break;
      case NEW_FILE: {
        reader.varint(5); // level
        const number = reader.varint();
        live.tables.set(number, reader.varint());
        // Internal keys: the user key, then 8 bytes of sequence number and type.
        const smallest = Buffer.from(reader.slice());
        const largest = Buffer.from(reader.slice());
        live.ranges.set(number, { smallest: smallest.subarray(0, Math.max(0, smallest.length - 8)), largest: largest.subarray(0, Math.max(0, largest.length - 8)) });
        break;
      }
      default:
        throw new TableFormatError(`unknown MANIFEST tag ${tag}`);
    }
  }
}
