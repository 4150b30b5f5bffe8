import { Buffer } from 'node:buffer';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  DecryptionFailedError,
  MIN_BLOB_LENGTH,
  PREFIX_LENGTH,
  asVersionKey,
  decryptMessage,
  encryptMessage,
  parseCiphertext,
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

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/ciphertext-format-1.json', import.meta.url), 'utf8'),
) as { format: number; vectors: Vector[] };
const vectors = fixture.vectors;

const hex = (text: string) => Buffer.from(text, 'hex');
const keyOf = (vector: Vector) => asVersionKey(hex(vector.versionKey));
const blobOf = (vector: Vector) => Buffer.from(vector.blob, 'base64');
const keyId = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';

function u32be(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** DESIGN.md's format 1 written out step by step with node:crypto alone, as a cross-check. */
function referenceBlob(vector: Vector): Buffer {
  const head = Buffer.concat([Buffer.from([0x01]), hex(vector.keyId.replaceAll('-', '')), u32be(vector.version)]);
  const salt = hex(vector.salt);
  const info = Buffer.concat([Buffer.from('keyhold/v1/dek', 'utf8'), head]);
  const okm = Buffer.from(hkdfSync('sha256', hex(vector.versionKey), salt, info, 44));
  const pairs = Object.entries(vector.context)
    .map(([key, value]) => [Buffer.from(key, 'utf8'), Buffer.from(value, 'utf8')] as const)
    .sort((left, right) => Buffer.compare(left[0], right[0]));
  const context = Buffer.concat(pairs.flatMap(([key, value]) => [u32be(key.length), key, u32be(value.length), value]));
  const cipher = createCipheriv('aes-256-gcm', okm.subarray(0, 32), okm.subarray(32, 44));
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

describe('crypto envelope (ciphertext format 1)', () => {
  describe('known-answer vectors', () => {
    it('has vectors to check', () => {
      expect(fixture.format).to.equal(1);
      expect(vectors.length).to.be.greaterThan(0);
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
          expect(referenceBlob(vector).toString('base64')).to.equal(vector.blob);
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

    it('Precondition: the parsed parts have the format-1 lengths.', () => {
      const vector = vectors[0] as Vector;
      const parsed = parseCiphertext(blobOf(vector));
      const shortBody: ParsedCiphertext = { ...parsed, body: parsed.body.subarray(0, 15) };
      const shortPrefix: ParsedCiphertext = { ...parsed, prefix: parsed.prefix.subarray(0, 52) };
      expectDecryptionFailed(() => decryptMessage(shortBody, keyOf(vector), vector.context));
      expectDecryptionFailed(() => decryptMessage(shortPrefix, keyOf(vector), vector.context));
    });

    it('reads only prefix and body, so a hand-made head or salt cannot mislead it', () => {
      const vector = vectors[0] as Vector;
      const parsed = parseCiphertext(blobOf(vector));
      const misleading: ParsedCiphertext = { ...parsed, head: Buffer.alloc(21), salt: Buffer.alloc(32) };
      expect(decryptMessage(misleading, keyOf(vector), vector.context).toString('hex')).to.equal(vector.plaintext);
    });
  });

  describe('properties', () => {
    const contextArbitrary = fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), {
      maxKeys: 6,
    });

    it('round-trips any key, plaintext of 0..512 bytes and context', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uuid(),
          fc.integer({ min: 1, max: 0xffff_ffff }),
          fc.uint8Array({ maxLength: 512 }),
          contextArbitrary,
          (keyBytes, anyKeyId, version, plaintext, context) => {
            const versionKey = asVersionKey(Buffer.from(keyBytes));
            const blob = encryptMessage({ versionKey, keyId: anyKeyId, version, plaintext, context });
            expect(blob.length).to.equal(MIN_BLOB_LENGTH + plaintext.length);
            const parsed = parseCiphertext(blob);
            expect(parsed.keyId).to.equal(anyKeyId.toLowerCase());
            expect(parsed.version).to.equal(version);
            expect(decryptMessage(parsed, versionKey, context).equals(plaintext)).to.equal(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('refuses a blob with any byte changed in any way', () => {
      const versionKey = asVersionKey(randomBytes(32));
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), contextArbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), (plaintext, context, position, mask) => {
          const blob = encryptMessage({ versionKey, keyId, version: 1, plaintext, context });
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
        .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 1, max: 0xffff_ffff }), fc.uint8Array({ minLength: 48, maxLength: 300 }))
        .map(([uuid, version, rest]) => Buffer.concat([Buffer.from([0x01]), uuid, Buffer.from(u32be(version)), rest]));
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
