import { expect } from 'chai';
import fc from 'fast-check';
import { jsonAnswerBody } from '../../src/api/json-answer.js';

/** The answer's bytes, whichever form it came in. */
function bytesOf(body: string | Buffer): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

describe('jsonAnswerBody', () => {
  it('is JSON.stringify, as text, for answers without a long array', () => {
    for (const value of [{ KeyId: 'k', CiphertextBlob: 'AAAA' }, { Keys: Array.from({ length: 16 }, (_, i) => ({ KeyId: String(i) })) }, [1, 2, 3], 'text', 7, null, {}]) {
      expect(jsonAnswerBody(value)).to.equal(JSON.stringify(value));
    }
  });

  it('writes an object with a long array as the UTF-8 bytes of JSON.stringify, whatever its fields hold', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 }); // lone surrogates, quotes, control characters
    const element = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(text, text, { maxKeys: 3 }), fc.constant(undefined));
    const answer = fc.dictionary(
      text,
      fc.oneof(fc.array(element, { minLength: 17, maxLength: 400 }), fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)),
      { minKeys: 1, maxKeys: 4 },
    );
    fc.assert(
      fc.property(answer, (value) => {
        expect(bytesOf(jsonAnswerBody(value)).equals(Buffer.from(JSON.stringify(value), 'utf8'))).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes a batch answer of large items (groups that shrink and grow) exactly, and as a Buffer', () => {
    // Items of 40 KB, then tiny ones: the groups go down to one element and back up.
    const results = [
      ...Array.from({ length: 20 }, (_, i) => ({ CiphertextBlob: 'A'.repeat(40_000 + i), KeyId: `k${i}` })),
      ...Array.from({ length: 600 }, (_, i) => ({ Error: { __type: 'NotFoundException', message: `é ${i} "\u2028"` } })),
    ];
    const value = { Results: results, NextMarker: undefined, Truncated: false };
    const body = jsonAnswerBody(value);
    expect(Buffer.isBuffer(body)).to.equal(true);
    expect(bytesOf(body).equals(Buffer.from(JSON.stringify(value), 'utf8'))).to.equal(true);
  });

  it('leaves values with toJSON, class instances and arrays to JSON.stringify', () => {
    const long = Array.from({ length: 40 }, (_, i) => i);
    const withToJson = { Results: long, toJSON: () => ({ replaced: true }) };
    class Answer {
      Results = long;
    }
    for (const value of [withToJson, new Answer(), long]) {
      const body = jsonAnswerBody(value);
      expect(body).to.be.a('string');
      expect(body).to.equal(JSON.stringify(value));
    }
    // A null-prototype object is plain: grouped, and the same JSON.
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { Results: long });
    expect(bytesOf(jsonAnswerBody(bare)).toString()).to.equal(JSON.stringify(bare));
  });
});
