import { execFileSync } from 'node:child_process';
import { createECDH, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  algorithmFitsSpec,
  AsymmetricInputError,
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

  describe('ECDSA over a digest takes the private scalar from node (JWK d)', () => {
    const curves = [
      { algorithm: 'ECDSA_SHA_256', curve: 'prime256v1', crv: 'P-256', bytes: 32 },
      { algorithm: 'ECDSA_SHA_384', curve: 'secp384r1', crv: 'P-384', bytes: 48 },
    ] as const;

    /** An EC key with a chosen scalar; the public point comes from node's ECDH, not from the code under test. */
    function keyWithScalar(curve: string, crv: string, d: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
      const ecdh = createECDH(curve);
      ecdh.setPrivateKey(d);
      const point = ecdh.getPublicKey();
      const half = (point.length - 1) / 2;
      const jwk = { kty: 'EC', crv, d: d.toString('base64url'), x: point.subarray(1, 1 + half).toString('base64url'), y: point.subarray(1 + half).toString('base64url') };
      const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
      return { privateKey, publicKey: createPublicKey(privateKey) };
    }

    for (const { algorithm, curve, crv, bytes } of curves) {
      it(`${crv}: a scalar with two leading zero bytes signs what node:crypto verifies over the message`, () => {
        const d = Buffer.concat([Buffer.alloc(2), randomBytes(bytes - 2)]);
        d[2]! |= 0x01; // never all zero
        const { privateKey, publicKey } = keyWithScalar(curve, crv, d);
        const message = randomBytes(200);
        const signature = signDigest(privateKey, algorithm, hashMessage(algorithm, message));
        expect(nodeVerifies(publicKey, algorithm, message, signature)).to.equal(true);
        expect(nodeVerifies(publicKey, algorithm, Buffer.from('another message'), signature)).to.equal(false);
      });
    }

    it('keys made by openssl and read back from PKCS#8 DER (as Keyhold stores them) sign digests openssl verifies', () => {
      const temp = makeTempDir('keyhold-asym-');
      const dir = temp.path;
      for (const { algorithm, crv } of curves) {
        execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${crv}`, '-out', join(dir, 'key.pem')]);
        const pem = createPrivateKey(readFileSync(join(dir, 'key.pem')));
        const stored = createPrivateKey({ key: pem.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
        const digest = hashMessage(algorithm, randomBytes(100));
        writeFileSync(join(dir, 'pub.pem'), createPublicKey(pem).export({ format: 'pem', type: 'spki' }));
        writeFileSync(join(dir, 'digest'), digest);
        for (const privateKey of [pem, stored]) {
          writeFileSync(join(dir, 'sig'), signDigest(privateKey, algorithm, digest));
          const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-in', join(dir, 'digest'), '-sigfile', join(dir, 'sig')]).toString();
          expect(out, `${crv} ${algorithm}`).to.match(/Signature Verified Successfully/);
        }
      }
      temp.remove();
    });

    it('refuses a key of another curve or kind before exporting anything', () => {
      const digest = randomBytes(32);
      const cases: [KeyObject, SigningAlgorithm][] = [
        [keys.get('ECC_NIST_P384')!.privateKey, 'ECDSA_SHA_256'],
        [keys.get('RSA_2048')!.privateKey, 'ECDSA_SHA_256'],
        [generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, 'ECDSA_SHA_256'],
      ];
      for (const [privateKey, algorithm] of cases) {
        expect(() => signDigest(privateKey, algorithm, digest)).to.throw(AsymmetricInputError, /does not fit/);
      }
    });
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
