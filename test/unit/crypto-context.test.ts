import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalEncryptionContext, type EncryptionContext } from '../../src/crypto/index.js';

interface Vector {
  name: string;
  context: Record<string, string>;
  canonicalContext: string;
}

const { vectors } = JSON.parse(
  readFileSync(new URL('../fixtures/ciphertext-format-1.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };

const canonicalHex = (context?: EncryptionContext) => canonicalEncryptionContext(context).toString('hex');
const pairHex = (key: string, value: string) => {
  const part = (text: string) => {
    const bytes = Buffer.from(text, 'utf8');
    return bytes.length.toString(16).padStart(8, '0') + bytes.toString('hex');
  };
  return part(key) + part(value);
};

describe('crypto canonical encryption context', () => {
  for (const vector of vectors) {
    it(`matches the published canonical bytes: ${vector.name}`, () => {
      expect(canonicalHex(vector.context)).to.equal(vector.canonicalContext);
    });
  }

  it('encodes an empty or absent context as no bytes', () => {
    expect(canonicalEncryptionContext().length).to.equal(0);
    expect(canonicalEncryptionContext({}).length).to.equal(0);
  });

  it('writes each pair as u32be(len k) k u32be(len v) v, lengths in UTF-8 bytes', () => {
    expect(canonicalHex({ 'é': '' })).to.equal('00000002c3a900000000');
    expect(canonicalHex({ tenant: 'acme' })).to.equal(pairHex('tenant', 'acme'));
  });

  it('sorts by the UTF-8 bytes of the keys, which differs from JavaScript string order', () => {
    const fullwidthA = '\uFF21'; // UTF-8 ef bc a1; UTF-16 ff21
    const keyEmoji = '\u{1F511}'; // UTF-8 f0 9f 94 91; UTF-16 d83d dd11
    expect([fullwidthA, keyEmoji].sort()).to.deep.equal([keyEmoji, fullwidthA]);
    const expected = pairHex(fullwidthA, 'a') + pairHex(keyEmoji, 'b');
    expect(canonicalHex({ [keyEmoji]: 'b', [fullwidthA]: 'a' })).to.equal(expected);
    expect(canonicalHex({ [fullwidthA]: 'a', [keyEmoji]: 'b' })).to.equal(expected);
  });

  it('does not depend on the insertion order of the pairs', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), (context) => {
        const reversed = Object.fromEntries(Object.entries(context).reverse());
        expect(canonicalHex(reversed)).to.equal(canonicalHex(context));
      }),
    );
  });

  it('keeps the boundary between key and value, so moved characters change the bytes', () => {
    expect(canonicalHex({ a: 'bc' })).to.not.equal(canonicalHex({ ab: 'c' }));
    expect(canonicalHex({ a: '', b: '' })).to.not.equal(canonicalHex({ a: '\u0000\u0000\u0000\u0001b' }));
  });

  it('gives distinct contexts distinct bytes', () => {
    const contextArbitrary = fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 4 }), {
      maxKeys: 3,
    });
    fc.assert(
      fc.property(contextArbitrary, contextArbitrary, (left, right) => {
        const sameContext =
          Object.keys(left).length === Object.keys(right).length &&
          Object.entries(left).every(([key, value]) => Object.hasOwn(right, key) && right[key] === value);
        expect(canonicalEncryptionContext(left).equals(canonicalEncryptionContext(right))).to.equal(sameContext);
      }),
    );
  });

  it('Precondition: context keys and values are well-formed strings.', () => {
    // A lone surrogate would encode to U+FFFD, making '\uD800' and '\uDC00' the same bytes.
    expect(() => canonicalEncryptionContext({ '\uD800': 'a' })).to.throw(TypeError);
    expect(() => canonicalEncryptionContext({ a: 'x\uDC00' })).to.throw(TypeError);
    expect(() => canonicalEncryptionContext({ a: 1 } as unknown as EncryptionContext)).to.throw(TypeError);
    expect(canonicalHex({ '\u{1F511}': '\u{1F511}' })).to.equal(pairHex('\u{1F511}', '\u{1F511}'));
  });
});
