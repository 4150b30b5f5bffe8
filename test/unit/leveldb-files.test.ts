import { readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { verifyLevelDbFiles } from '../../src/store/leveldb-files.js';
import { readBlockHandle } from '../../src/store/leveldb-files/block.js';
import { LOG_BLOCK_SIZE } from '../../src/store/leveldb-files/log-file.js';
import { buildLevelDbFixture, copyFixture, flipByte, largestFile, newestFile } from '../helpers/leveldb-fixture.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const LOG = /^\d+\.log$/;
const TABLE = /^\d+\.ldb$/;

/** The footer's two handles of a table file: where its metaindex and index blocks are. */
function tableHandles(file: string) {
  const bytes = readFileSync(file);
  const footer = bytes.subarray(bytes.length - 48);
  const [metaindex, next] = readBlockHandle(footer, 0, 40);
  const [index] = readBlockHandle(footer, next, 40);
  return { size: bytes.length, metaindex, index };
}

describe('verifyLevelDbFiles', function () {
  this.timeout(120_000);
  let temp: ReturnType<typeof makeTempDir>;
  let fixture: string;
  let store: string;
  let copies = 0;

  before(async () => {
    temp = makeTempDir();
    fixture = path.join(temp.path, 'fixture');
    await buildLevelDbFixture(fixture);
  });
  after(() => temp.remove());
  beforeEach(() => {
    // Named `store` so messages read "store/000007.log: …", as for a Keyhold data dir.
    store = path.join(temp.path, `copy-${copies++}`, 'store');
    copyFixture(fixture, store);
  });
  afterEach(() => rmSync(path.dirname(store), { recursive: true, force: true }));

  it('finds no problem in an intact store, and checks its CURRENT, MANIFEST, log and tables', async () => {
    const report = await verifyLevelDbFiles(store);
    expect(report.problems).to.deep.equal([]);
    expect(report.tornTail).to.equal(undefined);
    expect(report.ignored).to.deep.equal([]);
    expect(report.files).to.be.at.least(4);
    expect(report.bytes).to.be.greaterThan(100_000);
  });

  describe('log files', () => {
    it('reports bytes flipped in the middle of the newest log as a checksum mismatch, since whole records follow', async () => {
      const log = newestFile(store, LOG);
      const offset = LOG_BLOCK_SIZE + 1000;
      flipByte(log, offset);
      const report = await verifyLevelDbFiles(store);
      expect(report.tornTail).to.equal(undefined);
      const found = report.problems.find((entry) => entry.kind === 'checksum-mismatch');
      expect(found, JSON.stringify(report.problems)).to.not.equal(undefined);
      expect(found!.file).to.equal(`store/${path.basename(log)}`);
      expect(found!.offset).to.be.within(LOG_BLOCK_SIZE, offset);
      expect(found!.message).to.match(/^store\/\d+\.log: checksum mismatch at byte \d+$/);
    });

    it('reports a newest log cut mid-record, with nothing after it, as a torn tail and not as a problem', async () => {
      const log = newestFile(store, LOG);
      const size = readFileSync(log).length;
      truncateSync(log, size - 10);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems).to.deep.equal([]);
      expect(report.tornTail).to.not.equal(undefined);
      expect(report.tornTail!.file).to.equal(`store/${path.basename(log)}`);
      expect(report.tornTail!.offset).to.be.below(size - 10);
      expect(report.tornTail!.offset + report.tornTail!.bytes).to.equal(size - 10);
    });

    it('reports a torn tail for bytes flipped in the last record of the newest log', async () => {
      const log = newestFile(store, LOG);
      flipByte(log, readFileSync(log).length - 2);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems).to.deep.equal([]);
      expect(report.tornTail?.bytes).to.be.greaterThan(0);
    });

    it('reports a record cut short with whole records after it (a lost write in the middle) as a problem', async () => {
      const log = newestFile(store, LOG);
      const bytes = readFileSync(log);
      // Block 0 is kept up to 1000 bytes in (inside a record) and zero-filled to its end;
      // block 1 onwards follow unchanged, so whole records come after the damage.
      const damaged = Buffer.concat([bytes.subarray(0, 1000), Buffer.alloc(LOG_BLOCK_SIZE - 1000), bytes.subarray(LOG_BLOCK_SIZE)]);
      writeFileSync(log, damaged);
      const report = await verifyLevelDbFiles(store);
      expect(report.tornTail).to.equal(undefined);
      expect(report.problems.length).to.be.greaterThan(0);
      expect(report.problems[0]!.offset).to.be.below(1000);
    });

    it('reports bytes flipped in the MANIFEST, which is never a torn tail', async () => {
      const manifest = newestFile(store, /^MANIFEST-\d+$/);
      flipByte(manifest, 10);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.include('checksum-mismatch');
      expect(report.problems[0]!.file).to.equal(`store/${path.basename(manifest)}`);
    });

    it('reports a MANIFEST cut short, which is never a torn tail', async () => {
      const manifest = newestFile(store, /^MANIFEST-\d+$/);
      truncateSync(manifest, readFileSync(manifest).length - 5);
      const report = await verifyLevelDbFiles(store);
      expect(report.tornTail).to.equal(undefined);
      expect(report.problems.map((entry) => entry.kind)).to.include('incomplete-record');
    });
  });

  describe('CURRENT', () => {
    it('reports CURRENT naming a missing MANIFEST', async () => {
      writeFileSync(path.join(store, 'CURRENT'), 'MANIFEST-999999\n');
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => [entry.kind, entry.file])).to.deep.include(['missing-manifest', 'store/MANIFEST-999999']);
    });

    it('reports a missing CURRENT', async () => {
      unlinkSync(path.join(store, 'CURRENT'));
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.include('missing-current');
    });

    it('reports a CURRENT without its newline', async () => {
      const current = path.join(store, 'CURRENT');
      writeFileSync(current, readFileSync(current, 'latin1').trimEnd());
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.include('bad-current');
    });
  });

  describe('table files', () => {
    it('reports bytes flipped in a data block as that block’s checksum mismatch', async () => {
      const table = largestFile(store, TABLE);
      flipByte(table, 100);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems).to.have.length(1);
      expect(report.problems[0]).to.include({ file: `store/${path.basename(table)}`, kind: 'checksum-mismatch', offset: 0 });
      expect(report.problems[0]!.message).to.match(/data block checksum mismatch at byte 0$/);
    });

    it('reports bytes flipped in the index block', async () => {
      const table = largestFile(store, TABLE);
      const { index } = tableHandles(table);
      flipByte(table, index.offset + 3);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.message)).to.deep.include(`store/${path.basename(table)}: index block checksum mismatch at byte ${index.offset}`);
    });

    it('reports bytes flipped in the footer magic', async () => {
      const table = largestFile(store, TABLE);
      flipByte(table, tableHandles(table).size - 3);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.deep.equal(['bad-footer']);
    });

    it('reports a table cut short', async () => {
      const table = largestFile(store, TABLE);
      const size = tableHandles(table).size;
      truncateSync(table, size - 100);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.deep.equal(['table-size-mismatch', 'bad-footer']);
      expect(report.problems[0]!.message).to.equal(`store/${path.basename(table)}: is ${size - 100} bytes, the MANIFEST says ${size}`);
    });

    it('reports a table shorter than its footer', async () => {
      const table = largestFile(store, TABLE);
      truncateSync(table, 20);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.kind)).to.deep.equal(['table-size-mismatch', 'truncated']);
    });

    it('reports bytes that belong to no block (inserted before the footer)', async () => {
      const table = largestFile(store, TABLE);
      const bytes = readFileSync(table);
      const footerStart = bytes.length - 48;
      writeFileSync(table, Buffer.concat([bytes.subarray(0, footerStart), Buffer.alloc(10), bytes.subarray(footerStart)]));
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => [entry.kind, entry.offset])).to.deep.equal([
        ['table-size-mismatch', undefined],
        ['uncovered-bytes', footerStart],
      ]);
    });

    it('reports a table the MANIFEST lists but the directory lacks', async () => {
      const table = largestFile(store, TABLE);
      unlinkSync(table);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => [entry.kind, entry.file])).to.deep.equal([['missing-table', `store/${path.basename(table)}`]]);
    });

    it('ignores, unread, a table the MANIFEST does not list (a compaction cut short leaves one; LevelDB deletes it)', async () => {
      writeFileSync(path.join(store, '999999.ldb'), 'half a table');
      const report = await verifyLevelDbFiles(store);
      expect(report.problems).to.deep.equal([]);
      expect(report.ignored).to.deep.equal(['store/999999.ldb']);
    });

    it('checks every table on disk when the MANIFEST cannot be read', async () => {
      writeFileSync(path.join(store, '999999.ldb'), 'half a table');
      flipByte(newestFile(store, /^MANIFEST-\d+$/), 10);
      const report = await verifyLevelDbFiles(store);
      expect(report.problems.map((entry) => entry.file)).to.include('store/999999.ldb');
    });

    it('reports every single-byte change anywhere in a table (CRCs, footer and coverage leave no byte unchecked)', async () => {
      const table = largestFile(store, TABLE);
      const original = readFileSync(table);
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (offset, mask) => {
          const damaged = Buffer.from(original);
          damaged[offset]! ^= mask;
          writeFileSync(table, damaged);
          const report = await verifyLevelDbFiles(store);
          return report.problems.some((entry) => entry.file === `store/${path.basename(table)}`);
        }),
        { numRuns: 300 },
      );
    });
  });
});
