import { spawnSync } from 'node:child_process';
import { constants, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { DATA_KEY_PAIR_SPECS, type DataKeyPairSpec } from '../../src/crypto/data-key-pair.js';
import { rememberSecret } from '../helpers/secrets.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** What node:crypto and openssl must see in each spec's keys. */
const EXPECTED: Record<DataKeyPairSpec, { type: 'rsa' | 'ec'; bits?: number; curve?: string; openssl: RegExp }> = {
  RSA_2048: { type: 'rsa', bits: 2048, openssl: /\(2048 bit/ },
  RSA_3072: { type: 'rsa', bits: 3072, openssl: /\(3072 bit/ },
  RSA_4096: { type: 'rsa', bits: 4096, openssl: /\(4096 bit/ },
  ECC_NIST_P256: { type: 'ec', curve: 'prime256v1', openssl: /ASN1 OID: prime256v1/ },
  ECC_NIST_P384: { type: 'ec', curve: 'secp384r1', openssl: /ASN1 OID: secp384r1/ },
  ECC_NIST_P521: { type: 'ec', curve: 'secp521r1', openssl: /ASN1 OID: secp521r1/ },
  ECC_SECG_P256K1: { type: 'ec', curve: 'secp256k1', openssl: /ASN1 OID: secp256k1/ },
};

interface PairAnswer {
  PrivateKeyCiphertextBlob: string;
  PrivateKeyPlaintext?: string;
  PublicKey: string;
  KeyId: string;
  KeyPairSpec: string;
}

/** Signs with the private key and verifies with the public key, both with node:crypto (RSA: PKCS#1 v1.5 and PSS; ECDSA). */
function signsAndVerifies(privateKey: KeyObject, publicKey: KeyObject): void {
  const message = Buffer.from('a message signed with a data key pair');
  const schemes = privateKey.asymmetricKeyType === 'rsa' ? [constants.RSA_PKCS1_PADDING, constants.RSA_PKCS1_PSS_PADDING] : [undefined];
  for (const padding of schemes) {
    const signature = sign('sha256', message, { key: privateKey, padding });
    expect(verify('sha256', message, { key: publicKey, padding }, signature)).to.equal(true);
    expect(verify('sha256', Buffer.from('another message'), { key: publicKey, padding }, signature)).to.equal(false);
  }
}

describe('API: generatedatakeypair and generatedatakeypairwithoutplaintext', function () {
  this.timeout(120_000);
  let h: Harness;
  let symmetric: string;
  let work: ReturnType<typeof makeTempDir>;

  before(async () => {
    h = await openHarness();
    work = makeTempDir('keyhold-dkp-');
    symmetric = (await h.call('createkey', { Description: 'wraps data key pairs' }).expect(200)).body.KeyMetadata.KeyId;
    await h.call('createalias', { AliasName: 'alias/pairs', TargetKeyId: symmetric }).expect(200);
  });
  after(async () => {
    await h.close();
    work.remove();
  });

  async function pair(body: object, action = 'generatedatakeypair'): Promise<PairAnswer> {
    const answer = (await h.call(action, body).expect(200)).body as PairAnswer;
    if (answer.PrivateKeyPlaintext !== undefined) rememberSecret(Buffer.from(answer.PrivateKeyPlaintext, 'base64'));
    return answer;
  }

  function openssl(args: string[]): string {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    expect(result.status, `openssl ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  }

  for (const spec of DATA_KEY_PAIR_SPECS) {
    it(`${spec}: the private key decrypts back, equals PrivateKeyPlaintext, matches the public key, signs, and openssl reads both`, async () => {
      const context = { purpose: 'data key pair', spec };
      const answer = await pair({ KeyId: 'alias/pairs', KeyPairSpec: spec, EncryptionContext: context });
      expect(Object.keys(answer)).to.deep.equal(['PrivateKeyCiphertextBlob', 'PrivateKeyPlaintext', 'PublicKey', 'KeyId', 'KeyPairSpec']);
      expect(answer).to.include({ KeyId: symmetric, KeyPairSpec: spec });

      // decrypt gives back the PKCS#8 DER, with the context and only with it.
      const decrypted = (await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob, EncryptionContext: context }).expect(200)).body;
      expect(decrypted.KeyId).to.equal(symmetric);
      const der = Buffer.from(decrypted.Plaintext, 'base64');
      expect(der.equals(Buffer.from(answer.PrivateKeyPlaintext!, 'base64'))).to.equal(true);
      const wrongContext = await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob }).expect(400);
      expect(wrongContext.body.__type).to.equal('InvalidCiphertextException');

      const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      const publicKey = createPublicKey({ key: Buffer.from(answer.PublicKey, 'base64'), format: 'der', type: 'spki' });
      const expected = EXPECTED[spec];
      expect(privateKey.asymmetricKeyType).to.equal(expected.type);
      if (expected.bits !== undefined) expect(privateKey.asymmetricKeyDetails).to.include({ modulusLength: expected.bits, publicExponent: 65537n });
      if (expected.curve !== undefined) expect(privateKey.asymmetricKeyDetails).to.include({ namedCurve: expected.curve });
      // The public key is the private key's own, byte for byte in SubjectPublicKeyInfo.
      expect(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).equals(Buffer.from(answer.PublicKey, 'base64'))).to.equal(true);
      signsAndVerifies(privateKey, publicKey);

      const privateFile = path.join(work.path, `${spec}.pk8.der`);
      const publicFile = path.join(work.path, `${spec}.spki.der`);
      writeFileSync(privateFile, der, { mode: 0o600 });
      writeFileSync(publicFile, Buffer.from(answer.PublicKey, 'base64'));
      expect(openssl(['pkey', '-inform', 'DER', '-in', privateFile, '-noout', '-text'])).to.match(expected.openssl);
      expect(openssl(['pkey', '-pubin', '-inform', 'DER', '-in', publicFile, '-noout', '-text'])).to.match(expected.openssl);
      // openssl's own check of the key's consistency.
      expect(openssl(['pkey', '-inform', 'DER', '-in', privateFile, '-noout', '-check'])).to.match(/^Key is valid$/m);
    });
  }

  it('without an encryption context: decrypt without one gives the private key back', async () => {
    const answer = await pair({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256' });
    const decrypted = (await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob }).expect(200)).body;
    expect(decrypted.Plaintext).to.equal(answer.PrivateKeyPlaintext);
    const withContext = await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob, EncryptionContext: { any: 'thing' } }).expect(400);
    expect(withContext.body.__type).to.equal('InvalidCiphertextException');
  });

  it('every request makes a new pair', async () => {
    const first = await pair({ KeyId: symmetric, KeyPairSpec: 'ECC_SECG_P256K1' });
    const second = await pair({ KeyId: symmetric, KeyPairSpec: 'ECC_SECG_P256K1' });
    expect(second.PublicKey).not.to.equal(first.PublicKey);
    expect(second.PrivateKeyPlaintext).not.to.equal(first.PrivateKeyPlaintext);
  });

  it('generatedatakeypairwithoutplaintext answers no private key; decrypt gives one that matches its public key', async () => {
    const context = { purpose: 'later' };
    const answer = await pair({ KeyId: 'alias/pairs', KeyPairSpec: 'RSA_2048', EncryptionContext: context }, 'generatedatakeypairwithoutplaintext');
    expect(Object.keys(answer)).to.deep.equal(['PrivateKeyCiphertextBlob', 'PublicKey', 'KeyId', 'KeyPairSpec']);
    expect(answer).to.include({ KeyId: symmetric, KeyPairSpec: 'RSA_2048' });
    const der = Buffer.from((await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob, EncryptionContext: context }).expect(200)).body.Plaintext, 'base64');
    rememberSecret(der);
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64')).to.equal(answer.PublicKey);
    signsAndVerifies(privateKey, createPublicKey({ key: Buffer.from(answer.PublicKey, 'base64'), format: 'der', type: 'spki' }));
  });

  it('seals under the newest version after a rotation; the pair still decrypts', async () => {
    const key = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    await h.call('rotatekeyondemand', { KeyId: key }).expect(200);
    const answer = await pair({ KeyId: key, KeyPairSpec: 'ECC_NIST_P384' });
    const decrypted = (await h.call('decrypt', { CiphertextBlob: answer.PrivateKeyCiphertextBlob }).expect(200)).body;
    expect(decrypted.Plaintext).to.equal(answer.PrivateKeyPlaintext);
  });

  it('writes one audit record per request, with the key and the context and no key material', async () => {
    const key = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    const answer = await pair({ KeyId: key, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: { audited: 'yes' } });
    await pair({ KeyId: key, KeyPairSpec: 'ECC_NIST_P256' }, 'generatedatakeypairwithoutplaintext');
    const events = (await h.call('listauditevents', { KeyId: key }).expect(200)).body.Events as Record<string, unknown>[];
    const pairs = events.filter((event) => String(event.Action).startsWith('GenerateDataKeyPair'));
    expect(pairs.map((event) => [event.Action, event.Outcome, event.Principal])).to.deep.equal([
      ['GenerateDataKeyPair', 'Success', h.credential.accessKeyId],
      ['GenerateDataKeyPairWithoutPlaintext', 'Success', h.credential.accessKeyId],
    ]);
    expect(pairs[0]!.EncryptionContext).to.deep.equal({ audited: 'yes' });
    // A refused request has its record too.
    await h.call('generatedatakeypair', { KeyId: key, KeyPairSpec: 'SM2' }).expect(400);
    const trail = JSON.stringify(await h.store.listAudit());
    expect((await h.store.listAudit()).at(-1)).to.include({ Action: 'GenerateDataKeyPair', Outcome: 'ValidationException' });
    for (const field of [answer.PrivateKeyPlaintext!, answer.PrivateKeyCiphertextBlob, answer.PublicKey]) expect(trail).not.to.include(field);
  });

  describe('refusals', () => {
    async function refusal(body: object, action = 'generatedatakeypair'): Promise<{ __type: string; message: string }> {
      const res = await h.call(action, body);
      expect(res.status, JSON.stringify(res.body)).to.be.within(400, 404);
      return res.body;
    }

    it('an asymmetric key: InvalidKeyUsageException, for both actions', async () => {
      const signing = (await h.call('createkey', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }).expect(200)).body.KeyMetadata.KeyId;
      const rsa = (await h.call('createkey', { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }).expect(200)).body.KeyMetadata.KeyId;
      for (const action of ['generatedatakeypair', 'generatedatakeypairwithoutplaintext']) {
        for (const keyId of [signing, rsa]) {
          const body = await refusal({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }, action);
          expect(body.__type).to.equal('InvalidKeyUsageException');
          expect(body.message).to.include('GenerateDataKeyPair');
        }
      }
    });

    it('a disabled key: DisabledException; pending deletion: KMSInvalidStateException; unknown: NotFoundException', async () => {
      const key = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
      await h.call('disablekey', { KeyId: key }).expect(200);
      expect((await refusal({ KeyId: key, KeyPairSpec: 'RSA_2048' })).__type).to.equal('DisabledException');
      expect((await refusal({ KeyId: key, KeyPairSpec: 'RSA_2048' }, 'generatedatakeypairwithoutplaintext')).__type).to.equal('DisabledException');
      await h.call('schedulekeydeletion', { KeyId: key, PendingWindowInDays: 7 }).expect(200);
      expect((await refusal({ KeyId: key, KeyPairSpec: 'RSA_2048' })).__type).to.equal('KMSInvalidStateException');
      expect((await refusal({ KeyId: '00000000-0000-4000-8000-000000000000', KeyPairSpec: 'RSA_2048' })).__type).to.equal('NotFoundException');
    });

    it('a KeyPairSpec that is missing, unknown, or AWS\'s but not Keyhold\'s: ValidationException naming KeyPairSpec', async () => {
      for (const spec of [undefined, 'SM2', 'ECC_NIST_EDWARDS25519', 'ML_KEM_768', 'RSA_1024', 'rsa_2048', 42, ['RSA_2048']]) {
        const body = await refusal({ KeyId: symmetric, KeyPairSpec: spec });
        expect(body.__type, String(spec)).to.equal('ValidationException');
        expect(body.message, String(spec)).to.include('KeyPairSpec');
      }
    });

    it('Recipient (Nitro Enclaves attestation): UnsupportedOperationException, for both actions', async () => {
      const recipient = { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.from('attestation').toString('base64') };
      for (const action of ['generatedatakeypair', 'generatedatakeypairwithoutplaintext']) {
        for (const value of [recipient, {}, 'x']) {
          const body = await refusal({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256', Recipient: value }, action);
          expect(body.__type).to.equal('UnsupportedOperationException');
          expect(body.message).to.include('Recipient');
        }
      }
      // JSON null counts as absent, as for every field.
      await h.call('generatedatakeypair', { KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256', Recipient: null }).expect(200);
    });

    it('a bad KeyId or EncryptionContext: ValidationException', async () => {
      expect((await refusal({ KeyPairSpec: 'ECC_NIST_P256' })).__type).to.equal('ValidationException');
      expect((await refusal({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: { a: 1 } })).__type).to.equal('ValidationException');
    });
  });
});
