import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { AuditChain, canonicalJson, FIRST_PREV_MAC, recordMac, type AuditEntry } from '../../src/store/audit-record.js';
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
});
