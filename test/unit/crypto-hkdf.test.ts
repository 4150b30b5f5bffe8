import { Buffer } from 'node:buffer';
import { hkdfSync } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { hkdfSha256 } from '../../src/crypto/hkdf.js';

const hex = (text: string) => Buffer.from(text, 'hex');

describe('hkdfSha256', () => {
  it('gives the RFC 5869 test vectors for SHA-256 (cases 1 and 3)', () => {
    const ikm = Buffer.alloc(22, 0x0b);
    expect(hkdfSha256(ikm, hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42).toString('hex')).to.equal(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    expect(hkdfSha256(ikm, Buffer.alloc(0), Buffer.alloc(0), 42).toString('hex')).to.equal(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });

  it("gives the bytes of node's hkdfSync for any key, salt, info and length up to 64", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 64 }),
        (ikm, salt, info, length) => {
          const expected = Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
          expect(hkdfSha256(ikm, salt, info, length).equals(expected)).to.equal(true);
        },
      ),
    );
  });

  it('Precondition: 1 to 64 bytes of output (two expand blocks).', () => {
    const key = Buffer.alloc(32, 1);
    for (const length of [0, 65, 1.5, Number.NaN]) {
      expect(() => hkdfSha256(key, key, key, length)).to.throw(RangeError, '1 to 64 bytes');
    }
  });
});
