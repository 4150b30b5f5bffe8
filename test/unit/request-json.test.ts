import { expect } from 'chai';
import fc from 'fast-check';
import { normalizeFields } from '../../src/api/fields.js';
import { parseJsonBody, repeatsAKey } from '../../src/api/request-json.js';
import { KmsError, ValidationException } from '../../src/errors.js';

function refusal(run: () => unknown): KmsError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ValidationException);
    return error as KmsError;
  }
  expect.fail('expected a ValidationException');
}

/** `{"EncryptionContext":{"k":"<bytes>"}}` with raw bytes inside the value. */
function contextBody(valueBytes: number[]): Buffer {
  return Buffer.concat([Buffer.from('{"EncryptionContext":{"k":"'), Buffer.from(valueBytes), Buffer.from('"}}')]);
}

describe('parseJsonBody', () => {
  it('parses a JSON object, and an empty body as an empty request', () => {
    expect(parseJsonBody(Buffer.from('{"KeyId":"alias/a","EncryptionContext":{"é":"ü"}}'))).to.deep.equal({
      KeyId: 'alias/a',
      EncryptionContext: { é: 'ü' },
    });
    expect(parseJsonBody(Buffer.alloc(0))).to.deep.equal({});
  });

  describe('refuses a body that is not valid UTF-8', () => {
    const cases: [string, number[]][] = [
      ['byte 0xFF', [0xff]],
      ['byte 0xFE', [0xfe]],
      ['a lone continuation byte', [0x80]],
      ['an overlong encoding of "/"', [0xc0, 0xaf]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a truncated sequence', [0xe2, 0x82]],
    ];
    for (const [title, bytes] of cases) {
      it(title, () => {
        const error = refusal(() => parseJsonBody(contextBody(bytes)));
        expect(error.message).to.equal('The request body is not valid UTF-8');
      });
    }
  });

  it('refuses a leading byte-order mark, as JSON.parse always did', () => {
    refusal(() => parseJsonBody(Buffer.from('\ufeff{}')));
  });

  it('refuses text that is not JSON', () => {
    expect(refusal(() => parseJsonBody(Buffer.from('{"a":')))).to.have.property('message', 'The request body is not valid JSON');
  });

  describe('refuses a key named twice in one object', () => {
    const cases: [string, string][] = [
      ['at the top level', '{"KeyId":"a","KeyId":"b"}'],
      ['inside EncryptionContext', '{"EncryptionContext":{"k":"1","j":"2","k":"3"}}'],
      ['inside an object in an array', '{"Tags":[{"TagKey":"a","TagValue":"b","TagKey":"c"}]}'],
      ['spelled once with an escape', '{"KeyId":"a","\\u004beyId":"b"}'],
      ['after a nested object closed', '{"a":{"b":1},"c":[1,{"d":2}],"a":3}'],
    ];
    for (const [title, text] of cases) {
      it(title, () => {
        const error = refusal(() => parseJsonBody(Buffer.from(text)));
        expect(error.message).to.equal('The request body names a key twice in one object');
      });
    }
  });

  it('accepts one key in sibling and nested objects, and strings that hold quotes, braces and commas', () => {
    const text = '{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,}{","d\\\\":"\\\\","e":"x\\\\\\"y"}';
    expect(repeatsAKey(text)).to.equal(false);
    expect(parseJsonBody(Buffer.from(text))).to.deep.equal(JSON.parse(text));
  });

  it('finds no repeat in any JSON that JSON.stringify writes, and finds one once a key is repeated', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1, maxLength: 8 }), (value, key) => {
        const text = JSON.stringify(value);
        expect(repeatsAKey(text)).to.equal(false);
        const repeated = `{${JSON.stringify(key)}:${text},"x":{},${JSON.stringify(key)}:0}`;
        expect(repeatsAKey(repeated)).to.equal(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('normalizeFields', () => {
  it('refuses a field name that matches a field only after Unicode case folding (the Kelvin sign)', () => {
    expect('\u212AeyId'.toLowerCase()).to.equal('keyid'); // why the guard is needed
    const error = refusal(() => normalizeFields({ '\u212AeyId': 'alias/a' }));
    expect(error.message).to.equal('Field names must be ASCII');
    refusal(() => normalizeFields({ KeyId: 'alias/a', '\u212AeyId': 'alias/b' }));
  });

  it('still matches ASCII names case-insensitively', () => {
    expect(normalizeFields({ KEYID: 'a', plaintext: 'b' })).to.deep.equal({ keyid: 'a', plaintext: 'b' });
  });

  it('leaves out null fields, but counts them when a name is given twice', () => {
    expect(normalizeFields({ KeyId: 'a', Plaintext: null, Limit: 0, Tags: [] })).to.deep.equal({ keyid: 'a', limit: 0, tags: [] });
    for (const body of [{ KeyId: 'a', keyid: 'b' }, { KeyId: null, KEYID: 'b' }, { KeyId: 'a', keyId: null }, { keyid: null, KeyId: null }]) {
      expect(refusal(() => normalizeFields(body)).message, JSON.stringify(body)).to.equal("Field 'KeyId' is given twice");
    }
  });

  it("keeps a field named __proto__ (or constructor) an ordinary own field, never the object's prototype", () => {
    const fields = normalizeFields(JSON.parse('{"__proto__":{"admin":true},"Constructor":"c","KeyId":"a"}'));
    expect(Object.getPrototypeOf(fields)).to.equal(Object.prototype);
    expect(Object.keys(fields)).to.deep.equal(['__proto__', 'constructor', 'keyid']);
    expect(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value).to.deep.equal({ admin: true });
    expect((fields as { admin?: unknown }).admin).to.equal(undefined);
    expect(refusal(() => normalizeFields(JSON.parse('{"__proto__":1,"__PROTO__":2}'))).message).to.equal("Field '__proto__' is given twice");
  });
});
