import { constants, createHash, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import {
  ASYMMETRIC_KEY_SPECS,
  SIGNING_ALGORITHMS,
  signingHash,
  type AsymmetricKeySpec,
  type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import { openHarness, storedRecords, type Harness } from '../helpers/service-harness.js';
import { nodeVerifies } from '../helpers/signatures.js';

const EXPECTED_SIGNING: Record<AsymmetricKeySpec, string[]> = {
  RSA_2048: SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_')),
  RSA_3072: SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_')),
  RSA_4096: SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_')),
  ECC_NIST_P256: ['ECDSA_SHA_256'],
  ECC_NIST_P384: ['ECDSA_SHA_384'],
};

describe('API: asymmetric keys (local provider)', function () {
  this.timeout(60_000);
  let h: Harness;
  const signing = new Map<AsymmetricKeySpec, string>();
  let rsaEncrypt: string;
  let symmetric: string;

  before(async () => {
    h = await openHarness();
    for (const spec of ASYMMETRIC_KEY_SPECS) {
      const res = await h.call('createkey', { KeySpec: spec, KeyUsage: 'SIGN_VERIFY', Description: spec }).expect(200);
      signing.set(spec, res.body.KeyMetadata.KeyId);
    }
    rsaEncrypt = (await h.call('createkey', { KeySpec: 'RSA_3072', KeyUsage: 'ENCRYPT_DECRYPT' }).expect(200)).body.KeyMetadata.KeyId;
    symmetric = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
  });
  after(async () => {
    await h.close();
  });

  async function publicKeyOf(keyId: string): Promise<KeyObject> {
    const res = await h.call('getpublickey', { KeyId: keyId }).expect(200);
    return createPublicKey({ key: Buffer.from(res.body.PublicKey, 'base64'), format: 'der', type: 'spki' });
  }

  it('describekey shows spec, usage, origin and the algorithms of each key', async () => {
    for (const spec of ASYMMETRIC_KEY_SPECS) {
      const { KeyMetadata } = (await h.call('describekey', { KeyId: signing.get(spec) }).expect(200)).body;
      expect(KeyMetadata).to.include({ KeySpec: spec, CustomerMasterKeySpec: spec, KeyUsage: 'SIGN_VERIFY', Origin: 'KEYHOLD', Enabled: true });
      expect(KeyMetadata.SigningAlgorithms).to.deep.equal(EXPECTED_SIGNING[spec]);
      expect(KeyMetadata.EncryptionAlgorithms).to.deep.equal([]);
      expect(KeyMetadata).to.not.have.property('ProviderKeyId');
    }
    const { KeyMetadata } = (await h.call('describekey', { KeyId: rsaEncrypt }).expect(200)).body;
    expect(KeyMetadata.EncryptionAlgorithms).to.deep.equal(['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
    expect(KeyMetadata.SigningAlgorithms).to.deep.equal([]);
  });

  it('getpublickey answers a DER SubjectPublicKeyInfo of the right kind', async () => {
    const res = await h.call('getpublickey', { KeyId: signing.get('ECC_NIST_P384') }).expect(200);
    expect(res.body).to.include({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' });
    expect(res.body.SigningAlgorithms).to.deep.equal(['ECDSA_SHA_384']);
    const key = await publicKeyOf(signing.get('ECC_NIST_P384')!);
    expect(key.asymmetricKeyDetails?.namedCurve).to.equal('secp384r1');
    const rsa = await publicKeyOf(signing.get('RSA_4096')!);
    expect(rsa.asymmetricKeyDetails?.modulusLength).to.equal(4096);
  });

  for (const spec of ASYMMETRIC_KEY_SPECS) {
    it(`${spec}: sign RAW and DIGEST with every algorithm; node:crypto and verify agree; a changed message does not verify`, async () => {
      const keyId = signing.get(spec)!;
      const publicKey = await publicKeyOf(keyId);
      for (const algorithm of EXPECTED_SIGNING[spec] as SigningAlgorithm[]) {
        const message = randomBytes(500);
        const digest = createHash(signingHash(algorithm)).update(message).digest();
        for (const [messageType, sent] of [['RAW', message], ['DIGEST', digest]] as const) {
          const res = await h.call('sign', { KeyId: keyId, Message: sent.toString('base64'), MessageType: messageType, SigningAlgorithm: algorithm }).expect(200);
          expect(res.body).to.include({ KeyId: keyId, SigningAlgorithm: algorithm });
          const signature = Buffer.from(res.body.Signature, 'base64');
          expect(nodeVerifies(publicKey, algorithm, message, signature), `${algorithm} ${messageType}`).to.equal(true);
          const ok = await h.call('verify', { KeyId: keyId, Message: message.toString('base64'), Signature: res.body.Signature, SigningAlgorithm: algorithm }).expect(200);
          expect(ok.body).to.include({ SignatureValid: true, KeyId: keyId });
          const okDigest = await h.call('verify', { KeyId: keyId, Message: digest.toString('base64'), MessageType: 'DIGEST', Signature: res.body.Signature, SigningAlgorithm: algorithm }).expect(200);
          expect(okDigest.body.SignatureValid).to.equal(true);
          const other = Buffer.from(message);
          other[0]! ^= 1;
          const bad = await h.call('verify', { KeyId: keyId, Message: other.toString('base64'), Signature: res.body.Signature, SigningAlgorithm: algorithm }).expect(400);
          expect(bad.body.__type).to.equal('KMSInvalidSignatureException');
        }
      }
    });
  }

  it('RSA ENCRYPT_DECRYPT: OAEP SHA-1 and SHA-256 round trips; ciphertext from node:crypto decrypts; wrong algorithm or a flipped byte fails', async () => {
    const publicKey = await publicKeyOf(rsaEncrypt);
    for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']) {
      const plaintext = randomBytes(100);
      const enc = await h.call('encrypt', { KeyId: rsaEncrypt, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: algorithm }).expect(200);
      expect(enc.body).to.include({ KeyId: rsaEncrypt, EncryptionAlgorithm: algorithm });
      const blob = Buffer.from(enc.body.CiphertextBlob, 'base64');
      expect(blob.length).to.equal(384);
      const dec = await h.call('decrypt', { KeyId: rsaEncrypt, CiphertextBlob: enc.body.CiphertextBlob, EncryptionAlgorithm: algorithm }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64').equals(plaintext)).to.equal(true);
      expect(dec.body.EncryptionAlgorithm).to.equal(algorithm);

      const external = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, plaintext);
      const dec2 = await h.call('decrypt', { KeyId: rsaEncrypt, CiphertextBlob: external.toString('base64'), EncryptionAlgorithm: algorithm }).expect(200);
      expect(Buffer.from(dec2.body.Plaintext, 'base64').equals(plaintext)).to.equal(true);

      const other = algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1';
      expect((await h.call('decrypt', { KeyId: rsaEncrypt, CiphertextBlob: enc.body.CiphertextBlob, EncryptionAlgorithm: other }).expect(400)).body.__type).to.equal('InvalidCiphertextException');
      blob[5]! ^= 1;
      expect((await h.call('decrypt', { KeyId: rsaEncrypt, CiphertextBlob: blob.toString('base64'), EncryptionAlgorithm: algorithm }).expect(400)).body.__type).to.equal('InvalidCiphertextException');
    }
    // RSA_3072 with OAEP SHA-256 takes at most 384 - 2*32 - 2 = 318 bytes.
    const tooLong = await h.call('encrypt', { KeyId: rsaEncrypt, Plaintext: randomBytes(319).toString('base64'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }).expect(400);
    expect(tooLong.body.message).to.match(/at most 318 bytes/);
  });

  it('answers misuse with typed errors', async () => {
    const ecc = signing.get('ECC_NIST_P256')!;
    const type = async (action: string, body: object) => (await h.call(action, body).expect(400)).body.__type;
    // Symmetric-only actions on asymmetric keys.
    expect(await type('encrypt', { KeyId: ecc, Plaintext: 'aGk=' })).to.equal('InvalidKeyUsageException');
    expect(await type('encrypt', { KeyId: rsaEncrypt, Plaintext: 'aGk=' })).to.equal('ValidationException');
    expect(await type('generatedatakey', { KeyId: rsaEncrypt, KeySpec: 'AES_256' })).to.equal('InvalidKeyUsageException');
    expect(await type('generatedatakeywithoutplaintext', { KeyId: ecc, KeySpec: 'AES_256' })).to.equal('InvalidKeyUsageException');
    const blob = (await h.call('encrypt', { KeyId: symmetric, Plaintext: 'aGk=' }).expect(200)).body.CiphertextBlob;
    expect(await type('reencrypt', { CiphertextBlob: blob, DestinationKeyId: rsaEncrypt })).to.equal('InvalidKeyUsageException');
    expect(await type('decrypt', { CiphertextBlob: blob, KeyId: ecc })).to.equal('InvalidKeyUsageException');
    expect(await type('decrypt', { CiphertextBlob: blob, KeyId: rsaEncrypt })).to.equal('ValidationException');
    expect(await type('rotatekeyondemand', { KeyId: ecc })).to.equal('UnsupportedOperationException');
    expect(await type('enablekeyrotation', { KeyId: rsaEncrypt })).to.equal('UnsupportedOperationException');
    expect(await type('getkeyrotationstatus', { KeyId: ecc })).to.equal('UnsupportedOperationException');
    expect(await type('listkeyrotations', { KeyId: ecc })).to.equal('UnsupportedOperationException');
    // Asymmetric actions on symmetric keys and the wrong usage.
    expect(await type('sign', { KeyId: symmetric, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('InvalidKeyUsageException');
    expect(await type('getpublickey', { KeyId: symmetric })).to.equal('InvalidKeyUsageException');
    expect(await type('sign', { KeyId: rsaEncrypt, Message: 'aGk=', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })).to.equal('InvalidKeyUsageException');
    expect(await type('encrypt', { KeyId: symmetric, Plaintext: 'aGk=', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).to.equal('InvalidKeyUsageException');
    expect(await type('decrypt', { KeyId: symmetric, CiphertextBlob: blob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).to.equal('InvalidKeyUsageException');
    // Algorithms that do not fit the key, unknown algorithms, bad digests, bad input.
    expect(await type('sign', { KeyId: ecc, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_384' })).to.equal('InvalidKeyUsageException');
    expect(await type('sign', { KeyId: ecc, Message: 'aGk=', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })).to.equal('InvalidKeyUsageException');
    expect(await type('sign', { KeyId: ecc, Message: 'aGk=', SigningAlgorithm: 'ED25519' })).to.equal('ValidationException');
    expect(await type('sign', { KeyId: ecc, Message: 'aGk=', MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('ValidationException');
    expect(await type('sign', { KeyId: ecc, Message: 'aGk=', MessageType: 'HASH', SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('ValidationException');
    expect(await type('sign', { KeyId: ecc, Message: randomBytes(4097).toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('ValidationException');
    expect(await type('sign', { KeyId: ecc, SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('ValidationException');
    expect(await type('verify', { KeyId: ecc, Message: 'aGk=', Signature: 'not base64!', SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('ValidationException');
    expect(await type('verify', { KeyId: ecc, Message: 'aGk=', Signature: 'AAAA', SigningAlgorithm: 'ECDSA_SHA_256' })).to.equal('KMSInvalidSignatureException');
    expect(await type('encrypt', { KeyId: rsaEncrypt, Plaintext: 'aGk=', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', EncryptionContext: { a: 'b' } })).to.equal('ValidationException');
    expect(await type('decrypt', { CiphertextBlob: blob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).to.equal('ValidationException');
    expect(await type('decrypt', { KeyId: rsaEncrypt, CiphertextBlob: 'AAAA', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).to.equal('InvalidCiphertextException');
    // Creation rules.
    expect(await type('createkey', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' })).to.equal('ValidationException');
    expect(await type('createkey', { KeySpec: 'RSA_2048' })).to.equal('ValidationException');
    expect(await type('createkey', { KeySpec: 'RSA_1024', KeyUsage: 'SIGN_VERIFY' })).to.equal('ValidationException');
    expect(await type('createkey', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', ProviderKeyId: 'x' })).to.equal('ValidationException');
    expect(await type('createkey', { Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })).to.equal('ValidationException');
    expect(await type('createkey', { Origin: 'AWS_KMS' })).to.equal('ValidationException');
  });

  it('a disabled asymmetric key neither signs nor verifies; enabled again it does', async () => {
    const keyId = signing.get('ECC_NIST_P256')!;
    await h.call('disablekey', { KeyId: keyId }).expect(200);
    expect((await h.call('sign', { KeyId: keyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }).expect(400)).body.__type).to.equal('DisabledException');
    expect((await h.call('getpublickey', { KeyId: keyId }).expect(400)).body.__type).to.equal('DisabledException');
    const verifyBody = { KeyId: keyId, Message: 'aGk=', Signature: 'AAAA', SigningAlgorithm: 'ECDSA_SHA_256' };
    expect((await h.call('verify', verifyBody).expect(400)).body.__type).to.equal('DisabledException');
    await h.call('enablekey', { KeyId: keyId }).expect(200);
    await h.call('sign', { KeyId: keyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }).expect(200);
  });

  it('aliases and tags work on asymmetric keys', async () => {
    const keyId = signing.get('ECC_NIST_P384')!;
    await h.call('createalias', { AliasName: 'alias/p384-signer', TargetKeyId: keyId }).expect(200);
    const res = await h.call('sign', { KeyId: 'alias/p384-signer', Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_384' }).expect(200);
    expect(res.body.KeyId).to.equal(keyId);
    await h.call('tagresource', { KeyId: keyId, Tags: [{ TagKey: 'purpose', TagValue: 'ca' }] }).expect(200);
  });

  /**
   * What a store keeps of RSA key `keyId` (`stored`: its records, or LevelDB's files) holds its
   * wrapped private key and no PKCS#8 private key; a service with no cache still signs with it.
   */
  async function expectPrivateKeyWrapped(harness: Harness, keyId: string, stored: Buffer): Promise<void> {
    const publicDer = (await harness.call('getpublickey', { KeyId: keyId }).expect(200)).body.PublicKey as string;
    const modulus = createPublicKey({ key: Buffer.from(publicDer, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' }).n!;
    // The modulus is public and may be stored; the private exponent never in the clear.
    // The search can succeed: the wrapped private key is in these bytes.
    expect(stored.includes((await harness.store.getVersion(keyId, 1))!)).to.equal(true);
    expect(stored.includes(Buffer.from('-----BEGIN PRIVATE KEY'))).to.equal(false);
    // PKCS#8 RSA private keys start with SEQUENCE, INTEGER 0, the rsaEncryption OID.
    expect(stored.includes(Buffer.from('020100300d06092a864886f70d0101010500', 'hex'))).to.equal(false);
    expect(modulus.length).to.be.greaterThan(300);
    harness.keyService.clearCaches();
    const res = await harness.call('sign', { KeyId: keyId, Message: 'aGk=', SigningAlgorithm: 'RSASSA_PSS_SHA_256' }).expect(200);
    expect(nodeVerifies(createPublicKey({ key: Buffer.from(publicDer, 'base64'), format: 'der', type: 'spki' }), 'RSASSA_PSS_SHA_256', Buffer.from('hi'), Buffer.from(res.body.Signature, 'base64'))).to.equal(true);
  }

  it('keeps the private key wrapped: no PKCS#8 private key in any stored record, and a fresh service over the same store still signs', async () => {
    await expectPrivateKeyWrapped(h, signing.get('RSA_2048')!, Buffer.concat(await storedRecords(h.store)));
  });

  it("keeps the private key wrapped in LevelDB's files too (on LevelDB in every run)", async () => {
    const onLevelDb = await openHarness({ store: 'leveldb' });
    try {
      const keyId = (await onLevelDb.call('createkey', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }).expect(200)).body.KeyMetadata.KeyId as string;
      const storeDir = path.join(onLevelDb.dataDir, 'store');
      await expectPrivateKeyWrapped(onLevelDb, keyId, Buffer.concat(readdirSync(storeDir).map((f) => readFileSync(path.join(storeDir, f)))));
    } finally {
      await onLevelDb.close();
    }
  });

  it('deletes a local key pair for good: the wrapped private key leaves the store', async () => {
    const keyId = (await h.call('createkey', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }).expect(200)).body.KeyMetadata.KeyId;
    expect(await h.store.getVersion(keyId, 1)).to.not.equal(undefined);
    await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
    expect((await h.call('sign', { KeyId: keyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }).expect(400)).body.__type).to.equal('KMSInvalidStateException');
    expect(await h.keyService.deleteIfDue(keyId, new Date(Date.now() + 8 * 86_400_000))).to.equal(true);
    expect(await h.store.getVersion(keyId, 1)).to.equal(undefined);
    expect((await h.call('getpublickey', { KeyId: keyId }).expect(404)).body.__type).to.equal('NotFoundException');
  });
});
