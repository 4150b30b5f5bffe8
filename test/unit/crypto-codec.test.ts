import { Buffer } from 'node:buffer';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  CIPHERTEXT_FORMAT_1,
  CIPHERTEXT_FORMAT_2,
  DEFAULT_CIPHERTEXT_FORMAT,
  DecryptionFailedError,
  HEAD_LENGTH,
  MIN_BLOB_LENGTH,
  PREFIX_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  bytesToUuid,
  encodeHead,
  parseCiphertext,
  uuidToBytes,
} from '../../src/crypto/index.js';

const keyId = '19e8782d-12e4-e972-8653-d19be3ec54bf';

/** A well-formed blob: head, a salt of 0xaa, and `bodyLength` bytes of 0xbb. */
function blobWith(version: number, bodyLength = TAG_LENGTH): Buffer {
  return Buffer.concat([encodeHead(keyId, version), Buffer.alloc(SALT_LENGTH, 0xaa), Buffer.alloc(bodyLength, 0xbb)]);
}

function expectDecryptionFailed(action: () => unknown): void {
  expect(action).to.throw(DecryptionFailedError, 'decryption failed');
}

describe('crypto ciphertext codec (formats 1 and 2)', () => {
  it('defines the layout once: 1 + 16 + 4 head, 32 salt, 16 tag; format 2 unless told', () => {
    expect([CIPHERTEXT_FORMAT_1, CIPHERTEXT_FORMAT_2, DEFAULT_CIPHERTEXT_FORMAT, HEAD_LENGTH, SALT_LENGTH, PREFIX_LENGTH, TAG_LENGTH, MIN_BLOB_LENGTH]).to.deep.equal([
      0x01, 0x02, 0x02, 21, 32, 53, 16, 69,
    ]);
  });

  describe('uuidToBytes and bytesToUuid', () => {
    it('round-trip any UUID, answering in lowercase', () => {
      fc.assert(
        fc.property(fc.uuid(), (uuid) => {
          expect(bytesToUuid(uuidToBytes(uuid))).to.equal(uuid.toLowerCase());
        }),
      );
      expect(bytesToUuid(uuidToBytes(keyId.toUpperCase()))).to.equal(keyId);
    });

    it('reads a Uint8Array view at its own offset', () => {
      const backing = new Uint8Array(40);
      backing.set(uuidToBytes(keyId), 10);
      expect(bytesToUuid(backing.subarray(10, 26))).to.equal(keyId);
    });

    it('Precondition: a KeyId is a hyphenated UUID.', () => {
      for (const text of ['', 'not-a-uuid', keyId.replaceAll('-', ''), `${keyId}0`, ` ${keyId}`, keyId.replace('e', 'g')]) {
        expect(() => uuidToBytes(text)).to.throw(TypeError);
      }
    });

    it('Precondition: UUID bytes are exactly 16 bytes.', () => {
      expect(() => bytesToUuid(new Uint8Array(15))).to.throw(TypeError);
      expect(() => bytesToUuid(new Uint8Array(17))).to.throw(TypeError);
    });
  });

  describe('encodeHead', () => {
    it('writes format || KeyId || version big-endian', () => {
      expect(encodeHead(keyId, 0x01020304).toString('hex')).to.equal(`02${keyId.replaceAll('-', '')}01020304`);
      expect(encodeHead(keyId, 0x01020304, CIPHERTEXT_FORMAT_1).toString('hex')).to.equal(`01${keyId.replaceAll('-', '')}01020304`);
      expect(encodeHead(keyId, 0xffff_ffff).subarray(17).toString('hex')).to.equal('ffffffff');
    });

    it('Precondition: a key version is an integer from 1 to 4294967295.', () => {
      for (const version of [0, -1, 0.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => encodeHead(keyId, version)).to.throw(RangeError);
      }
    });
  });

  describe('parseCiphertext', () => {
    it('splits a blob into views of head, salt, prefix and body', () => {
      const blob = blobWith(7, 20);
      const parsed = parseCiphertext(blob);
      expect(parsed.keyId).to.equal(keyId);
      expect(parsed.version).to.equal(7);
      expect(parsed.head.equals(blob.subarray(0, 21))).to.equal(true);
      expect(parsed.salt.equals(Buffer.alloc(32, 0xaa))).to.equal(true);
      expect(parsed.prefix.equals(blob.subarray(0, 53))).to.equal(true);
      expect(parsed.body.equals(Buffer.alloc(20, 0xbb))).to.equal(true);
      expect(parsed.body.buffer).to.equal(blob.buffer);
    });

    it('parses a plain Uint8Array view at a non-zero offset', () => {
      const blob = blobWith(3);
      const backing = new Uint8Array(blob.length + 5);
      backing.set(blob, 5);
      const parsed = parseCiphertext(backing.subarray(5));
      expect(parsed.keyId).to.equal(keyId);
      expect(parsed.version).to.equal(3);
      expect(parsed.body.length).to.equal(TAG_LENGTH);
    });

    it('Precondition: the whole layout is validated before any field is read.', () => {
      // Short inputs, even ones whose first bytes look right, never reach a field read
      // (which would throw a RangeError from readUInt32BE or bytesToUuid).
      const wellFormed = blobWith(1);
      for (let length = 0; length < MIN_BLOB_LENGTH; length += 1) {
        expectDecryptionFailed(() => parseCiphertext(wellFormed.subarray(0, length)));
      }
      expectDecryptionFailed(() => parseCiphertext('AQID' as unknown as Uint8Array));
    });

    it('Precondition: a blob is at least 69 bytes.', () => {
      expectDecryptionFailed(() => parseCiphertext(blobWith(1).subarray(0, 68)));
      expect(parseCiphertext(blobWith(1)).body.length).to.equal(TAG_LENGTH);
    });

    it('Precondition: the format byte is 0x01 or 0x02.', () => {
      for (const format of [0x00, 0x03, 0x41, 0xff]) {
        const blob = blobWith(1);
        blob[0] = format;
        expectDecryptionFailed(() => parseCiphertext(blob));
      }
      for (const format of [CIPHERTEXT_FORMAT_1, CIPHERTEXT_FORMAT_2]) {
        const blob = blobWith(1);
        blob[0] = format;
        expect(parseCiphertext(blob).format).to.equal(format);
      }
    });

    it('Precondition: the key version is at least 1.', () => {
      const blob = blobWith(1);
      blob.writeUInt32BE(0, 17);
      expectDecryptionFailed(() => parseCiphertext(blob));
    });
  });
});
