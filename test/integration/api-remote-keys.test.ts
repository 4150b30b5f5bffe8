import { constants, createHash, publicEncrypt, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { signingHash } from '../../src/crypto/asymmetric-algorithms.js';
import { loadConfig } from '../../src/config.js';
import { createRemoteKeyProviders } from '../../src/providers/remote-keys/index.js';
import { startFakeAwsKms, type FakeAwsKms } from '../fakes/aws-kms.js';
import { startFakeGcpKms, type FakeGcpKms } from '../fakes/gcp-kms.js';
import { rememberSecret } from '../helpers/secrets.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { nodeVerifies as verifiesOver } from '../helpers/signatures.js';

const AWS_ACCESS_KEY_ID = 'AKIAKEYHOLDAPITESTONLY';
const AWS_SECRET = 'keyhold/api-test-secret+not-real/0123456789';
// The AWS SDK's chains read these; the suite sets its own and puts the caller's back after.
const AWS_VARIABLES = [
  'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE',
  'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE',
];

describe('API: keys of AWS KMS and Google Cloud KMS (real SDKs against fake services)', function () {
  this.timeout(60_000);
  const saved = new Map<string, string | undefined>();
  let aws: FakeAwsKms;
  let gcp: FakeGcpKms;
  let providers: ReturnType<typeof createRemoteKeyProviders>;
  let h: Harness;

  before(async () => {
    // The final log audit checks that no log line of the run carries it.
    rememberSecret(AWS_SECRET);
    for (const name of AWS_VARIABLES) {
      saved.set(name, process.env[name]);
      delete process.env[name];
    }
    aws = await startFakeAwsKms();
    gcp = await startFakeGcpKms();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: aws.url,
      AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: AWS_SECRET,
      AWS_REGION: 'eu-west-1',
      AWS_CONFIG_FILE: '/nonexistent/keyhold-test/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/keyhold-test/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    providers = createRemoteKeyProviders(
      loadConfig({ KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint, KEYHOLD_PROVIDER_TIMEOUT_MS: '1500', KEYHOLD_PROVIDER_MAX_ATTEMPTS: '2' }),
    );
    h = await openHarness({ remoteProviders: providers });
  });

  after(async () => {
    await h?.close();
    await providers?.close();
    await aws?.close();
    await gcp?.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  afterEach(() => {
    aws.resetFailures();
    gcp.clearFailures();
  });

  async function register(origin: 'AWS_KMS' | 'GCP_KMS', providerKeyId: string, extra: object = {}): Promise<any> {
    return (await h.call('createkey', { Origin: origin, ProviderKeyId: providerKeyId, ...extra }).expect(200)).body.KeyMetadata;
  }

  describe('AWS KMS', () => {
    it('registers a remote ECC key: metadata from AWS, the same public key, signatures that verify over the message', async () => {
      const remote = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
      const metadata = await register('AWS_KMS', remote.arn, { Description: 'tls server key' });
      expect(metadata).to.include({ Origin: 'AWS_KMS', ProviderKeyId: remote.arn, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
      expect(metadata.SigningAlgorithms).to.deep.equal(['ECDSA_SHA_256']);

      const pub = (await h.call('getpublickey', { KeyId: metadata.KeyId }).expect(200)).body.PublicKey;
      expect(pub).to.equal(remote.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'));

      const message = randomBytes(2000);
      for (const [type, sent] of [['RAW', message], ['DIGEST', createHash('sha256').update(message).digest()]] as const) {
        const signed = await h.call('sign', { KeyId: metadata.KeyId, Message: sent.toString('base64'), MessageType: type, SigningAlgorithm: 'ECDSA_SHA_256' }).expect(200);
        const signature = Buffer.from(signed.body.Signature, 'base64');
        expect(verifiesOver(remote.publicKey, 'ECDSA_SHA_256', message, signature)).to.equal(true);
        await h.call('verify', { KeyId: metadata.KeyId, Message: message.toString('base64'), Signature: signed.body.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }).expect(200);
      }
      // Only digests went to AWS: every Sign request was MessageType DIGEST.
      const signs = aws.requests.filter((r) => r.target === 'TrentService.Sign');
      expect(signs.length).to.equal(2);
      for (const request of signs) expect(request.body.MessageType).to.equal('DIGEST');
      // The region of the ARN was used.
      expect(signs.every((r) => r.region === 'eu-west-1')).to.equal(true);
    });

    it('RSA keys: PSS and PKCS#1 signatures, and OAEP decryption by AWS', async () => {
      const signer = aws.addKey('RSA_2048', 'SIGN_VERIFY', 'eu-west-1');
      const signKey = await register('AWS_KMS', signer.arn, { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
      for (const algorithm of ['RSASSA_PSS_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] as const) {
        const message = randomBytes(64);
        const res = await h.call('sign', { KeyId: signKey.KeyId, Message: message.toString('base64'), SigningAlgorithm: algorithm }).expect(200);
        expect(verifiesOver(signer.publicKey, algorithm, message, Buffer.from(res.body.Signature, 'base64'))).to.equal(true);
      }
      const decrypter = aws.addKey('RSA_3072', 'ENCRYPT_DECRYPT', 'eu-west-1');
      const decryptKey = await register('AWS_KMS', decrypter.arn);
      expect(decryptKey.EncryptionAlgorithms).to.deep.equal(['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
      const plaintext = randomBytes(48);
      // Encrypt runs in Keyhold with the stored public key; decrypt goes to AWS.
      const before = aws.requests.length;
      const enc = await h.call('encrypt', { KeyId: decryptKey.KeyId, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }).expect(200);
      expect(aws.requests.length).to.equal(before);
      const dec = await h.call('decrypt', { KeyId: decryptKey.KeyId, CiphertextBlob: enc.body.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64').equals(plaintext)).to.equal(true);
      const external = publicEncrypt({ key: decrypter.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plaintext);
      const dec1 = await h.call('decrypt', { KeyId: decryptKey.KeyId, CiphertextBlob: external.toString('base64'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }).expect(200);
      expect(Buffer.from(dec1.body.Plaintext, 'base64').equals(plaintext)).to.equal(true);
    });

    it('never passes on a remote signature that does not verify with the registered public key', async () => {
      const remote = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
      const { KeyId } = await register('AWS_KMS', remote.arn);
      aws.corruptNextSignature(randomBytes(70));
      const res = await h.call('sign', { KeyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }).expect(500);
      expect(res.body.__type).to.equal('KMSInternalException');
      expect(res.body.message).to.match(/does not verify with the key's registered public key/);
      await h.call('sign', { KeyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }).expect(200);
    });

    it('registers key ARNs only: an alias ARN could later name another key', async () => {
      const remote = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
      const res = await h.call('createkey', { Origin: 'AWS_KMS', ProviderKeyId: remote.arn.replace(/key\/.*/, 'alias/web') }).expect(400);
      expect(res.body.__type).to.equal('ValidationException');
    });

    it('refuses a KeySpec or KeyUsage that does not match the remote key, and an unknown ARN', async () => {
      const remote = aws.addKey('ECC_NIST_P384', 'SIGN_VERIFY', 'eu-west-1');
      const mismatch = await h.call('createkey', { Origin: 'AWS_KMS', ProviderKeyId: remote.arn, KeySpec: 'ECC_NIST_P256' }).expect(400);
      expect(mismatch.body.__type).to.equal('ValidationException');
      const unknown = await h.call('createkey', { Origin: 'AWS_KMS', ProviderKeyId: remote.arn.replace(/key\/.*/, 'key/00000000-0000-4000-8000-000000000000') }).expect(404);
      expect(unknown.body.__type).to.equal('NotFoundException');
    });

    it('answers the remote key state with typed errors, and a silent AWS with 503 DependencyTimeoutException that leaks no credential', async () => {
      const remote = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
      const { KeyId } = await register('AWS_KMS', remote.arn);
      const sign = () => h.call('sign', { KeyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' });

      aws.setKeyState(remote.arn, 'Disabled');
      expect((await sign().expect(400)).body.__type).to.equal('DisabledException');
      aws.setKeyState(remote.arn, 'PendingDeletion');
      expect((await sign().expect(400)).body.__type).to.equal('KMSInvalidStateException');
      aws.setKeyState(remote.arn, 'Enabled');
      await sign().expect(200);

      aws.failNext(10, 'hang');
      const timedOut = await sign().expect(503);
      expect(timedOut.body.__type).to.equal('DependencyTimeoutException');
      aws.resetFailures();
      aws.failNext(10, 'access-denied');
      const denied = await sign().expect(403);
      expect(denied.body.__type).to.equal('AccessDeniedException');
      for (const body of [timedOut.text, denied.text]) {
        expect(body).to.not.include(AWS_ACCESS_KEY_ID);
        expect(body).to.not.include(AWS_SECRET);
      }
      aws.resetFailures();
      // Verification needs no AWS: it keeps working while AWS is down.
      const signed = await sign().expect(200);
      aws.failNext(10, 'hang');
      await h.call('verify', { KeyId, Message: 'aGk=', Signature: signed.body.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }).expect(200);
      aws.deleteKey(remote.arn);
      aws.resetFailures();
      expect((await sign().expect(404)).body.__type).to.equal('NotFoundException');
    });
  });

  describe('Google Cloud KMS', () => {
    it('registers a P-384 key version and an RSA-PSS one; signatures verify over the message', async () => {
      for (const [algorithm, spec, ours] of [
        ['EC_SIGN_P384_SHA384', 'ECC_NIST_P384', 'ECDSA_SHA_384'],
        ['RSA_SIGN_PSS_2048_SHA256', 'RSA_2048', 'RSASSA_PSS_SHA_256'],
      ] as const) {
        const version = gcp.addKeyVersion(algorithm);
        const metadata = await register('GCP_KMS', version.name);
        expect(metadata).to.include({ Origin: 'GCP_KMS', ProviderKeyId: version.name, KeySpec: spec, KeyUsage: 'SIGN_VERIFY' });
        expect(metadata.SigningAlgorithms).to.deep.equal([ours]);
        const message = randomBytes(5000);
        const digest = createHash(signingHash(ours)).update(message).digest();
        const res = await h.call('sign', { KeyId: metadata.KeyId, Message: digest.toString('base64'), MessageType: 'DIGEST', SigningAlgorithm: ours }).expect(200);
        expect(verifiesOver(version.publicKey, ours, message, Buffer.from(res.body.Signature, 'base64'))).to.equal(true);
        // The key version has one algorithm: others are refused before Google is asked.
        const other = ours === 'ECDSA_SHA_384' ? 'ECDSA_SHA_256' : 'RSASSA_PKCS1_V1_5_SHA_256';
        expect((await h.call('sign', { KeyId: metadata.KeyId, Message: 'aGk=', SigningAlgorithm: other }).expect(400)).body.__type).to.equal('InvalidKeyUsageException');
      }
    });

    it('decrypts RSA-OAEP with Google', async () => {
      const version = gcp.addKeyVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      const metadata = await register('GCP_KMS', version.name);
      expect(metadata.EncryptionAlgorithms).to.deep.equal(['RSAES_OAEP_SHA_256']);
      const plaintext = randomBytes(32);
      const enc = await h.call('encrypt', { KeyId: metadata.KeyId, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }).expect(200);
      const dec = await h.call('decrypt', { KeyId: metadata.KeyId, CiphertextBlob: enc.body.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64').equals(plaintext)).to.equal(true);
    });

    it('answers a disabled or destroyed version, a corrupted answer and an unavailable service with typed errors', async () => {
      const version = gcp.addKeyVersion('EC_SIGN_P256_SHA256');
      const { KeyId } = await register('GCP_KMS', version.name);
      const sign = () => h.call('sign', { KeyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' });
      await sign().expect(200);
      gcp.setState(version.name, 'DISABLED');
      expect((await sign().expect(400)).body.__type).to.equal('DisabledException');
      gcp.setState(version.name, 'DESTROYED');
      expect((await sign().expect(400)).body.__type).to.equal('KMSInvalidStateException');
      gcp.setState(version.name, 'ENABLED');
      gcp.failNext(1, 'corrupt-crc', 'AsymmetricSign');
      const corrupted = await sign().expect(500);
      expect(corrupted.body.__type).to.equal('KMSInternalException');
      expect(corrupted.text).to.not.include(gcp.remoteDetail);
      gcp.failNext(10, 'unavailable');
      expect((await sign().expect(503)).body.__type).to.equal('DependencyTimeoutException');
      gcp.clearFailures();
      await sign().expect(200);
      expect((await h.call('createkey', { Origin: 'GCP_KMS', ProviderKeyId: 'projects/p/keyRings/r' }).expect(400)).body.__type).to.equal('ValidationException');
    });
  });
});
