import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32c as awsCrc32c } from '@aws-crypto/crc32c';
import { expect } from 'chai';
import { crc32c, crc32cExtend, maskCrc, maskedCrcOf } from '../../src/store/leveldb-files/crc32c.js';
import { TableFormatError } from '../../src/store/leveldb-files/block.js';
import { checkLogFile, LOG_BLOCK_SIZE } from '../../src/store/leveldb-files/log-file.js';
import { applyVersionEdit, emptyLiveFiles } from '../../src/store/leveldb-files/manifest.js';
import { SnappyFormatError, snappyDecompress } from '../../src/store/leveldb-files/snappy.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** One physical log record as LevelDB's log::Writer emits it. */
function logRecord(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt32LE(maskedCrcOf(Buffer.from([type]), payload), 0);
  header.writeUInt16LE(payload.length, 4);
  header[6] = type;
  return Buffer.concat([header, payload]);
}

describe('crc32c', () => {
  it('matches the CRC32C check value of "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).to.equal(0xe3069283);
  });

  it('matches @aws-crypto/crc32c on random inputs of every length up to 300 bytes', () => {
    for (let length = 0; length <= 300; length++) {
      const bytes = randomBytes(length);
      expect(crc32c(bytes), `length ${length}`).to.equal(awsCrc32c(bytes));
    }
  });

  it('extends: the CRC of a then b equals the CRC of a||b', () => {
    const a = randomBytes(37);
    const b = randomBytes(1001);
    expect(crc32cExtend(crc32cExtend(0, a), b)).to.equal(awsCrc32c(Buffer.concat([a, b])));
  });

  it('masks as LevelDB does (util/crc32c.h)', () => {
    // Mask(0) = 0xa282ead8; Mask(1) rotates the bit to position 17 first.
    expect(maskCrc(0)).to.equal(0xa282ead8);
    expect(maskCrc(1)).to.equal((0x20000 + 0xa282ead8) >>> 0);
    expect(maskCrc(0xffffffff)).to.equal((0xffffffff + 0xa282ead8) % 2 ** 32);
  });
});

describe('snappyDecompress', () => {
  it('decodes literals', () => {
    expect(snappyDecompress(Buffer.from([3, 0x08, 0x61, 0x62, 0x63]), 100).toString()).to.equal('abc');
  });

  it('decodes a long literal whose length follows the tag', () => {
    const text = Buffer.alloc(100, 0x41);
    // tag 60<<2: one length byte follows, holding length-1.
    const compressed = Buffer.concat([Buffer.from([100, 60 << 2, 99]), text]);
    expect(snappyDecompress(compressed, 1000)).to.deep.equal(text);
  });

  it('decodes an overlapping 1-byte-offset copy (a run) and a 2-byte-offset copy', () => {
    // 'ab' then copy len 6 offset 2 -> 'abababab', then copy len 2 offset 8 (2-byte form) -> 'ab'.
    const copy1 = 0x01 | ((6 - 4) << 2); // offset high bits 0
    const copy2 = 0x02 | ((2 - 1) << 2);
    const compressed = Buffer.from([10, 0x04, 0x61, 0x62, copy1, 2, copy2, 8, 0]);
    expect(snappyDecompress(compressed, 100).toString()).to.equal('ababababab');
  });

  it('refuses a copy that reaches before the start of the output', () => {
    expect(() => snappyDecompress(Buffer.from([4, 0x01, 1]), 100)).to.throw(SnappyFormatError);
  });

  it('refuses output shorter or longer than declared', () => {
    expect(() => snappyDecompress(Buffer.from([5, 0x08, 0x61, 0x62, 0x63]), 100)).to.throw(SnappyFormatError, /length mismatch/);
    expect(() => snappyDecompress(Buffer.from([2, 0x08, 0x61, 0x62, 0x63]), 100)).to.throw(SnappyFormatError);
  });

  it('refuses a declared length above the bound before allocating', () => {
    expect(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 1024)).to.throw(SnappyFormatError, /too large/);
  });

  it('refuses a literal running past its input', () => {
    expect(() => snappyDecompress(Buffer.from([3, 0x08, 0x61]), 100)).to.throw(SnappyFormatError);
  });
});

describe('checkLogFile on hand-made logs', () => {
  let temp: ReturnType<typeof makeTempDir>;
  before(() => (temp = makeTempDir()));
  after(() => temp.remove());

  async function check(bytes: Buffer, tailMayBeTorn = false) {
    const file = path.join(temp.path, 'test.log');
    writeFileSync(file, bytes);
    return checkLogFile(file, 'store/test.log', tailMayBeTorn);
  }

  it('accepts FULL records and FIRST, MIDDLE, LAST fragments', async () => {
    const log = Buffer.concat([logRecord(FULL, Buffer.from('one')), logRecord(FIRST, Buffer.from('t')), logRecord(MIDDLE, Buffer.from('w')), logRecord(LAST, Buffer.from('o'))]);
    expect((await check(log)).problems).to.deep.equal([]);
  });

  it('reports a MIDDLE fragment without a FIRST', async () => {
    const log = Buffer.concat([logRecord(FULL, Buffer.from('one')), logRecord(MIDDLE, Buffer.from('w')), logRecord(FULL, Buffer.from('two'))]);
    const { problems } = await check(log);
    expect(problems.map((entry) => [entry.kind, entry.offset])).to.deep.equal([['bad-fragment-sequence', 10]]);
  });

  it('reports a FIRST followed by a FULL (a record that never ends)', async () => {
    const log = Buffer.concat([logRecord(FIRST, Buffer.from('t')), logRecord(FULL, Buffer.from('two'))]);
    expect((await check(log, true)).problems.map((entry) => entry.kind)).to.deep.equal(['bad-fragment-sequence']);
  });

  it('calls a FIRST with no LAST at the end of the newest log a torn tail', async () => {
    const log = Buffer.concat([logRecord(FULL, Buffer.from('one')), logRecord(FIRST, Buffer.from('t'))]);
    const result = await check(log, true);
    expect(result.problems).to.deep.equal([]);
    expect(result.tornTail).to.deep.equal({ file: 'store/test.log', offset: 10, bytes: 8 });
  });

  it('reports a FIRST with no LAST at the end of a log that cannot be torn', async () => {
    const log = Buffer.concat([logRecord(FULL, Buffer.from('one')), logRecord(FIRST, Buffer.from('t'))]);
    expect((await check(log, false)).problems.map((entry) => entry.kind)).to.deep.equal(['incomplete-record']);
  });

  it('accepts a zero block trailer and reports a non-zero one', async () => {
    const first = logRecord(FULL, Buffer.alloc(LOG_BLOCK_SIZE - 7 - 3, 0x61));
    const next = logRecord(FULL, Buffer.from('next'));
    expect((await check(Buffer.concat([first, Buffer.alloc(3), next]))).problems).to.deep.equal([]);
    const { problems } = await check(Buffer.concat([first, Buffer.from([0, 1, 0]), next]));
    expect(problems.map((entry) => [entry.kind, entry.offset])).to.deep.equal([['bad-block-trailer', LOG_BLOCK_SIZE - 3]]);
  });

  it('reports a damaged record followed by whole records in the same block as a problem, not a torn tail', async () => {
    const damaged = logRecord(FULL, Buffer.from('one'));
    damaged[8]! ^= 1;
    const log = Buffer.concat([logRecord(FULL, Buffer.from('zero')), damaged, logRecord(FULL, Buffer.from('two'))]);
    const result = await check(log, true);
    expect(result.tornTail).to.equal(undefined);
    expect(result.problems.map((entry) => [entry.kind, entry.offset])).to.deep.equal([['checksum-mismatch', 11]]);
  });

  it('calls a damaged last record of the newest log a torn tail', async () => {
    const damaged = logRecord(FULL, Buffer.from('one'));
    damaged[8]! ^= 1;
    const result = await check(Buffer.concat([logRecord(FULL, Buffer.from('zero')), damaged]), true);
    expect(result.problems).to.deep.equal([]);
    expect(result.tornTail).to.deep.equal({ file: 'store/test.log', offset: 11, bytes: 10 });
  });

  it('reports a record whose length runs past its block', async () => {
    const record = logRecord(FULL, Buffer.from('one'));
    record.writeUInt16LE(60_000, 4);
    const log = Buffer.concat([record, Buffer.alloc(LOG_BLOCK_SIZE), logRecord(FULL, Buffer.from('two'))]);
    expect((await check(log)).problems.map((entry) => entry.kind)).to.include('bad-record-length');
  });

  it('accepts zero-type preallocated space to the end of a block', async () => {
    const first = logRecord(FULL, Buffer.from('one'));
    const log = Buffer.concat([first, Buffer.alloc(LOG_BLOCK_SIZE - first.length), logRecord(FULL, Buffer.from('two'))]);
    expect((await check(log)).problems).to.deep.equal([]);
  });

  it('reports an unknown record type', async () => {
    const log = Buffer.concat([logRecord(9, Buffer.from('one')), logRecord(FULL, Buffer.from('two'))]);
    expect((await check(log)).problems.map((entry) => entry.kind)).to.deep.equal(['bad-record-type']);
  });
});

describe('applyVersionEdit', () => {
  /** A varint as LevelDB's PutVarint writes it (small values only in these tests). */
  const varint = (value: number) => (value < 128 ? [value] : [(value & 0x7f) | 0x80, value >> 7]);
  const slice = (text: string) => [...varint(text.length), ...Buffer.from(text)];

  it('adds the tables of NEW_FILE, removes those of DELETED_FILE, and reads the log numbers', () => {
    const live = emptyLiveFiles();
    applyVersionEdit(live, Buffer.from([1, ...slice('leveldb.BytewiseComparator'), 2, 7, 9, 5, 3, 20, 4, 200, 1]));
    applyVersionEdit(live, Buffer.from([7, 0, 10, ...varint(300), ...slice('a'), ...slice('z'), 7, 1, 11, 50, ...slice('b'), ...slice('c')]));
    applyVersionEdit(live, Buffer.from([6, 0, 10, 5, 1, ...slice('k')]));
    expect(live.logNumber).to.equal(7);
    expect(live.prevLogNumber).to.equal(5);
    expect([...live.tables]).to.deep.equal([[11, 50]]);
  });

  it('refuses an unknown tag and a slice that runs past its record', () => {
    expect(() => applyVersionEdit(emptyLiveFiles(), Buffer.from([8, 1]))).to.throw(TableFormatError, /unknown MANIFEST tag 8/);
    expect(() => applyVersionEdit(emptyLiveFiles(), Buffer.from([1, 10, 0x61]))).to.throw(TableFormatError, /past its record/);
  });
});
