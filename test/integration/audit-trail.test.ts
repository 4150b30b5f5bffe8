import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { auditRecordKey } from '../../src/store/audit-record.js';
import { encodeCheckedJson } from '../../src/store/checked-json.js';
import { verifyAuditTrail } from '../../src/audit/verify-trail.js';
import { signRequest } from '../../src/protocol/signing.js';
import type { AuditEvent } from '../../src/protocol/types.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';

/**
 * The audit trail through the real signed app and a real store (the run's: LevelDB or
 * PostgreSQL): one record per request (allowed, denied, failed), written before the answer,
 * chained so that `verifyAuditTrail` (what `keyhold admin audit verify` runs) finds every kind
 * of tampering.
 */
describe('the audit trail', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await openHarness();
  });
  afterEach(async () => h.close());

  async function newest(): Promise<AuditEvent> {
    const events = await h.store.listAudit();
    return events[events.length - 1]!;
  }

  async function createKey(): Promise<string> {
    return (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId as string;
  }

  describe('records', () => {
    it('records an allowed encrypt with who, what, from where and its encryption context, and no plaintext', async () => {
      const keyId = await createKey();
      const plaintext = randomBytes(32).toString('base64');
      const res = await h.call('encrypt', { KeyId: keyId, Plaintext: plaintext, EncryptionContext: { table: 'orders' } }).expect(200);
      const event = await newest();
      expect(event).to.include({ RequestId: res.headers['x-request-id'], Principal: h.credential.accessKeyId, Action: 'Encrypt', KeyId: keyId, Outcome: 'Success' });
      expect(event.SourceIp).to.be.a('string');
      expect(event.EncryptionContext).to.deep.equal({ table: 'orders' });
      expect(event.Mac).to.match(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(await h.store.listAudit())).not.to.include(plaintext).and.not.to.include(res.body.CiphertextBlob);
    });

    it('writes exactly one record per request, also for a change (its record goes in with the change)', async () => {
      const before = (await h.store.listAudit()).length;
      const keyId = await createKey();
      await h.call('disablekey', { KeyId: keyId }).expect(200);
      await h.call('describekey', { KeyId: keyId }).expect(200);
      const events = (await h.store.listAudit()).slice(before);
      expect(events.map((event) => event.Action)).to.deep.equal(['CreateKey', 'DisableKey', 'DescribeKey']);
      expect(events[1]!.Detail).to.deep.equal({ State: 'Enabled -> Disabled' });
      expect(new Set(events.map((event) => event.RequestId)).size).to.equal(3);
    });

    it('records a failed authentication under the access key id it claimed, and a validation failure by its type', async () => {
      const body = Buffer.from('{}');
      const headers = signRequest({ method: 'POST', pathWithQuery: '/api/v1/kms/listkeys', body, accessKeyId: 'KHNOBODYATALL000000', secretKey: randomBytes(32) });
      await request(h.app).post('/api/v1/kms/listkeys').set(headers).set('Content-Type', 'application/octet-stream').send(body).expect(401);
      expect(await newest()).to.include({ Principal: 'KHNOBODYATALL000000', Action: 'ListKeys', Outcome: 'UnrecognizedClientException' });

      await h.call('encrypt', { KeyId: 'alias/x', Plaintext: 'not base64!' }).expect(400);
      expect(await newest()).to.include({ Principal: h.credential.accessKeyId, Action: 'Encrypt', Outcome: 'ValidationException' });
    });

    it('lists records with filters and pages through listauditevents, oldest first', async () => {
      const keyId = await createKey();
      for (let i = 0; i < 5; i++) await h.call('describekey', { KeyId: keyId }).expect(200);
      const page = (await h.call('listauditevents', { KeyId: keyId, Action: 'DescribeKey', Limit: 2 }).expect(200)).body;
      expect(page.Events).to.have.length(2);
      expect(page.Truncated).to.equal(true);
      const rest = (await h.call('listauditevents', { KeyId: keyId, Action: 'DescribeKey', Marker: page.NextMarker }).expect(200)).body;
      expect(rest.Events).to.have.length(3);
      const seqs = [...page.Events, ...rest.Events].map((event: AuditEvent) => event.Seq);
      expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
    });

    it('refuses bad filters with a ValidationException naming the field', async () => {
      for (const [body, field] of [
        [{ StartTime: 'yesterday' }, 'StartTime'],
        [{ StartTime: '2026-12-04T10:00:00Z', EndTime: '2026-12-03T10:00:00Z' }, 'EndTime'],
        [{ Limit: 100_000 }, 'Limit'],
        [{ Marker: 'bm90LWEtbWFya2Vy' }, 'Marker'],
        [{ Verify: 'true' }, 'Verify'],
        [{ Verify: 1 }, 'Verify'],
      ] as const) {
        const res = await h.call('listauditevents', body).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
        expect(res.body.message).to.include(field);
      }
    });
  });

  describe('verify', () => {
    /** A trail of a few dozen records to tamper with. */
    async function trail(): Promise<AuditEvent[]> {
      const keyId = await createKey();
      for (let i = 0; i < 10; i++) await h.call('describekey', { KeyId: keyId }).expect(200);
      return h.store.listAudit();
    }

    const verdict = () => verifyAuditTrail(h.store, h.rootKey);

    /**
     * Tampering as someone who can write to the store would, on LevelDB or PostgreSQL alike:
     * `record` stored as record `seq`, its checksum redone. The old record goes first, in a
     * write of its own (the PostgreSQL store never overwrites an audit record).
     */
    async function putAudit(seq: number, record: AuditEvent): Promise<void> {
      await removeAudit(seq);
      await h.store.write(h.store.batch().putRaw('audit', auditRecordKey(seq), Buffer.from(encodeCheckedJson(record), 'utf8')));
    }

    async function removeAudit(seq: number): Promise<void> {
      await h.store.write(h.store.batch().deleteRaw('audit', auditRecordKey(seq)));
    }

    it('finds an untouched trail intact and counts its records', async () => {
      const events = await trail();
      expect(await verdict()).to.deep.equal({ checked: events.length, unchained: 0, journaled: 0, otherNodes: [] });
    });

    it('names a record whose field was edited (even with its checksum redone)', async () => {
      const events = await trail();
      const victim = events[5]!;
      await putAudit(victim.Seq, { ...victim, Principal: 'someone-else' });
      expect((await verdict()).problem).to.match(new RegExp(`^record ${victim.Seq} .*altered`));
    });

    it('names a record removed from the middle', async () => {
      const events = await trail();
      await removeAudit(events[4]!.Seq);
      expect((await verdict()).problem).to.equal(`record ${events[4]!.Seq} was removed (the next record is ${events[5]!.Seq})`);
    });

    it('names two records swapped', async () => {
      const events = await trail();
      const [a, b] = [events[3]!, events[4]!];
      await putAudit(a.Seq, b);
      await putAudit(b.Seq, a);
      expect((await verdict()).problem).to.match(new RegExp(`^record ${a.Seq}: .*reordered`));
    });

    it('names a record inserted, forged or copied', async () => {
      const events = await trail();
      const copy = events[2]!;
      const forged = { ...copy, Seq: copy.Seq + 1, PrevMac: copy.Mac };
      await putAudit(copy.Seq + 1, forged);
      expect((await verdict()).problem).to.match(new RegExp(`^record ${copy.Seq + 1} .*altered or inserted`));
    });

    it('names the newest records removed from the end, where nothing follows them', async () => {
      const events = await trail();
      const last = events[events.length - 1]!;
      await removeAudit(last.Seq);
      await removeAudit(last.Seq - 1);
      expect((await verdict()).problem).to.equal(`records ${last.Seq - 1} to ${last.Seq} were removed from the end (the chain's head names record ${last.Seq})`);
    });

    describe('records of one store write, kept as one entry', () => {
      /** Five records written in one store write (as a group commit writes them) after a few single ones. */
      async function grouped(): Promise<AuditEvent[]> {
        await trail();
        const batch = h.store.batch();
        for (let i = 0; i < 5; i++) {
          batch.audit({ Time: new Date().toISOString(), RequestId: null, Principal: 'system', SourceIp: null, Action: 'DescribeKey', KeyId: null, Outcome: 'Success', Detail: { Item: i } });
        }
        await h.store.write(batch);
        await h.call('listkeys', {}).expect(200);
        return h.store.listAudit();
      }

      /** The stored entries of the trail: key and records. */
      async function entries(): Promise<Array<{ key: string; records: AuditEvent[] }>> {
        const found = [];
        for await (const { key, value } of h.store.scanRecords('audit')) {
          const decoded = JSON.parse(value.toString('utf8').replace(/#[0-9a-f]{8}$/, '')) as AuditEvent | AuditEvent[];
          found.push({ key, records: Array.isArray(decoded) ? decoded : [decoded] });
        }
        return found;
      }

      async function putEntry(key: string, records: AuditEvent[]): Promise<void> {
        await h.store.write(h.store.batch().deleteRaw('audit', key));
        await h.store.write(h.store.batch().putRaw('audit', key, Buffer.from(encodeCheckedJson(records), 'utf8')));
      }

      it('stores them under the last one, lists and pages through them one by one, and verifies each', async () => {
        const events = await grouped();
        const group = (await entries()).find((entry) => entry.records.length === 5)!;
        expect(group, 'an entry of five records').not.to.equal(undefined);
        const [first, last] = [group.records[0]!, group.records[4]!];
        expect(group.key).to.equal(auditRecordKey(last.Seq));
        expect(group.records.map((record) => record.Seq)).to.deep.equal([0, 1, 2, 3, 4].map((i) => first.Seq + i));
        expect(events.map((event) => event.Seq)).to.deep.equal(events.map((_, i) => events[0]!.Seq + i));
        expect((await h.store.auditRange(first.Seq + 1, 2)).map((event) => event.Seq)).to.deep.equal([first.Seq + 2, first.Seq + 3]);
        expect((await h.store.auditRange(first.Seq - 1, 100)).length).to.equal(events.filter((event) => event.Seq >= first.Seq).length);
        const page = (await h.call('listauditevents', { Action: 'DescribeKey', Principal: 'system', Limit: 3 }).expect(200)).body;
        expect(page.Events.map((event: AuditEvent) => event.Detail?.Item)).to.deep.equal([0, 1, 2]);
        const next = (await h.call('listauditevents', { Action: 'DescribeKey', Principal: 'system', Marker: page.NextMarker }).expect(200)).body;
        expect(next.Events.map((event: AuditEvent) => event.Detail?.Item)).to.deep.equal([3, 4]);
        const all = await h.store.listAudit();
        expect(await verdict()).to.deep.equal({ checked: all.length, unchained: 0, journaled: 0, otherNodes: [] });
        expect((await h.store.auditNewest())!.Seq).to.equal(all.at(-1)!.Seq);
      });

      it('names a record edited inside the entry, one removed from it, and two swapped in it', async () => {
        await grouped();
        const group = (await entries()).find((entry) => entry.records.length === 5)!;
        const [a, b, c] = group.records as [AuditEvent, AuditEvent, AuditEvent];

        await putEntry(group.key, group.records.map((record) => (record === b ? { ...b, Outcome: 'AccessDeniedException' } : record)));
        expect((await verdict()).problem).to.match(new RegExp(`^record ${b.Seq} .*altered`));

        await putEntry(group.key, group.records.filter((record) => record !== b));
        expect((await verdict()).problem).to.equal(`record ${b.Seq} was removed (the next record is ${c.Seq})`);

        await putEntry(group.key, [b, a, ...group.records.slice(2)]);
        expect((await verdict()).problem).to.equal(`record ${a.Seq} was removed (the next record is ${b.Seq})`);

        await putEntry(group.key, group.records);
        expect((await verdict()).problem).to.equal(undefined);
      });

      it('splits the records of one write into entries of at most 64 KiB, each under its own last record', async () => {
        await trail();
        const batch = h.store.batch();
        for (let i = 0; i < 60; i++) {
          batch.audit({ Time: new Date().toISOString(), RequestId: null, Principal: 'system', SourceIp: null, Action: 'DescribeKey', KeyId: null, Outcome: 'Success', Detail: { Item: i, Pad: 'x'.repeat(3000) } });
        }
        await h.store.write(batch);
        const padded = (await entries()).filter((entry) => entry.records.some((record) => record.Detail?.Pad));
        expect(padded.length, 'entries').to.be.greaterThan(2);
        for (const entry of padded) {
          expect(entry.key).to.equal(auditRecordKey(entry.records.at(-1)!.Seq));
          expect(JSON.stringify(entry.records).length).to.be.at.most(64 * 1024 + 1);
        }
        expect(padded.flatMap((entry) => entry.records.map((record) => record.Detail!.Item))).to.deep.equal(Array.from({ length: 60 }, (_, i) => i));
        expect((await verdict()).problem).to.equal(undefined);
      });

      it('answers 503 for an entry that holds no record, and verify names it', async () => {
        await grouped();
        const group = (await entries()).find((entry) => entry.records.length === 5)!;
        await putEntry(group.key, []);
        const answer = await h.call('listauditevents', { Limit: 1000 }).expect(503);
        expect(answer.body.__type).to.equal('ServiceUnavailableException');
        expect((await verdict()).problem).to.match(/is not an audit record/);
        await putEntry(group.key, group.records);
        await h.call('listauditevents', { Limit: 1000 }).expect(200);
      });

      it('keeps an entry whole under retention until all of it is old enough, and stays verifiable', async () => {
        await grouped();
        const group = (await entries()).find((entry) => entry.records.length === 5)!;
        // A cutoff inside the group: the records before it go, the group stays as it is.
        const cutoff = new Date(Date.parse(group.records[2]!.Time) + 1);
        await h.store.write(h.store.batch().deleteRaw('audit', group.key));
        const times = group.records.map((record, i) => ({ ...record, Time: new Date(cutoff.getTime() - 2 + i).toISOString() }));
        expect(times[3]!.Time >= cutoff.toISOString()).to.equal(true);
        // Rewritten with new times the records no longer verify: so retention is checked on its own, then the MACs on the real group.
        await h.store.write(h.store.batch().putRaw('audit', group.key, Buffer.from(encodeCheckedJson(times), 'utf8')));
        await h.audit.removeBefore(cutoff);
        const kept = await entries();
        expect(kept.find((entry) => entry.key === group.key)?.records.length, 'the group straddling the cutoff stays whole').to.equal(5);
        expect(kept[0]!.key).to.equal(group.key);
        const anchor = (await h.store.getAuditAnchor())!;
        expect(anchor.Seq).to.equal(group.records[0]!.Seq - 1);
        await putEntry(group.key, group.records);
        expect((await verdict()).problem).to.equal(undefined);
      });
    });

    /**
     * listauditevents with Verify, page after page up to the newest record now: Seq -> Verified.
     * (Each page writes a record of its own, which the next page lists.)
     */
    async function listedMarks(body: Record<string, unknown> = {}): Promise<Map<number, boolean | undefined>> {
      const marks = new Map<number, boolean | undefined>();
      const newestNow = (await newest()).Seq;
      let marker: string | undefined;
      for (;;) {
        const page = (await h.call('listauditevents', { Verify: true, Limit: 4, ...body, ...(marker ? { Marker: marker } : {}) }).expect(200)).body;
        for (const event of page.Events as AuditEvent[]) marks.set(event.Seq, event.Verified);
        if (!page.Truncated || (page.Events as AuditEvent[]).some((event) => event.Seq >= newestNow)) return marks;
        marker = page.NextMarker;
      }
    }

    it('listauditevents with Verify marks every record of an intact trail verified, on every page; without it, no mark', async () => {
      const events = await trail();
      const marks = await listedMarks();
      // The listings' own records come after: each is listed by the next page.
      expect(events.every((event) => marks.get(event.Seq) === true), JSON.stringify([...marks])).to.equal(true);
      expect([...marks.values()].every((mark) => mark === true), JSON.stringify([...marks])).to.equal(true);
      // A filtered page starts in the middle of the trail: its first record's link is checked by the one read before it.
      const filtered = await listedMarks({ KeyId: events[events.length - 1]!.KeyId, Action: 'DescribeKey', Limit: 3 });
      expect(filtered.size).to.equal(10);
      expect([...filtered.values()].every((mark) => mark === true)).to.equal(true);
      const plain = (await h.call('listauditevents', {}).expect(200)).body.Events as AuditEvent[];
      expect(plain.some((event) => 'Verified' in event)).to.equal(false);
    });

    it('listauditevents with Verify marks an altered record, and only it, as not verified', async () => {
      const events = await trail();
      const victim = events[5]!;
      await putAudit(victim.Seq, { ...victim, Principal: 'someone-else' });
      const marks = await listedMarks();
      expect(marks.get(victim.Seq)).to.equal(false);
      expect([...marks].filter(([, mark]) => mark !== true).map(([seq]) => seq)).to.deep.equal([victim.Seq]);
      // A page of one record each: each page reads the record before its first; the marks are the same.
      const pages = await listedMarks({ Limit: 1 });
      expect([...pages].filter(([, mark]) => mark !== true).map(([seq]) => seq)).to.deep.equal([victim.Seq]);
    });

    it('listauditevents with Verify marks a record whose predecessor was removed, also as the first of a page', async () => {
      const events = await trail();
      const removed = events[4]!;
      await removeAudit(removed.Seq);
      const marks = await listedMarks();
      expect(marks.has(removed.Seq)).to.equal(false);
      expect([...marks].filter(([, mark]) => mark !== true).map(([seq]) => seq)).to.deep.equal([removed.Seq + 1]);
      const pages = await listedMarks({ Limit: 1 });
      expect([...pages].filter(([, mark]) => mark !== true).map(([seq]) => seq)).to.deep.equal([removed.Seq + 1]);
    });

    it('listauditevents with Verify marks two swapped records and a forged copy as not verified', async () => {
      const events = await trail();
      const [a, b] = [events[3]!, events[4]!];
      await putAudit(a.Seq, b);
      await putAudit(b.Seq, a);
      const copy = events[7]!;
      await putAudit(copy.Seq + 1, { ...copy, Seq: copy.Seq + 1, PrevMac: copy.Mac });
      const listed = [] as AuditEvent[];
      let marker: string | undefined;
      for (;;) {
        const page = (await h.call('listauditevents', { Verify: true, ...(marker ? { Marker: marker } : {}) }).expect(200)).body;
        listed.push(...(page.Events as AuditEvent[]));
        if (!page.Truncated) break;
        marker = page.NextMarker;
      }
      const failing = listed.filter((event) => event.Verified !== true).map((event) => event.Seq);
      // The swapped pair (listed as b then a) and the record after them (the one before it in the store is a),
      // the forged copy, and the record after it (its PrevMac names the real one).
      expect(failing).to.deep.equal([b.Seq, a.Seq, b.Seq + 1, copy.Seq + 1, copy.Seq + 2]);
    });

    it('listauditevents with Verify marks the first kept record after retention verified (it follows the anchor)', async () => {
      const events = await trail();
      const cutoff = new Date(Date.parse(events[events.length - 3]!.Time) + 1);
      const removed = await h.audit.removeBefore(cutoff);
      expect(removed).to.be.greaterThan(0);
      const marks = await listedMarks();
      expect(marks.size).to.be.greaterThan(0);
      expect([...marks.values()].every((mark) => mark === true), JSON.stringify([...marks])).to.equal(true);
      // The anchor altered: the first kept record no longer verifies.
      const anchor = (await h.store.getAuditAnchor())!;
      await h.store.write(h.store.batch().putAuditAnchor({ ...anchor, Before: '2000-01-01T00:00:00.000Z' }));
      const after = await listedMarks();
      expect(after.get(anchor.Seq + 1)).to.equal(false);
    });

    it('stays verifiable after retention removed the oldest records, and a removal before the anchor is noticed', async () => {
      const events = await trail();
      const cutoff = new Date(Date.parse(events[events.length - 1]!.Time) + 1);
      const removed = await h.audit.removeBefore(cutoff);
      expect(removed).to.equal(events.length - 1);
      expect(await verdict()).to.deep.equal({ checked: 1, unchained: 0, journaled: 0, otherNodes: [] });
      await h.call('describekey', { KeyId: events[events.length - 1]!.KeyId ?? (await createKey()) }).expect(200);
      expect((await verdict()).problem).to.equal(undefined);
    });
  });
});
