import { execFileSync } from 'node:child_process';
import { randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  algorithmFitsSpec,
  generateKeyPair,
  hashMessage,
  oaepDecrypt,
  oaepEncrypt,
  publicKeyFromDer,
  signDigest,
  signMessage,
  specOfPublicKey,
  verifyDigest,
  verifyMessage } from '../../src/crypto/asymmetric.js';
import {
  ASYMMETRIC_ENCRYPTION_ALGORITHMS,
  ASYMMETRIC_KEY_SPECS,
  maxOaepPlaintextBytes,
  SIGNING_ALGORITHMS,
  type AsymmetricKeySpec,
  type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { nodeVerifies } from '../helpers/signatures.js';

describe('crypto/asymmetric', function () {
  this.timeout(60_000);
  const keys = new Map<AsymmetricKeySpec, { privateKey: KeyObject; publicKey: KeyObject }>();

  before(async () => {
    for (const spec of ASYMMETRIC_KEY_SPECS) keys.set(spec, await generateKeyPair(spec));
  });

  it('generates each spec and recognises it from the public key', () => {
    for (const spec of ASYMMETRIC_KEY_SPECS) {
      const der = keys.get(spec)!.publicKey.export({ format: 'der', type: 'spki' });
      expect(specOfPublicKey(publicKeyFromDer(der))).to.equal(spec);
    }
  });

  it('refuses public keys of other kinds and bytes that are no key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    expect(() => specOfPublicKey(generateKeyPairSync('ed25519').publicKey)).to.throw(/not RSA/);
    expect(() => specOfPublicKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).to.throw(/not RSA/);
    expect(() => specOfPublicKey(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey)).to.throw(/not RSA/);
    expect(() => publicKeyFromDer(randomBytes(40))).to.throw(/SubjectPublicKeyInfo/);
  });

  for (const spec of ASYMMETRIC_KEY_SPECS) {
    for (const algorithm of SIGNING_ALGORITHMS.filter((a) => algorithmFitsSpec(a, spec))) {
      it(`${spec} ${algorithm}: a signed digest verifies with node:crypto over the message, and ours verifies it`, () => {
        const { privateKey, publicKey } = keys.get(spec)!;
        const message = randomBytes(300);
        const digest = hashMessage(algorithm, message);
        const fromDigest = signDigest(privateKey, algorithm, digest);
        expect(nodeVerifies(publicKey, algorithm, message, fromDigest)).to.equal(true);
        expect(verifyDigest(publicKey, algorithm, digest, fromDigest)).to.equal(true);
        const fromMessage = signMessage(privateKey, algorithm, message);
        expect(verifyDigest(publicKey, algorithm, digest, fromMessage)).to.equal(true);
        expect(verifyMessage(publicKey, algorithm, message, fromMessage)).to.equal(true);

        const flipped = Buffer.from(fromDigest);
        flipped[flipped.length - 2]! ^= 0x01;
        expect(verifyDigest(publicKey, algorithm, digest, flipped)).to.equal(false);
        expect(verifyMessage(publicKey, algorithm, message, flipped)).to.equal(false);
        const otherDigest = hashMessage(algorithm, Buffer.from('something else'));
        expect(verifyDigest(publicKey, algorithm, otherDigest, fromDigest)).to.equal(false);
        expect(verifyDigest(publicKey, algorithm, digest, randomBytes(7))).to.equal(false);
      });
    }
  }

  it('openssl pkeyutl verifies digest signatures of each kind', () => {
    const temp = makeTempDir('keyhold-asym-');
    const dir = temp.path;
    const cases: [AsymmetricKeySpec, SigningAlgorithm, string[]][] = [
      ['RSA_2048', 'RSASSA_PSS_SHA_256', ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:32', '-pkeyopt', 'digest:sha256']],
      ['RSA_3072', 'RSASSA_PSS_SHA_512', ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:64', '-pkeyopt', 'digest:sha512']],
      ['RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_384', ['-pkeyopt', 'rsa_padding_mode:pkcs1', '-pkeyopt', 'digest:sha384']],
      ['ECC_NIST_P256', 'ECDSA_SHA_256', []],
      ['ECC_NIST_P384', 'ECDSA_SHA_384', []],
    ];
    for (const [spec, algorithm, options] of cases) {
      const { privateKey, publicKey } = keys.get(spec)!;
      const digest = hashMessage(algorithm, randomBytes(100));
      writeFileSync(join(dir, 'pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
      writeFileSync(join(dir, 'digest'), digest);
      writeFileSync(join(dir, 'sig'), signDigest(privateKey, algorithm, digest));
      const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-in', join(dir, 'digest'), '-sigfile', join(dir, 'sig'), ...options]).toString();
      expect(out, `${spec} ${algorithm}`).to.match(/Signature Verified Successfully/);
    }
    temp.remove();
  });

  it('refuses a digest of the wrong length', () => {
    const { privateKey, publicKey } = keys.get('ECC_NIST_P256')!;
    expect(() => signDigest(privateKey, 'ECDSA_SHA_256', randomBytes(31))).to.throw(/32 bytes/);
    expect(() => verifyDigest(publicKey, 'ECDSA_SHA_256', randomBytes(33), randomBytes(70))).to.throw(/32 bytes/);
  });

  for (const algorithm of ASYMMETRIC_ENCRYPTION_ALGORITHMS) {
    it(`RSA ${algorithm}: round trip at the size limit, and a flipped ciphertext fails`, () => {
      const { privateKey, publicKey } = keys.get('RSA_2048')!;
      const plaintext = randomBytes(maxOaepPlaintextBytes('RSA_2048', algorithm));
      const ciphertext = oaepEncrypt(publicKey, algorithm, plaintext);
      expect(oaepDecrypt(privateKey, algorithm, ciphertext).equals(plaintext)).to.equal(true);
      expect(() => oaepEncrypt(publicKey, algorithm, randomBytes(plaintext.length + 1))).to.throw();
      const flipped = Buffer.from(ciphertext);
      flipped[10]! ^= 0x01;
      expect(() => oaepDecrypt(privateKey, algorithm, flipped)).to.throw();
      const other = algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1';
      expect(() => oaepDecrypt(privateKey, other, ciphertext)).to.throw();
    });
  }
});
