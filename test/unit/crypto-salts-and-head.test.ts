import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  HEAD_LENGTH,
  PREFIX_LENGTH,
  asVersionKey,
  decryptMessage,
  encodeHead,
  encryptMessage,
  parseCiphertext,
  writeHead,
} from '../../src/crypto/index.js';

const keyId = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';

describe('writeHead', () => {
  it('writes the bytes of encodeHead into a blob in place and nothing after them', () => {
    const target = Buffer.alloc(40, 0xee);
    writeHead(target, keyId.toUpperCase(), 0xfffffffe);
    expect(target.subarray(0, HEAD_LENGTH).equals(encodeHead(keyId, 0xfffffffe))).to.equal(true);
    expect(target.subarray(HEAD_LENGTH).every((byte) => byte === 0xee)).to.equal(true);
  });

  it('Precondition: the target has room for the head.', () => {
    expect(() => writeHead(Buffer.alloc(HEAD_LENGTH - 1), keyId, 1)).to.throw(RangeError, '21 bytes');
  });

  it('refuses a KeyId that is not a UUID and a version out of range, as encodeHead does', () => {
    expect(() => writeHead(Buffer.alloc(HEAD_LENGTH), 'not-a-uuid', 1)).to.throw(TypeError);
    expect(() => writeHead(Buffer.alloc(HEAD_LENGTH), keyId, 0)).to.throw(RangeError);
  });
});

describe('encryptMessage salts', () => {
  it('gives each of 1,000 messages its own salt (several refills of the salt pool), and each decrypts', () => {
    const versionKey = asVersionKey(randomBytes(32));
    const plaintext = Buffer.from('the same plaintext every time');
    const salts = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const blob = encryptMessage({ versionKey, keyId, version: 1, plaintext });
      salts.add(blob.subarray(HEAD_LENGTH, PREFIX_LENGTH).toString('hex'));
      expect(decryptMessage(parseCiphertext(blob), versionKey).equals(plaintext)).to.equal(true);
    }
    expect(salts.size).to.equal(1000);
  });
});
