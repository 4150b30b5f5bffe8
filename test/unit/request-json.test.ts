import { expect } from 'chai';
import fc from 'fast-check';
import { normalizeFields } from '../../src/api/fields.js';
import { parseJsonBody, parseObjectPiecewise, repeatsAKey } from '../../src/api/request-json.js';
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

describe('parseObjectPiecewise (bodies from 64 KiB on, without one large string)', () => {
  /** What JSON.parse makes of `text`, with its key order, or 'refused'. */
  function whole(text: string): string {
    try {
      return repeatsAKey(text) ? 'repeats a key' : JSON.stringify(JSON.parse(text));
    } catch {
      return 'refused';
    }
  }

  const object = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 6 })), { maxKeys: 6 });

  it('gives what JSON.parse gives for any JSON object, however it is spaced', () => {
    fc.assert(
      fc.property(object, fc.constantFrom(undefined, 0, 1, '\t', ' \r\n'), (value, space) => {
        const text = JSON.stringify(value, null, space);
        const parsed = parseObjectPiecewise(Buffer.from(text));
        expect(parsed, text).to.not.equal(undefined);
        expect(JSON.stringify(parsed)).to.equal(whole(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('never gives a value JSON.parse would not: a changed byte gives the same value or none', () => {
    fc.assert(
      fc.property(object, fc.nat(), fc.constantFrom('', '"', '\\', ',', ':', '{', '}', '[', ']', ' ', 'x', '1', '\n', '\u0001'), (value, at, insert) => {
        const text = JSON.stringify(value);
        const position = at % (text.length + 1);
        for (const changed of [text.slice(0, position) + insert + text.slice(position), text.slice(0, position) + insert + text.slice(position + 1)]) {
          const parsed = parseObjectPiecewise(Buffer.from(changed));
          if (parsed !== undefined) expect(JSON.stringify(parsed), changed).to.equal(whole(changed));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('leaves a repeated key, at the top or inside an item, to the whole parse and its refusal', () => {
    for (const text of ['{"Items":[],"Items":[]}', '{"Items":[{"a":1,"a":2}]}', '{"a":{"b":1,"b":2}}', '{"a":1,"\\u0061":2}']) {
      expect(parseObjectPiecewise(Buffer.from(text)), text).to.equal(undefined);
    }
  });

  it('leaves a body of many tiny pieces to the whole parse (each piece has a fixed cost)', () => {
    const many = `{"Items":[${'1,'.repeat(5000)}1]}`;
    expect(parseObjectPiecewise(Buffer.from(many))).to.equal(undefined);
    expect(parseJsonBody(Buffer.from(`${many}${' '.repeat(64 * 1024)}`))).to.deep.equal(JSON.parse(many));
    expect(parseObjectPiecewise(Buffer.from(`{"Items":[${'1,'.repeat(4000)}1]}`))).to.have.property('Items').with.length(4001);
  });

  it('keeps __proto__ an own field', () => {
    const parsed = parseObjectPiecewise(Buffer.from('{"__proto__":{"admin":true},"Items":[{"__proto__":1}]}'))!;
    expect(Object.getPrototypeOf(parsed)).to.equal(Object.prototype);
    expect(Object.keys(parsed)).to.deep.equal(['__proto__', 'Items']);
    expect((parsed as { admin?: unknown }).admin).to.equal(undefined);
  });

  it('parses a batch body over the large-string size as JSON.parse does, and refuses a bad one with the same message', () => {
    const item = (index: number) => ({ KeyId: 'alias/é-bench', Plaintext: Buffer.alloc(1024, index).toString('base64'), EncryptionContext: { n: `${index}`, q: '"}{],' } });
    const text = JSON.stringify({ Items: Array.from({ length: 150 }, (_, index) => item(index)) }, null, 1);
    expect(Buffer.byteLength(text)).to.be.above(200_000);
    expect(JSON.stringify(parseJsonBody(Buffer.from(text)))).to.equal(JSON.stringify(JSON.parse(text)));
    expect(refusal(() => parseJsonBody(Buffer.from(`${text} x`))).message).to.equal('The request body is not valid JSON');
    const repeated = text.replace('"n": "7"', '"n": "7", "n": "8"');
    expect(refusal(() => parseJsonBody(Buffer.from(repeated))).message).to.equal('The request body names a key twice in one object');
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
