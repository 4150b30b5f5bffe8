import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AuditChain, canonicalJson, FIRST_PREV_MAC, recordMac, recordTextParts, type AuditEntry } from '../../src/store/audit-record.js';
import type { AuditEvent } from '../../src/protocol/types.js';

const base: AuditEntry = {
  Time: '2026-12-05T08:00:00.000Z',
  RequestId: 'a2b1c3d4-0000-4000-8000-000000000001',
  Principal: 'KHAAAAAAAAAAAAAAAAAA',
  SourceIp: '127.0.0.1',
  Action: 'Encrypt',
  KeyId: null,
  Outcome: 'Success',
};

// Entries of every shape the API and the scheduler write, and some they do not: the chain's
// one-pass text must be exactly the canonical JSON that `keyhold admin audit verify` checks.
const entries: Array<[string, AuditEntry]> = [
  ['the fields every record has', base],
  ['nulls where a request had no id, source or key', { ...base, RequestId: null, SourceIp: null, KeyId: null, Principal: 'system' }],
  ['an encryption context with keys that sort anywhere, also named like record fields', {
    ...base, KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    EncryptionContext: { zeta: '1', Outcome: '"quoted"', Mac: 'x', Action: 'ü ✓ \u2028', '': 'empty' },
  }],
  ['a Detail of every value type', { ...base, Detail: { Change: 'RotateKey', Count: 3, Flag: false, Note: 'tab\there' } }],
  ['both optional fields', { ...base, EncryptionContext: { a: 'b' }, Detail: { x: 1 } }],
  ['the items of a batch, with and without a context, one with no key', {
    ...base, Action: 'BatchEncrypt', KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    Items: [
      { KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab', Outcome: 'Success', EncryptionContext: { b: '2', a: '1' } },
      { KeyId: null, Outcome: 'ValidationException' },
    ],
  }],
  ['every optional field', { ...base, EncryptionContext: { a: 'b' }, Items: [{ KeyId: null, Outcome: 'Success' }], Detail: { x: 1 } }],
  ['an explicit undefined (the generic path)', { ...base, Detail: undefined }],
  ['an unexpected field (the generic path)', { ...base, Extra: 'kept' } as AuditEntry],
  ['a KeyId that is undefined (the generic path)', { ...base, KeyId: undefined } as unknown as AuditEntry],
];

describe('audit records as the chain writes them', () => {
  for (const [name, entry] of entries) {
    it(`stores canonical text whose Mac verifies: ${name}`, () => {
      const key = randomBytes(32);
      const chain = new AuditChain(key, 'chain-1', undefined);
      const first = chain.append(entry);
      const second = chain.append(entry);
      for (const [record, seq, prev] of [[first, 1, FIRST_PREV_MAC], [second, 2, first.mac]] as const) {
        const event = JSON.parse(record.text) as AuditEvent;
        expect(record.text).to.equal(canonicalJson(event));
        expect(event).to.include({ Chain: 'chain-1', Seq: seq, PrevMac: prev, Mac: record.mac });
        expect(recordMac(key, event)).to.equal(record.mac);
        const { Chain: _c, Seq: _s, PrevMac: _p, Mac: _m, ...written } = event;
        expect(written).to.deep.equal(JSON.parse(JSON.stringify(entry)));
      }
    });
  }

  it('gives a record whose text was altered a different Mac', () => {
    const key = randomBytes(32);
    const record = new AuditChain(key, 'chain-1', undefined).append(base);
    const altered = JSON.parse(record.text.replace('"Encrypt"', '"Decrypt"')) as AuditEvent;
    expect(recordMac(key, altered)).not.to.equal(record.mac);
  });

  describe("a journal's record chained again from its text", () => {
    for (const [name, entry] of entries) {
      it(`gives exactly the text and Mac of the record chained as an entry: ${name}`, () => {
        const key = randomBytes(32);
        const journal = new AuditChain(key, '6f1c2a4e-1111-4222-8333-944455556666', undefined);
        const fromText = new AuditChain(key, 'store-chain-0123456789abcdef', { Seq: 41, Mac: 'a'.repeat(64) });
        const fromEntry = new AuditChain(key, 'store-chain-0123456789abcdef', { Seq: 41, Mac: 'a'.repeat(64) });
        for (let round = 0; round < 3; round++) {
          const journaled = journal.append(entry);
          const { Chain: _c, Seq: _s, PrevMac: _p, Mac: _m, ...parsed } = JSON.parse(journaled.text) as AuditEvent;
          expect(fromText.append({ journalText: journaled.text })).to.deep.equal(fromEntry.append(parsed));
        }
      });
    }

    it('finds its own Mac, chain, number and PrevMac whatever strings the record holds (random contexts, principals and actions)', () => {
      const text = fc.string({ unit: 'binary', maxLength: 12 });
      fc.assert(
        fc.property(fc.dictionary(text, text, { maxKeys: 4 }), text, text, fc.option(text, { nil: null }), (context, principal, action, sourceIp) => {
          const key = randomBytes(32);
          const chain = new AuditChain(key, 'journal-7', { Seq: 9, Mac: 'b'.repeat(64) });
          const record = chain.append({ ...base, Principal: principal, Action: action, SourceIp: sourceIp, EncryptionContext: context });
          const parts = recordTextParts(record.text);
          const event = JSON.parse(record.text) as AuditEvent;
          expect(parts).to.deep.include({ mac: event.Mac, chain: 'journal-7', seq: 10, prevMac: 'b'.repeat(64) });
          expect(recordMac(key, event)).to.equal(parts!.mac);
          const again = new AuditChain(key, 'other', undefined);
          const { Chain: _c, Seq: _s, PrevMac: _p, Mac: _m, ...entry } = event;
          expect(again.append({ journalText: record.text })).to.deep.equal(new AuditChain(key, 'other', undefined).append(entry));
        }),
        { numRuns: 300 },
      );
    });
  });
});
