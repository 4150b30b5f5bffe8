import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  DecryptionFailedError,
  materialFingerprint,
  materialMatches,
  newWrappingKeyPair,
  unwrapImportedMaterial,
  wrappingKeyAad,
  WRAPPING_ALGORITHMS,
} from '../../src/crypto/index.js';
import { wrapMaterial } from '../helpers/imported-material.js';

const KEY_ID = '1f0c9a52-7d3e-4b8a-9f21-6c4e0d5b3a17';

describe('crypto: importing key material', function () {
  this.timeout(30_000);
  let pair: Awaited<ReturnType<typeof newWrappingKeyPair>>;
  let publicDer: Buffer;

  before(async () => {
    pair = await newWrappingKeyPair('RSA_2048');
    publicDer = pair.publicKey.export({ format: 'der', type: 'spki' });
  });

  it('makes RSA wrapping keys of each spec', async () => {
    expect(pair.privateKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
    expect((await newWrappingKeyPair('RSA_3072')).publicKey.asymmetricKeyDetails?.modulusLength).to.equal(3072);
  });

  for (const algorithm of WRAPPING_ALGORITHMS) {
    it(`unwraps material wrapped with ${algorithm}, of any length, and refuses it when changed or wrapped otherwise`, () => {
      for (const length of [1, 16, 32, 64]) {
        const material = randomBytes(length);
        expect(unwrapImportedMaterial(pair.privateKey, algorithm, wrapMaterial(publicDer, algorithm, material)).equals(material)).to.equal(true);
      }
      const wrapped = wrapMaterial(publicDer, algorithm, randomBytes(32));
      for (const position of [0, 255, wrapped.length - 1]) {
        const changed = Buffer.from(wrapped);
        changed[position]! ^= 1;
        expect(() => unwrapImportedMaterial(pair.privateKey, algorithm, changed), `byte ${position}`).to.throw(DecryptionFailedError);
      }
      const other = WRAPPING_ALGORITHMS.find((candidate) => candidate !== algorithm)!;
      expect(() => unwrapImportedMaterial(pair.privateKey, other, wrapped)).to.throw(DecryptionFailedError);
      expect(() => unwrapImportedMaterial(pair.privateKey, algorithm, wrapped.subarray(0, 100))).to.throw(DecryptionFailedError);
    });
  }

  it('fingerprints material per key under the root key, and matches only the same material', () => {
    const rootKey = randomBytes(32);
    const material = randomBytes(32);
    const fingerprint = materialFingerprint(rootKey, KEY_ID, material);
    expect(fingerprint).to.have.length(32);
    expect(materialMatches(rootKey, KEY_ID, material, fingerprint)).to.equal(true);
    expect(materialMatches(rootKey, KEY_ID, randomBytes(32), fingerprint)).to.equal(false);
    expect(materialMatches(rootKey, KEY_ID, material, fingerprint.subarray(0, 16))).to.equal(false);
    expect(materialFingerprint(randomBytes(32), KEY_ID, material).equals(fingerprint)).to.equal(false);
    expect(materialFingerprint(rootKey, '2f0c9a52-7d3e-4b8a-9f21-6c4e0d5b3a17', material).equals(fingerprint)).to.equal(false);
  });

  it('binds a wrapped wrapping key to its key and token', () => {
    const token = Buffer.alloc(32, 1);
    expect(wrappingKeyAad(KEY_ID, token)).to.equal(`keyhold:v1|${KEY_ID}|import|${token.toString('base64')}`);
    expect(() => wrappingKeyAad('root', token)).to.throw();
  });
});
