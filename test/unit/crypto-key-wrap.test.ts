import { Buffer } from 'node:buffer';
import { createHmac, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  DecryptionFailedError,
  ROOT_KEY_AAD,
  credentialSecretAad,
  keyCheckMatches,
  keyCheckValue,
  unwrapKey,
  versionKeyAad,
  wrapKey,
} from '../../src/crypto/index.js';

const keyId = '6f1c7a52-9d0e-4b6a-8e2f-3c4d5e6f7a8b';
const otherKeyId = '6f1c7a52-9d0e-4b6a-8e2f-3c4d5e6f7a8c';

function expectDecryptionFailed(action: () => unknown): void {
  expect(action).to.throw(DecryptionFailedError, 'decryption failed');
}

describe('crypto key wrapping', () => {
  const rootKey = randomBytes(32);
  const versionKey = randomBytes(32);
  const aad = versionKeyAad(keyId, 2);

  describe('AAD strings', () => {
    it('names a version key as keyhold:v1|<KeyId>|<version>', () => {
      expect(versionKeyAad(keyId, 2)).to.equal(`keyhold:v1|${keyId}|2`);
      expect(versionKeyAad(keyId, 4294967295)).to.equal(`keyhold:v1|${keyId}|4294967295`);
    });

    it('names the root key and credential secrets', () => {
      expect(ROOT_KEY_AAD).to.equal('keyhold:v1|root');
      expect(credentialSecretAad('AKIDEXAMPLE')).to.equal('keyhold:v1|credential|AKIDEXAMPLE');
    });

    it('refuses a version-key AAD without a UUID KeyId or a valid version', () => {
      expect(() => versionKeyAad('root', 1)).to.throw(TypeError);
      expect(() => versionKeyAad('credential', 1)).to.throw(TypeError);
      for (const version of [0, 1.5, 2 ** 32]) expect(() => versionKeyAad(keyId, version)).to.throw(RangeError);
    });

    it('Precondition: a credential AAD names a non-empty access key id.', () => {
      expect(() => credentialSecretAad('')).to.throw(TypeError);
    });
  });

  describe('wrapKey and unwrapKey', () => {
    it('round-trips key material of any length', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 80 }), fc.string(), (material, anyAad) => {
          const key = Buffer.from(material);
          const wrapped = wrapKey(rootKey, key, anyAad);
          expect(wrapped.length).to.equal(12 + key.length + 16);
          expect(unwrapKey(rootKey, wrapped, anyAad).equals(key)).to.equal(true);
        }),
      );
    });

    it('treats a string AAD as its UTF-8 bytes', () => {
      const wrapped = wrapKey(rootKey, versionKey, aad);
      expect(unwrapKey(rootKey, wrapped, Buffer.from(aad, 'utf8')).equals(versionKey)).to.equal(true);
    });

    it('uses a fresh random IV for each wrap', () => {
      const first = wrapKey(rootKey, versionKey, aad);
      const second = wrapKey(rootKey, versionKey, aad);
      expect(first.subarray(0, 12).equals(second.subarray(0, 12))).to.equal(false);
    });

    it('refuses the AAD of another key, another version, the root or a credential', () => {
      const wrapped = wrapKey(rootKey, versionKey, aad);
      for (const wrongAad of [versionKeyAad(otherKeyId, 2), versionKeyAad(keyId, 1), versionKeyAad(keyId, 3), ROOT_KEY_AAD, credentialSecretAad(keyId), '']) {
        expectDecryptionFailed(() => unwrapKey(rootKey, wrapped, wrongAad));
      }
    });

    it('refuses every single tampered byte', () => {
      const wrapped = wrapKey(rootKey, versionKey, aad);
      for (let position = 0; position < wrapped.length; position += 1) {
        const tampered = Buffer.from(wrapped);
        tampered[position] = (tampered[position] ?? 0) ^ 0x01;
        expectDecryptionFailed(() => unwrapKey(rootKey, tampered, aad));
      }
    });

    it('refuses a wrong wrapping key', () => {
      const wrapped = wrapKey(rootKey, versionKey, aad);
      expectDecryptionFailed(() => unwrapKey(randomBytes(32), wrapped, aad));
      expectDecryptionFailed(() => unwrapKey(randomBytes(16), wrapped, aad));
    });

    it('Precondition: a wrapped key is at least iv and tag long.', () => {
      const wrapped = wrapKey(rootKey, versionKey, aad);
      for (let length = 0; length < wrapped.length; length += 1) {
        expectDecryptionFailed(() => unwrapKey(rootKey, wrapped.subarray(0, length), aad));
      }
    });

    it('Precondition: a wrapping key is exactly 32 bytes.', () => {
      for (const length of [0, 16, 31, 33]) {
        expect(() => wrapKey(Buffer.alloc(length), versionKey, aad)).to.throw(TypeError);
      }
    });
  });

  describe('key-check value', () => {
    it('is the first 16 bytes of HMAC-SHA256(rootKey, "keyhold/v1/key-check"), the same each time', () => {
      const expected = createHmac('sha256', rootKey).update('keyhold/v1/key-check').digest().subarray(0, 16);
      expect(keyCheckValue(rootKey).equals(expected)).to.equal(true);
      expect(keyCheckValue(rootKey).equals(keyCheckValue(rootKey))).to.equal(true);
    });

    it('matches its own key and no other', () => {
      const stored = keyCheckValue(rootKey);
      expect(keyCheckMatches(rootKey, stored)).to.equal(true);
      expect(keyCheckMatches(randomBytes(32), stored)).to.equal(false);
    });

    it('Precondition: a key-check value is 16 bytes before it is compared.', () => {
      const stored = keyCheckValue(rootKey);
      expect(keyCheckMatches(rootKey, stored.subarray(0, 15))).to.equal(false);
      expect(keyCheckMatches(rootKey, Buffer.concat([stored, Buffer.alloc(1)]))).to.equal(false);
      expect(keyCheckMatches(rootKey, new Uint8Array(0))).to.equal(false);
    });
  });
});
