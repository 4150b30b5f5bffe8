import { Buffer } from 'node:buffer';
import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  CIPHERTEXT_FORMAT_1,
  CIPHERTEXT_FORMAT_2,
  DecryptionFailedError,
  MIN_BLOB_LENGTH,
  PREFIX_LENGTH,
  asVersionKey,
  decryptMessage,
  encryptMessage,
  format2DerivationKey,
  parseCiphertext,
  type CiphertextFormat,
  type EncryptionContext,
  type ParsedCiphertext,
  type VersionKey,
} from '../../src/crypto/index.js';

interface Vector {
  name: string;
  versionKey: string;
  keyId: string;
  version: number;
  salt: string;
  context: Record<string, string>;
  canonicalContext: string;
  plaintext: string;
  blob: string;
}

interface Fixture {
  format: CiphertextFormat;
  vectors: Vector[];
}

const readFixture = (format: CiphertextFormat) =>
  JSON.parse(readFileSync(new URL(`../fixtures/ciphertext-format-${format}.json`, import.meta.url), 'utf8')) as Fixture;
const fixtures = [readFixture(CIPHERTEXT_FORMAT_1), readFixture(CIPHERTEXT_FORMAT_2)];
const vectors = fixtures.flatMap((fixture) => fixture.vectors.map((vector) => ({ ...vector, name: `format ${fixture.format}: ${vector.name}` })));
const formatOf = (vector: Vector) => Buffer.from(vector.blob, 'base64')[0] as CiphertextFormat;

const hex = (text: string) => Buffer.from(text, 'hex');
const keyOf = (vector: Vector) => asVersionKey(hex(vector.versionKey));
const blobOf = (vector: Vector) => Buffer.from(vector.blob, 'base64');
const keyId = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';

function u32be(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** Formats 1 and 2 of docs/formats.md written out step by step with node:crypto alone, as a cross-check. */
function referenceBlob(vector: Vector, format: CiphertextFormat): Buffer {
  const head = Buffer.concat([Buffer.from([format]), hex(vector.keyId.replaceAll('-', '')), u32be(vector.version)]);
  const salt = hex(vector.salt);
  let dek: Buffer;
  let iv: Buffer;
  if (format === CIPHERTEXT_FORMAT_1) {
    const info = Buffer.concat([Buffer.from('keyhold/v1/dek', 'utf8'), head]);
    const okm = Buffer.from(hkdfSync('sha256', hex(vector.versionKey), salt, info, 44));
    [dek, iv] = [okm.subarray(0, 32), okm.subarray(32, 44)];
  } else {
    const info = Buffer.concat([Buffer.from('keyhold/v2/dek', 'utf8'), head, salt]);
    dek = Buffer.from(hkdfSync('sha256', hex(vector.versionKey), Buffer.from('keyhold/v2', 'utf8'), info, 32));
    iv = salt.subarray(0, 12);
  }
  const pairs = Object.entries(vector.context)
    .map(([key, value]) => [Buffer.from(key, 'utf8'), Buffer.from(value, 'utf8')] as const)
    .sort((left, right) => Buffer.compare(left[0], right[0]));
  const context = Buffer.concat(pairs.flatMap(([key, value]) => [u32be(key.length), key, u32be(value.length), value]));
  const cipher = createCipheriv('aes-256-gcm', dek, iv);
  cipher.setAAD(Buffer.concat([head, salt, context]));
  const ciphertext = Buffer.concat([cipher.update(hex(vector.plaintext)), cipher.final()]);
  return Buffer.concat([head, salt, ciphertext, cipher.getAuthTag()]);
}

function open(blob: Uint8Array, versionKey: VersionKey, context?: EncryptionContext): Buffer {
  return decryptMessage(parseCiphertext(blob), versionKey, context);
}

function expectDecryptionFailed(action: () => unknown): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).to.be.instanceOf(DecryptionFailedError);
  expect(thrown).to.include({ code: 'ERR_KEYHOLD_DECRYPTION_FAILED', message: 'decryption failed' });
}

describe('crypto envelope (ciphertext formats 1 and 2)', () => {
  describe('known-answer vectors', () => {
    it('has vectors of both formats to check', () => {
      expect(fixtures.map((fixture) => fixture.format)).to.deep.equal([1, 2]);
      for (const fixture of fixtures) {
        expect(fixture.vectors.length).to.be.greaterThan(0);
        for (const vector of fixture.vectors) expect(formatOf(vector)).to.equal(fixture.format);
      }
    });

    for (const vector of vectors) {
      describe(vector.name, () => {
        it('encrypts with the given salt to the published blob', () => {
          const blob = encryptMessage({
            versionKey: keyOf(vector),
            keyId: vector.keyId,
            version: vector.version,
            plaintext: hex(vector.plaintext),
            context: vector.context,
            salt: hex(vector.salt),
            format: formatOf(vector),
          });
          expect(blob.toString('base64')).to.equal(vector.blob);
        });

        it('decrypts the published blob to the plaintext', () => {
          const parsed = parseCiphertext(blobOf(vector));
          expect(parsed.keyId).to.equal(vector.keyId);
          expect(parsed.version).to.equal(vector.version);
          expect(parsed.salt.toString('hex')).to.equal(vector.salt);
          expect(decryptMessage(parsed, keyOf(vector), vector.context).toString('hex')).to.equal(vector.plaintext);
        });

        it('matches an independent step-by-step computation with node:crypto', () => {
          expect(referenceBlob(vector, formatOf(vector)).toString('base64')).to.equal(vector.blob);
        });

        it('gives the same blob with the derivation key kept by the caller, and opens with it', () => {
          const derivationKey = format2DerivationKey(keyOf(vector));
          // HKDF-Extract with the fixed salt "keyhold/v2": HMAC keyed by the salt, over the version key.
          expect(derivationKey.equals(createHmac('sha256', 'keyhold/v2').update(hex(vector.versionKey)).digest())).to.equal(true);
          const params = { versionKey: keyOf(vector), keyId: vector.keyId, version: vector.version, plaintext: hex(vector.plaintext), context: vector.context, salt: hex(vector.salt), format: formatOf(vector) };
          expect(encryptMessage({ ...params, derivationKey }).toString('base64')).to.equal(vector.blob);
          expect(decryptMessage(parseCiphertext(blobOf(vector)), keyOf(vector), vector.context, derivationKey).toString('hex')).to.equal(vector.plaintext);
          // The one it was given is used, not one made afresh: a wrong one fails format 2.
          if (formatOf(vector) === CIPHERTEXT_FORMAT_2) {
            expectDecryptionFailed(() => decryptMessage(parseCiphertext(blobOf(vector)), keyOf(vector), vector.context, Buffer.alloc(32)));
            // Precondition: a derivation key given is 32 bytes.
            expect(() => encryptMessage({ ...params, derivationKey: derivationKey.subarray(0, 16) })).to.throw(TypeError);
          }
          expect(derivationKey.some((byte) => byte !== 0), 'a kept derivation key is not zeroed').to.equal(true);
        });
      });
    }
  });

  describe('encryptMessage', () => {
    const versionKey = asVersionKey(randomBytes(32));
    const plaintext = Buffer.from('attack at dawn');

    it('round-trips, and an absent context equals an empty one', () => {
      const blob = encryptMessage({ versionKey, keyId, version: 9, plaintext });
      expect(open(blob, versionKey)).to.deep.equal(plaintext);
      expect(open(blob, versionKey, {})).to.deep.equal(plaintext);
    });

    it('writes format 2 unless told, format 1 when told, and both open', () => {
      const second = encryptMessage({ versionKey, keyId, version: 9, plaintext });
      const first = encryptMessage({ versionKey, keyId, version: 9, plaintext, format: CIPHERTEXT_FORMAT_1 });
      expect([second[0], first[0]]).to.deep.equal([2, 1]);
      expect(parseCiphertext(second).format).to.equal(2);
      expect(parseCiphertext(first).format).to.equal(1);
      expect(open(first, versionKey)).to.deep.equal(plaintext);
      expect(open(second, versionKey)).to.deep.equal(plaintext);
      // Same salt, same key: the formats' message keys differ, so the bodies do too.
      const salt = randomBytes(32);
      const [a, b] = ([CIPHERTEXT_FORMAT_1, CIPHERTEXT_FORMAT_2] as CiphertextFormat[]).map((format) => encryptMessage({ versionKey, keyId, version: 9, plaintext, salt, format }));
      expect(a!.subarray(PREFIX_LENGTH).equals(b!.subarray(PREFIX_LENGTH))).to.equal(false);
    });

    it('refuses a format it does not know', () => {
      for (const format of [0, 3, 0xff]) {
        expect(() => encryptMessage({ versionKey, keyId, version: 1, plaintext, format: format as CiphertextFormat })).to.throw(RangeError);
      }
    });

    it('seals an empty plaintext into a blob of the minimum length', () => {
      const blob = encryptMessage({ versionKey, keyId, version: 1, plaintext: new Uint8Array(0) });
      expect(blob.length).to.equal(MIN_BLOB_LENGTH);
      expect(open(blob, versionKey).length).to.equal(0);
    });

    it('draws a fresh random salt for each message', () => {
      const first = encryptMessage({ versionKey, keyId, version: 1, plaintext });
      const second = encryptMessage({ versionKey, keyId, version: 1, plaintext });
      expect(first.subarray(21, PREFIX_LENGTH).equals(second.subarray(21, PREFIX_LENGTH))).to.equal(false);
      expect(first.equals(second)).to.equal(false);
    });

    it('Postcondition: GCM is a stream mode, so the ciphertext is as long as the plaintext.', () => {
      for (const length of [0, 1, 15, 16, 17, 1000]) {
        const blob = encryptMessage({ versionKey, keyId, version: 1, plaintext: randomBytes(length) });
        expect(blob.length).to.equal(PREFIX_LENGTH + length + 16);
      }
    });

    it('Precondition: a given salt is exactly 32 bytes.', () => {
      for (const length of [0, 16, 31, 33]) {
        expect(() => encryptMessage({ versionKey, keyId, version: 1, plaintext, salt: new Uint8Array(length) })).to.throw(
          TypeError,
        );
      }
    });

    it('refuses a version key that is not 32 bytes', () => {
      const shortKey = randomBytes(16) as VersionKey;
      expect(() => encryptMessage({ versionKey: shortKey, keyId, version: 1, plaintext })).to.throw(TypeError);
    });

    it('refuses a KeyId that is not a UUID and a version outside 1..4294967295', () => {
      expect(() => encryptMessage({ versionKey, keyId: 'not-a-uuid', version: 1, plaintext })).to.throw(TypeError);
      for (const version of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
        expect(() => encryptMessage({ versionKey, keyId, version, plaintext })).to.throw(RangeError);
      }
    });
  });

  describe('decryptMessage refuses anything altered', () => {
    for (const vector of vectors) {
      it(`refuses every single flipped byte: ${vector.name}`, () => {
        const blob = blobOf(vector);
        for (let position = 0; position < blob.length; position += 1) {
          const tampered = Buffer.from(blob);
          tampered[position] = (tampered[position] ?? 0) ^ 0xff;
          expectDecryptionFailed(() => open(tampered, keyOf(vector), vector.context));
        }
      });

      it(`refuses every truncation: ${vector.name}`, () => {
        const blob = blobOf(vector);
        for (let length = 0; length < blob.length; length += 1) {
          expectDecryptionFailed(() => open(blob.subarray(0, length), keyOf(vector), vector.context));
        }
      });
    }

    it('refuses a wrong version key', () => {
      for (const vector of vectors) {
        const wrongKey = Buffer.from(keyOf(vector));
        wrongKey[0] = (wrongKey[0] ?? 0) ^ 0x01;
        expectDecryptionFailed(() => open(blobOf(vector), asVersionKey(wrongKey), vector.context));
      }
    });

    it('refuses a changed, added or removed context pair', () => {
      const vector = vectors.find((candidate) => Object.keys(candidate.context).length >= 2);
      if (vector === undefined) throw new Error('the fixture needs a vector with two context pairs');
      const [firstKey] = Object.keys(vector.context) as [string];
      const blob = blobOf(vector);
      const { [firstKey]: removedValue, ...withoutFirst } = vector.context;
      const altered: EncryptionContext[] = [
        { ...vector.context, [firstKey]: `${removedValue}x` },
        { ...withoutFirst, [`${firstKey}x`]: removedValue ?? '' },
        { ...vector.context, extra: '' },
        withoutFirst,
        {},
      ];
      for (const context of altered) expectDecryptionFailed(() => open(blob, keyOf(vector), context));
      expectDecryptionFailed(() => open(blob, keyOf(vector)));
    });

    it('refuses a context where none was sealed', () => {
      const vector = vectors.find((candidate) => Object.keys(candidate.context).length === 0);
      if (vector === undefined) throw new Error('the fixture needs a vector without context');
      expectDecryptionFailed(() => open(blobOf(vector), keyOf(vector), { '': '' }));
    });

    it('refuses a blob whose format byte was changed to the other format', () => {
      for (const vector of vectors) {
        const relabelled = blobOf(vector);
        relabelled[0] = relabelled[0] === CIPHERTEXT_FORMAT_1 ? CIPHERTEXT_FORMAT_2 : CIPHERTEXT_FORMAT_1;
        expectDecryptionFailed(() => open(relabelled, keyOf(vector), vector.context));
      }
    });

    it('refuses a hand-made ParsedCiphertext whose prefix names no known format', () => {
      const vector = vectors[0] as Vector;
      const parsed = parseCiphertext(blobOf(vector));
      for (const format of [0, 3]) {
        const prefix = Buffer.from(parsed.prefix);
        prefix[0] = format;
        expectDecryptionFailed(() => decryptMessage({ ...parsed, prefix }, keyOf(vector), vector.context));
      }
    });

    it('Precondition: the parsed parts have the lengths of formats 1 and 2.', () => {
      const vector = vectors[0] as Vector;
      const parsed = parseCiphertext(blobOf(vector));
      const shortBody: ParsedCiphertext = { ...parsed, body: parsed.body.subarray(0, 15) };
      const shortPrefix: ParsedCiphertext = { ...parsed, prefix: parsed.prefix.subarray(0, 52) };
      expectDecryptionFailed(() => decryptMessage(shortBody, keyOf(vector), vector.context));
      expectDecryptionFailed(() => decryptMessage(shortPrefix, keyOf(vector), vector.context));
    });

    it('reads only prefix and body, so a hand-made head, salt or format cannot mislead it', () => {
      for (const vector of vectors) {
        const parsed = parseCiphertext(blobOf(vector));
        const other = parsed.format === CIPHERTEXT_FORMAT_1 ? CIPHERTEXT_FORMAT_2 : CIPHERTEXT_FORMAT_1;
        const misleading: ParsedCiphertext = { ...parsed, head: Buffer.alloc(21), salt: Buffer.alloc(32), format: other };
        expect(decryptMessage(misleading, keyOf(vector), vector.context).toString('hex')).to.equal(vector.plaintext);
      }
    });
  });

  describe('properties', () => {
    const contextArbitrary = fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), {
      maxKeys: 6,
    });

    const formatArbitrary = fc.constantFrom<CiphertextFormat>(CIPHERTEXT_FORMAT_1, CIPHERTEXT_FORMAT_2);

    it('round-trips any key, plaintext of 0..512 bytes and context, in either format', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uuid(),
          fc.integer({ min: 1, max: 0xffff_ffff }),
          fc.uint8Array({ maxLength: 512 }),
          contextArbitrary,
          formatArbitrary,
          (keyBytes, anyKeyId, version, plaintext, context, format) => {
            const versionKey = asVersionKey(Buffer.from(keyBytes));
            const blob = encryptMessage({ versionKey, keyId: anyKeyId, version, plaintext, context, format });
            expect(blob.length).to.equal(MIN_BLOB_LENGTH + plaintext.length);
            const parsed = parseCiphertext(blob);
            expect(parsed.format).to.equal(format);
            expect(parsed.keyId).to.equal(anyKeyId.toLowerCase());
            expect(parsed.version).to.equal(version);
            expect(decryptMessage(parsed, versionKey, context).equals(plaintext)).to.equal(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('refuses a blob of either format with any byte changed in any way', () => {
      const versionKey = asVersionKey(randomBytes(32));
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), contextArbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), formatArbitrary, (plaintext, context, position, mask, format) => {
          const blob = encryptMessage({ versionKey, keyId, version: 1, plaintext, context, format });
          const index = position % blob.length;
          blob[index] = (blob[index] ?? 0) ^ mask;
          expectDecryptionFailed(() => open(blob, versionKey, context));
        }),
        { numRuns: 300 },
      );
    });

    it('throws only DecryptionFailedError for arbitrary bytes', () => {
      // Half the inputs carry a well-formed prefix so that they reach the tag check.
      const wellFormedPrefix = fc
        .tuple(formatArbitrary, fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 1, max: 0xffff_ffff }), fc.uint8Array({ minLength: 48, maxLength: 300 }))
        .map(([format, uuid, version, rest]) => Buffer.concat([Buffer.from([format]), uuid, Buffer.from(u32be(version)), rest]));
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: 300 }), wellFormedPrefix),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          contextArbitrary,
          (bytes, keyBytes, context) => {
            expectDecryptionFailed(() => open(bytes, asVersionKey(Buffer.from(keyBytes)), context));
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
