import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AuditJournals, AuditJournalWriter, journalFile, journalNode, journalNodeId, journalStateMac, readJournalChunk, JOURNAL_START, type JournalRecord } from '../../src/audit/audit-journal.js';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { verifyAuditTrail } from '../../src/audit/verify-trail.js';
import { ServiceUnavailableException } from '../../src/errors.js';
import type { AuditEvent } from '../../src/protocol/types.js';
import { deriveAuditKey, type AuditEntry } from '../../src/store/audit-record.js';
import { capturedLog, captureLogger } from '../helpers/log-capture.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

/**
 * The workers' audit journals (src/audit/audit-journal.ts) against the run's real store
 * (LevelDB, or PostgreSQL in that run): a writer's records reach the store's chain whole and
 * once, a journal left by a crash is moved at start, and every kind of damage to a journal is
 * refused by the mover and named by `verifyAuditTrail` (what `keyhold admin audit verify` runs).
 */
describe('audit journals', () => {
  let h: Harness;
  let journals: AuditJournals;
  let auditKey: Buffer;
  const writers: AuditJournalWriter[] = [];
  /** The journals the mover said were broken while their writers lived. */
  let broken: string[];

  beforeEach(async () => {
    h = await openHarness();
    auditKey = deriveAuditKey(h.rootKey);
    broken = [];
    journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger(), (journalId) => broken.push(journalId));
    await journals.start();
  });
  afterEach(async () => {
    for (const writer of writers.splice(0)) writer.close();
    await journals.close();
    await h.close();
  });

  function entry(index: number, extra: Partial<AuditEntry> = {}): AuditEntry {
    return { Time: new Date().toISOString(), RequestId: `request-${index}`, Principal: 'KHJOURNALTEST000000', SourceIp: '127.0.0.1', Action: 'Encrypt', KeyId: null, Outcome: 'Success', ...extra };
  }

  function newWriter(journalId = journals.newJournal()): { journalId: string; writer: AuditJournalWriter; file: string } {
    const file = journalFile(h.dataDir, journalId);
    const writer = new AuditJournalWriter(file, journalId, auditKey);
    writers.push(writer);
    return { journalId, writer, file };
  }

  /** The stored records that came from the journal test's entries (the harness's own records aside). */
  async function moved(): Promise<AuditEvent[]> {
    return (await h.store.listAudit()).filter((event) => event.Principal === 'KHJOURNALTEST000000');
  }

  async function verdict() {
    return verifyAuditTrail(h.store, h.rootKey, h.dataDir);
  }

  it('moves each turn of records into the store once, in order, with their fields, and the store chain verifies', async () => {
    const { writer } = newWriter();
    await Promise.all([writer.append([entry(1)]), writer.append([entry(2), entry(3)])]);
    await writer.append([entry(4, { EncryptionContext: { table: 'orders' }, KeyId: 'f2b3a1d0-0000-4000-8000-000000000000' })]);
    expect(await verdict()).to.include({ journaled: 4 });
    await journals.catchUp();
    await journals.catchUp();
    const events = await moved();
    expect(events.map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2', 'request-3', 'request-4']);
    expect(events[3]).to.include({ Action: 'Encrypt', KeyId: 'f2b3a1d0-0000-4000-8000-000000000000', Outcome: 'Success', SourceIp: '127.0.0.1' });
    expect(events[3]!.EncryptionContext).to.deep.equal({ table: 'orders' });
    // They are the store's records now: its chain, its numbers.
    const head = await h.store.getAuditHead();
    expect(events.every((event) => event.Chain === head!.Chain)).to.equal(true);
    expect(await verdict()).to.deep.include({ journaled: 0 }).and.not.to.have.property('problem');

    await writer.append([entry(5)]);
    await journals.catchUp();
    expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2', 'request-3', 'request-4', 'request-5']);
  });

  it('lists a record written to a journal right after it was written (a listing moves the journals first)', async () => {
    const { writer } = newWriter();
    const trail = new AuditTrail(h.store, journals);
    await writer.append([entry(1, { Action: 'GenerateDataKey' })]);
    const page = await trail.list({ action: 'GenerateDataKey' });
    expect(page.events.map((event) => event.RequestId)).to.deep.equal(['request-1']);
  });

  it('moves the rest of a finished journal and removes its file and position; a journal left by a crash is moved at the next start', async () => {
    const first = newWriter();
    await first.writer.append([entry(1), entry(2)]);
    await journals.catchUp();
    await first.writer.append([entry(3)]);
    first.writer.close();
    await journals.finish(first.journalId);
    expect(existsSync(first.file)).to.equal(false);
    expect(await h.store.getAuditJournal(first.journalId)).to.equal(undefined);

    // A process killed before its journal was moved: only a file, no position in the store.
    const left = newWriter();
    await left.writer.append([entry(4), entry(5)]);
    await journals.close();
    journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
    await journals.start();
    expect(existsSync(left.file)).to.equal(false);
    expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2', 'request-3', 'request-4', 'request-5']);
    expect(await verdict()).to.deep.include({ journaled: 0 }).and.not.to.have.property('problem');
  });

  describe('nodes (a store several nodes share)', () => {
    const nodeFile = () => path.join(h.dataDir, 'audit-journal', 'node');
    /** A position in the store for a journal whose file is not in this data directory: records were moved from it. */
    async function positionWithoutFile(journalId: string): Promise<void> {
      const state = { Offset: 900, Seq: 3, Mac: 'ab'.repeat(32) };
      await h.store.write(h.store.batch().putAuditJournal(journalId, { ...state, StateMac: journalStateMac(auditKey, journalId, state) }));
    }

    it("names each journal after this data directory's node, kept in a 0600 file across starts", async () => {
      const nodeId = readFileSync(nodeFile(), 'utf8').trim();
      expect(nodeId).to.match(/^[0-9a-f]{16}$/);
      expect(statSync(nodeFile()).mode & 0o777).to.equal(0o600);
      const first = journals.newJournal();
      expect(first).to.match(new RegExp(`^${nodeId}\\.[0-9a-f-]{36}$`));
      expect(journalNode(first)).to.equal(nodeId);
      await journals.close();
      journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
      await journals.start();
      expect(journalNode(journals.newJournal())).to.equal(nodeId);
    });

    it("counts another node's journals by node on a shared store, and still names this node's missing journal", async () => {
      const otherNode = 'f'.repeat(16);
      const ours = journals.newJournal();
      await positionWithoutFile(`${otherNode}.0b1c2d3e-0000-4000-8000-000000000001`);
      const shared = await verifyAuditTrail(h.store, h.rootKey, h.dataDir, true);
      const thisNode = readFileSync(nodeFile(), 'utf8').trim();
      expect(shared).to.deep.include({ otherNodes: [otherNode], journaled: 0, node: thisNode }).and.not.to.have.property('problem');
      // A store only this node writes has no other node: the same position is a journal removed here.
      expect((await verdict()).problem).to.match(/^audit journal f{16}\.0b1c2d3e-\S+ is missing: records after its record 3/);

      await positionWithoutFile(ours);
      expect((await verifyAuditTrail(h.store, h.rootKey, h.dataDir, true)).problem).to.equal(`audit journal ${ours} is missing: records after its record 3 may have been removed with it`);
    });

    it('moves a journal of the release before nodes were named (a plain uuid) left by a crash', async () => {
      const { writer, file } = newWriter('1a2b3c4d-0000-4000-8000-00000000000a');
      await writer.append([entry(1), entry(2)]);
      await journals.close();
      journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
      await journals.start();
      expect(existsSync(file)).to.equal(false);
      expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2']);
    });

    it("leaves a journal named after another node (copied in from its data directory) where it is, and says so", async () => {
      const { writer, file } = newWriter(`${'e'.repeat(16)}.1a2b3c4d-0000-4000-8000-00000000000b`);
      await writer.append([entry(1)]);
      await journals.close();
      const log = capturedLog.length;
      journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
      await journals.start();
      expect(existsSync(file)).to.equal(true);
      expect(await moved()).to.deep.equal([]);
      const logged = capturedLog.slice(log).filter((line) => line.includes('an audit journal named after another node is in this node'));
      expect(logged).to.have.length(1);
      expect(logged[0]).to.include(`${'e'.repeat(16)}.1a2b3c4d`);
      // Verify says that no server here will move it, rather than counting it as waiting.
      expect((await verdict()).problem).to.match(/^audit journal e{16}\.1a2b3c4d\S+ is named after node e{16} and this directory's node is [0-9a-f]{16}: no server here moves its records into the trail/);
    });

    it("names this node's own journal as not to be moved once audit-journal/node was replaced or removed", async () => {
      const { writer, journalId } = newWriter();
      await writer.append([entry(1)]);
      writeFileSync(nodeFile(), `${'b'.repeat(16)}\n`);
      expect((await verdict()).problem).to.equal(`audit journal ${journalId} is named after node ${journalId.slice(0, 16)} and this directory's node is ${'b'.repeat(16)}: no server here moves its records into the trail (a copy of another node's journal, or audit-journal/node was replaced or removed)`);
      unlinkSync(nodeFile());
      expect((await verdict()).problem).to.include("and this directory has no audit-journal/node: no server here moves its records");
    });

    it('makes one node id when two starts race for it', async () => {
      const dir = path.join(h.dataDir, 'racing');
      mkdirSync(path.join(dir, 'audit-journal'), { recursive: true });
      const [first, second] = await Promise.all([journalNodeId(dir, true), journalNodeId(dir, true)]);
      expect(first).to.match(/^[0-9a-f]{16}$/);
      expect(second).to.equal(first);
      expect(readdirSync(path.join(dir, 'audit-journal'))).to.deep.equal(['node']);
    });

    it('refuses to start on a node file that does not hold a node id, naming the file', async () => {
      await journals.close();
      writeFileSync(nodeFile(), 'not a node id\n');
      journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
      let refused: unknown;
      await journals.start().catch((error: unknown) => (refused = error));
      expect((refused as Error).message).to.equal(`${nodeFile()} does not hold a node id (16 hexadecimal digits): restore it, or remove it when this directory has no journals left`);
      writeFileSync(nodeFile(), `${'a'.repeat(16)}\n`);
      journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
      await journals.start();
    });
  });

  it('does not move a journal twice when the process died after marking it done and before removing it', async () => {
    const { journalId, writer, file } = newWriter();
    await writer.append([entry(1), entry(2)]);
    await journals.catchUp();
    const [, second] = await moved();
    const done = { Offset: statSync(file).size, Seq: 2, Mac: readJournal(journalId)[1]!.Mac, Done: true as const };
    await h.store.write(h.store.batch().putAuditJournal(journalId, { ...done, StateMac: journalStateMac(auditKey, journalId, done) }));
    expect(second!.RequestId).to.equal('request-2');
    await journals.close();
    journals = new AuditJournals(h.store, h.dataDir, h.rootKey, captureLogger());
    await journals.start();
    expect(existsSync(file)).to.equal(false);
    expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2']);
  });

  it('takes a context that spells out a Mac member as data, not as the record\'s MAC', async () => {
    const { writer } = newWriter();
    const forged = `","Mac":"${'a'.repeat(64)}","Outcome":"`;
    await writer.append([entry(1, { EncryptionContext: { A: '1', Mac: 'b'.repeat(64), z: forged }, Items: [{ KeyId: null, Outcome: 'Success', EncryptionContext: { Mac: 'c'.repeat(64) } }] })]);
    await journals.catchUp();
    const [event] = await moved();
    expect(event!.EncryptionContext).to.deep.equal({ A: '1', Mac: 'b'.repeat(64), z: forged });
    expect(await verdict()).not.to.have.property('problem');
  });

  describe('damage', () => {
    async function damagedJournal(damage: (lines: string[]) => string[]): Promise<{ journalId: string; file: string }> {
      const { journalId, writer, file } = newWriter();
      for (let index = 1; index <= 5; index++) await writer.append([entry(index)]);
      const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
      writeFileSync(file, damage(lines).map((line) => `${line}\n`).join(''));
      return { journalId, file };
    }

    const cases: [string, (lines: string[]) => string[], RegExp][] = [
      ['a field edited', (lines) => lines.map((line, index) => (index === 2 ? line.replace('"Outcome":"Success"', '"Outcome":"AccessDeniedException"') : line)), /record 3 of audit journal \S+ \(in the line at byte \d+\) was altered or inserted: its MAC does not match/],
      ['a record removed from the middle', (lines) => lines.filter((_, index) => index !== 2), /record 3 of audit journal \S+ \(in the line at byte \d+\): records 3 to 3 were removed/],
      ['two records swapped', (lines) => [lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!], /record 2 of audit journal \S+ \(in the line at byte \d+\): records 2 to 2 were removed/],
      ['a record copied in again', (lines) => [...lines.slice(0, 3), lines[1]!, ...lines.slice(3)], /record 4 of audit journal \S+ \(in the line at byte \d+\): it does not follow the record before it/],
      ['a line that is not JSON', (lines) => [...lines.slice(0, 3), '{"half a record', ...lines.slice(3)], /record 4 of audit journal \S+ \(in the line at byte \d+\) cannot be read/],
    ];
    for (const [what, damage, named] of cases) {
      it(`moves the records before ${what}, leaves the rest and logs it once; verify names it`, async () => {
        const log = capturedLog.length;
        const { journalId, file } = await damagedJournal(damage);
        const verdictBefore = await verdict();
        expect(verdictBefore.problem).to.match(named);
        await journals.catchUp();
        await journals.catchUp();
        const before = Number(/record (\d+) of audit journal/.exec(verdictBefore.problem!)![1]) - 1;
        expect((await moved()).map((event) => event.RequestId)).to.deep.equal(Array.from({ length: before }, (_, index) => `request-${index + 1}`));
        // A listing still answers: one broken journal does not stop the trail.
        await new AuditTrail(h.store, journals).list({});
        const logged = capturedLog.slice(log).filter((line) => line.includes('cannot be moved into the trail'));
        expect(logged).to.have.length(1);
        expect(logged[0]).to.include(journalId);
        // Its writer still lives: told once, so that the writer is stopped.
        expect(broken).to.deep.equal([journalId]);
        // Finishing it leaves the file for inspection, and verify still names the break.
        await journals.finish(journalId);
        expect(existsSync(file)).to.equal(true);
        expect((await verdict()).problem).to.match(named);
        expect(broken).to.have.length(1);
      });
    }

    it('removes a journal shorter than what was moved (a power cut) once its writer exited, and names a position moved by hand', async () => {
      const { journalId, writer, file } = newWriter();
      await writer.append([entry(1), entry(2)]);
      await journals.catchUp();
      writeFileSync(file, readFileSync(file).subarray(0, 10));
      // What was moved is in the store: nothing pending, nothing broken.
      expect(await verdict()).to.deep.include({ journaled: 0 }).and.not.to.have.property('problem');

      const state = (await h.store.getAuditJournal(journalId))!;
      await h.store.write(h.store.batch().putAuditJournal(journalId, { ...state, Offset: 0 }));
      expect((await verdict()).problem).to.match(/the position of audit journal \S+ was altered \(its MAC does not match\)/);
      await h.store.write(h.store.batch().putAuditJournal(journalId, state));
      writer.close();
      await journals.finish(journalId);
      expect(existsSync(file)).to.equal(false);
      expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2']);
    });

    it('names a journal removed after records were moved from it, in verify and to its live writer', async () => {
      const { journalId, writer, file } = newWriter();
      await writer.append([entry(1)]);
      await journals.catchUp();
      await writer.append([entry(2)]);
      unlinkSync(file);
      const named = /audit journal \S+ is missing: records after its record 1 may have been removed with it/;
      expect((await verdict()).problem).to.match(named);
      await journals.catchUp();
      expect(broken).to.deep.equal([journalId]);
      // Its writer gone too: still named, never quietly forgotten.
      writer.close();
      await journals.finish(journalId);
      expect((await verdict()).problem).to.match(named);
    });

    it('refuses a line whose Mac member was moved into its encryption context (the MAC still matches the rest), and stores nothing of it', async () => {
      const { journalId, writer, file } = newWriter();
      await writer.append([entry(1, { EncryptionContext: { a: '1', b: '2' } })]);
      const [line] = readFileSync(file, 'utf8').split('\n');
      const member = /,"Mac":"[0-9a-f]{64}"/.exec(line!)![0];
      writeFileSync(file, `${line!.replace(`${member},`, ',').replace('"a":"1",', `"a":"1"${member},`)}\n`);
      await journals.catchUp();
      expect(await moved()).to.deep.equal([]);
      expect(broken).to.deep.equal([journalId]);
      expect((await verdict()).problem).to.match(/record 1 of audit journal \S+ \(in the line at byte 0\) is not an audit record/);
    });

    it('stores a record whose line was re-spelled without changing its content (spaces, escapes) in canonical form', async () => {
      const { writer, file } = newWriter();
      await writer.append([entry(1, { EncryptionContext: { b: 'x' } })]);
      const [line] = readFileSync(file, 'utf8').split('\n');
      writeFileSync(file, `${line!.replace('"KeyId":null', '"KeyId": null').replace('"b":"x"', '"b":"\\u0078"')}\n`);
      await journals.catchUp();
      const [event] = await moved();
      expect(event!.EncryptionContext).to.deep.equal({ b: 'x' });
      expect(await verdict()).to.deep.include({ journaled: 0 }).and.not.to.have.property('problem');
    });

    it('never moves part of a write: the records of one turn are one line', async () => {
      const { journalId, writer, file } = newWriter();
      await Promise.all([writer.append([entry(1)]), writer.append([entry(2), entry(3)])]);
      const whole = readFileSync(file);
      expect(whole.toString('utf8').split('\n')).to.have.length(2);
      // A write cut short after its first record: not one of its records moves.
      writeFileSync(file, whole.subarray(0, whole.indexOf(0x09) + 1));
      await journals.catchUp();
      expect(await moved()).to.deep.equal([]);
      writeFileSync(file, whole);
      await journals.catchUp();
      expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2', 'request-3']);
      expect(readJournal(journalId)).to.have.length(3);
    });

    it('leaves a record still being written; when its writer has exited, drops the cut-short part with a warning', async () => {
      const { journalId, writer, file } = newWriter();
      await writer.append([entry(1), entry(2)]);
      writer.close();
      writeFileSync(file, `${readFileSync(file, 'utf8')}{"Action":"Encr`);
      await journals.catchUp();
      expect((await moved()).map((event) => event.RequestId)).to.deep.equal(['request-1', 'request-2']);
      expect(await verdict()).not.to.have.property('problem');
      const log = capturedLog.length;
      await journals.finish(journalId);
      expect(existsSync(file)).to.equal(false);
      expect(capturedLog.slice(log).join('')).to.include('ends with part of a record');
    });
  });

  describe('a full disk', function () {
    let tmpfs: Tmpfs | undefined;
    before(function () {
      const mounted = mountTmpfs(1);
      if (typeof mounted === 'string') {
        console.log(`      (skipped: ${mounted})`);
        this.skip();
      }
      tmpfs = mounted;
    });
    after(() => tmpfs?.unmount());

    it('refuses the records of a turn with a 503 naming the cause, leaves none of them in the file, and writes again once there is space', async () => {
      const journalId = journals.newJournal();
      const file = path.join(tmpfs!.path, `${journalId}.log`);
      const writer = new AuditJournalWriter(file, journalId, auditKey);
      writers.push(writer);
      await writer.append([entry(1)]);
      const size = statSync(file).size;
      tmpfs!.fill();
      // The file's last page may still have room: records fit until it is full.
      let refused: unknown;
      let accepted = 1;
      for (let index = 2; index < 200 && refused === undefined; index++) {
        try {
          await writer.append([entry(index, { Detail: { Padding: 'x'.repeat(300) } }), entry(index + 1000)]);
          accepted += 2;
        } catch (error) {
          refused = error;
        }
      }
      expect(refused).to.be.instanceOf(ServiceUnavailableException);
      expect((refused as Error).message).to.equal('the audit journal cannot be written: no space left on device');
      const records = readJournal(journalId, file);
      expect(records).to.have.length(accepted);
      expect(statSync(file).size).to.be.at.least(size);
      tmpfs!.free();
      await writer.append([entry(5000)]);
      const after = readJournal(journalId, file);
      expect(after).to.have.length(accepted + 1);
      expect(after.at(-1)!.Seq).to.equal(accepted + 1);
    });
  });

  /** A journal's records, checked as the mover checks them; throws on a break. */
  function readJournal(journalId: string, file = journalFile(h.dataDir, journalId)): JournalRecord[] {
    const chunk = readJournalChunk(auditKey, journalId, readFileSync(file), JOURNAL_START);
    if (chunk.problem) throw new Error(chunk.problem);
    expect(chunk.partialBytes).to.equal(0);
    return chunk.records;
  }
});
