import { createHash, type Hash } from 'node:crypto';
import { decodeCheckedJson } from '../store/checked-json.js';
import {
  BackupFormatError,
  MAX_LINE_BYTES,
  parseHeader,
  parseRecord,
  parseTrailer,
  type BackupHeader,
  type BackupRecord,
  type BackupTrailer,
} from './format.js';

const NEWLINE = 0x0a;

/**
 * Checks a backup as its bytes go by, in constant memory: feed it every chunk in order with
 * `push` (it returns the records that chunk completed), then call `finish`, which throws
 * unless the trailer is there, counts the records seen and matches the SHA-256 of every
 * byte before it. Until `finish` returns, nothing it returned may be trusted.
 *
 * @example
 *   const verifier = new BackupVerifier();
 *   for await (const chunk of stream) for (const record of verifier.push(chunk)) use(record);
 *   verifier.finish();
 */
export class BackupVerifier {
  #header: BackupHeader | undefined;
  readonly #hash: Hash = createHash('sha256');
  /** The bytes after the last newline seen: the start of a line still coming. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** The last whole line: a record, unless it turns out to be the last line (the trailer). */
  #pending: Buffer | undefined;
  #records = 0;
  #rootRecordSeen = false;

  get header(): BackupHeader | undefined {
    return this.#header;
  }

  get records(): number {
    return this.#records;
  }

  push(chunk: Buffer): BackupRecord[] {
    const records: BackupRecord[] = [];
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const line = this.#partialBytes === 0 ? chunk.subarray(start, end) : Buffer.concat([...this.#partial, chunk.subarray(start, end)]);
      this.#partial = [];
      this.#partialBytes = 0;
      this.#checkLength(line.length);
      const record = this.#line(line);
      if (record) records.push(record);
      start = end + 1;
    }
    if (start < chunk.length) {
      this.#partialBytes += chunk.length - start;
      this.#checkLength(this.#partialBytes);
      this.#partial.push(Buffer.from(chunk.subarray(start)));
    }
    return records;
  }

  /** The trailer, once every check holds; throws BackupFormatError otherwise. */
  finish(): BackupTrailer {
    /* Precondition: the file ends with a whole trailer line, so it was not cut short. */
    if (this.#partialBytes > 0 || !this.#header || !this.#pending) {
      throw new BackupFormatError('the backup ends early: it is incomplete');
    }
    const trailer = parseTrailer(this.#pending.toString('utf8'));
    if (trailer.records !== this.#records) throw new BackupFormatError(`the backup holds ${this.#records} records, its trailer says ${trailer.records}`);
    if (this.#hash.digest('hex') !== trailer.sha256) throw new BackupFormatError('the backup checksum does not match: the file was changed or damaged');
    if (!this.#rootRecordSeen) throw new BackupFormatError("the backup holds no copy of the store's root-key record");
    return trailer;
  }

  #checkLength(bytes: number): void {
    if (bytes > MAX_LINE_BYTES) throw new BackupFormatError(`a line of the backup is longer than ${MAX_LINE_BYTES} bytes`);
  }

  #line(line: Buffer): BackupRecord | undefined {
    if (!this.#header) {
      this.#header = parseHeader(line.toString('utf8'));
      this.#hashLine(line);
      return undefined;
    }
    const previous = this.#pending;
    this.#pending = line;
    if (!previous) return undefined;
    const record = parseRecord(previous.toString('utf8'));
    this.#hashLine(previous);
    this.#records++;
    if (record.sublevel === 'meta' && record.key === 'root') this.#checkRootRecord(record.value);
    return record;
  }

  #hashLine(line: Buffer): void {
    this.#hash.update(line);
    this.#hash.update('\n');
  }

  /* Precondition: the root-key record restored is the one the header's key check was made on. */
  #checkRootRecord(value: Buffer): void {
    let stored: unknown;
    try {
      stored = decodeCheckedJson(value.toString('utf8'));
    } catch {
      throw new BackupFormatError("the backup's root-key record is not valid JSON");
    }
    if (JSON.stringify(stored) !== JSON.stringify(this.#header!.rootKey)) {
      throw new BackupFormatError("the backup's root-key record differs from its header");
    }
    this.#rootRecordSeen = true;
  }
}
