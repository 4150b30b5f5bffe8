import { expect } from 'chai';
import fc from 'fast-check';
import { decodeStandardBase64, isStandardBase64 } from '../../src/protocol/base64.js';

// The pattern the API has always applied to base64 fields (docs/api.md, "API").
const GROUPED_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe('isStandardBase64', () => {
  it('accepts exactly the strings of the grouped standard-base64 pattern', () => {
    const characters = fc.constantFrom(...'AQZaqz09+/=-_ .\n\u00e9'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: characters, maxLength: 24 }), (text) => {
        expect(isStandardBase64(text)).to.equal(GROUPED_PATTERN.test(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts the base64 of any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(isStandardBase64(Buffer.from(bytes).toString('base64'))).to.equal(true);
      }),
    );
  });

  it('accepts non-canonical last bits, as the pattern does, and refuses the URL-safe alphabet and missing padding', () => {
    expect(isStandardBase64('QR==')).to.equal(true);
    expect(isStandardBase64('QUJ=')).to.equal(true);
    expect(isStandardBase64('ab-_')).to.equal(false);
    expect(isStandardBase64('QQ')).to.equal(false);
    expect(isStandardBase64('QQ=')).to.equal(false);
    expect(isStandardBase64('Q===')).to.equal(false);
  });
});

describe('decodeStandardBase64', () => {
  it('gives the bytes of exactly the strings isStandardBase64 accepts, and undefined for the others', () => {
    const characters = fc.constantFrom(...'AQZaqz09+/=-_ .\n\u00e9'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: characters, maxLength: 24 }), fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('base64'))), (text) => {
        const bytes = decodeStandardBase64(text);
        if (GROUPED_PATTERN.test(text)) expect(bytes?.equals(Buffer.from(text, 'base64')), text).to.equal(true);
        else expect(bytes, text).to.equal(undefined);
      }),
      { numRuns: 5000 },
    );
  });
});
