import { constants, createHash, publicEncrypt, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  algorithmsFor,
  ASYMMETRIC_ENCRYPTION_ALGORITHMS,
  ASYMMETRIC_KEY_SPECS,
  maxOaepPlaintextBytes,
  oaepHash,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type AsymmetricKeySpec,
  type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import {
  AccessDeniedException,
  DependencyTimeoutException,
  DisabledException,
  invalidCiphertext,
  InvalidCiphertextException,
  InvalidKeyUsageException,
  KMSInternalException,
  KMSInvalidStateException,
  NotFoundException,
  UnsupportedOperationException,
  ValidationException } from '../../src/errors.js';
import { AwsKmsProvider } from '../../src/providers/remote-keys/aws/index.js';
import type { RemoteCallLimits } from '../../src/providers/remote-keys/remote-key-provider.js';
import { startFakeAwsKms, type FakeAwsKms, type FakeAwsKmsKey } from '../fakes/aws-kms.js';
import { rejectionOf } from '../helpers/rejection.js';
import { nodeVerifies as verifiesOver } from '../helpers/signatures.js';

const ACCESS_KEY_ID = 'AKIAKEYHOLDTESTONLY7';
const SECRET_ACCESS_KEY = 'keyhold/test-secret+not-a-real-one/0123456789';
const WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

// Everything the SDK's chains read, so the suite neither uses nor disturbs the user's AWS setup.
const AWS_VARIABLES = [
  'AWS_ENDPOINT_URL_KMS',
  'AWS_ENDPOINT_URL',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
  WARNING_SWITCH,
];

const SIGN_VERIFY_CASES: [AsymmetricKeySpec, SigningAlgorithm][] = ASYMMETRIC_KEY_SPECS.flatMap((spec) =>
  algorithmsFor(spec, 'SIGN_VERIFY').signingAlgorithms.map((algorithm): [AsymmetricKeySpec, SigningAlgorithm] => [spec, algorithm]),
);
const RSA_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;

describe('AwsKmsProvider through the real AWS SDK against a fake AWS KMS', function () {
  this.timeout(60_000);
  const savedEnvironment = new Map<string, string | undefined>();
  const providers: AwsKmsProvider[] = [];
  let fake: FakeAwsKms;
  const signingKeys = new Map<AsymmetricKeySpec, FakeAwsKmsKey>();
  const encryptionKeys = new Map<AsymmetricKeySpec, FakeAwsKmsKey>();

  before(async () => {
    for (const name of AWS_VARIABLES) {
      savedEnvironment.set(name, process.env[name]);
      delete process.env[name];
    }
    fake = await startFakeAwsKms();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: fake.url,
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/nonexistent/keyhold-test/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/keyhold-test/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    for (const spec of ASYMMETRIC_KEY_SPECS) signingKeys.set(spec, fake.addKey(spec, 'SIGN_VERIFY'));
    for (const spec of RSA_SPECS) encryptionKeys.set(spec, fake.addKey(spec, 'ENCRYPT_DECRYPT'));
  });

  afterEach(async () => {
    await Promise.all(providers.splice(0).map((provider) => provider.close()));
    fake.resetFailures();
  });

  after(async () => {
    await fake?.close();
    for (const [name, value] of savedEnvironment) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  function provider(limits: Partial<RemoteCallLimits> = {}, region?: string): AwsKmsProvider {
    const made = new AwsKmsProvider({ limits: { timeoutMs: 10_000, maxAttempts: 3, ...limits }, ...(region ? { region } : {}) });
    providers.push(made);
    return made;
  }

  function signingKey(spec: AsymmetricKeySpec): FakeAwsKmsKey {
    return signingKeys.get(spec)!;
  }

  function requestsFor(action: string, since: number) {
    return fake.requests.slice(since).filter((request) => request.target === `TrentService.${action}`);
  }

  async function withEnvironment(changes: Record<string, string | undefined>, run: () => Promise<void>): Promise<void> {
    const before = Object.fromEntries(Object.keys(changes).map((name) => [name, process.env[name]]));
    const apply = (values: Record<string, string | undefined>) => {
      for (const [name, value] of Object.entries(values)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    };
    apply(changes);
    try {
      await run();
    } finally {
      apply(before);
    }
  }

  describe('the SDK client', () => {
    // First in the file: the SDK warns once per process, so this must build the first client.
    it('builds clients without the Node version warning and leaves the environment as it was', async () => {
      const warnings: string[] = [];
      const listener = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on('warning', listener);
      try {
        await provider().describe(signingKey('ECC_NIST_P256').arn);
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off('warning', listener);
      }
      expect(warnings.filter((warning) => warning.includes('NodeVersionSupportWarning'))).to.deep.equal([]);
      expect(process.env[WARNING_SWITCH]).to.equal(undefined);
    });

    it('keeps one deadline across DescribeKey and GetPublicKey', async () => {
      // Each answer alone is within the deadline; the two together are not.
      fake.slowNext(2, 700);
      const since = fake.requests.length;
      const aws = provider({ maxAttempts: 1, timeoutMs: 1000 });
      await rejectionOf(aws.describe(signingKey('ECC_NIST_P256').arn), DependencyTimeoutException);
      expect(fake.requests.slice(since).map((request) => request.target)).to.deep.equal([
        'TrentService.DescribeKey',
        'TrentService.GetPublicKey',
      ]);
    });

    it('signs every request with SigV4 and the credentials of the standard chain', async () => {
      const since = fake.requests.length;
      await provider().describe(signingKey('ECC_NIST_P256').arn);
      const seen = fake.requests.slice(since);
      expect(seen.map((request) => request.target)).to.deep.equal(['TrentService.DescribeKey', 'TrentService.GetPublicKey']);
      for (const request of seen) {
        expect(request.headers.authorization).to.match(new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/us-east-1/kms/aws4_request, `));
        expect(request.headers['content-type']).to.equal('application/x-amz-json-1.1');
      }
    });

    it('uses a client for the region a key ARN names', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
      const since = fake.requests.length;
      const description = await provider().describe(key.arn);
      expect(description.keySpec).to.equal('ECC_NIST_P256');
      expect(fake.requests.slice(since).map((request) => request.region)).to.deep.equal(['eu-west-1', 'eu-west-1']);
    });

    it('registers only key ARNs: a bare key id, an alias name or an alias ARN is refused without a request', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'us-east-1');
      const since = fake.requests.length;
      const aws = provider();
      for (const id of [key.keyId, 'alias/web-tls', key.arn.replace(/key\/.*/, 'alias/web-tls'), `${key.arn}x!`, 'arn:aws:kms:nowhere:111122223333:key/abc']) {
        const error = await rejectionOf(aws.describe(id), ValidationException);
        expect(error.message).to.match(/must be an AWS KMS key ARN/);
      }
      expect(fake.requests.length).to.equal(since);
    });

    it('sends a bare key id (never registered, but signable through the interface) to the region given to the constructor', async () => {
      const key = fake.addKey('ECC_NIST_P384', 'SIGN_VERIFY', 'ap-southeast-2');
      const since = fake.requests.length;
      const digest = createHash('sha384').update('hi').digest();
      await provider({}, 'ap-southeast-2').signDigest(key.keyId, 'ECDSA_SHA_384', digest);
      expect(fake.requests.slice(since).map((request) => request.region)).to.deep.equal(['ap-southeast-2']);
    });

    it('follows AWS_ENDPOINT_URL when AWS_ENDPOINT_URL_KMS is not set', async () => {
      await withEnvironment({ AWS_ENDPOINT_URL_KMS: undefined, AWS_ENDPOINT_URL: fake.url }, async () => {
        const since = fake.requests.length;
        expect((await provider().describe(signingKey('RSA_2048').arn)).keySpec).to.equal('RSA_2048');
        expect(fake.requests.length - since).to.equal(2);
      });
    });

    it('refuses limits that are not positive whole numbers', () => {
      expect(() => new AwsKmsProvider({ limits: { timeoutMs: 0, maxAttempts: 3 } })).to.throw(ValidationException);
      expect(() => new AwsKmsProvider({ limits: { timeoutMs: 1000, maxAttempts: 0 } })).to.throw(ValidationException);
      expect(() => new AwsKmsProvider({ limits: { timeoutMs: 1.5, maxAttempts: 1 } })).to.throw(ValidationException);
    });

    it('refuses calls after close', async () => {
      const aws = provider();
      await aws.describe(signingKey('ECC_NIST_P256').arn);
      await aws.close();
      const error = await rejectionOf(aws.describe(signingKey('ECC_NIST_P256').arn), KMSInternalException);
      expect(error.message).to.equal('The AWS KMS provider is closed');
    });
  });

  describe('describe', () => {
    for (const spec of ASYMMETRIC_KEY_SPECS) {
      it(`reads a ${spec} SIGN_VERIFY key`, async () => {
        const key = signingKey(spec);
        const description = await provider().describe(key.arn);
        expect(description).to.deep.equal({
          keySpec: spec,
          keyUsage: 'SIGN_VERIFY',
          publicKey: key.publicKey.export({ format: 'der', type: 'spki' }),
          ...algorithmsFor(spec, 'SIGN_VERIFY'),
        });
      });
    }

    for (const spec of RSA_SPECS) {
      it(`reads a ${spec} ENCRYPT_DECRYPT key`, async () => {
        const key = encryptionKeys.get(spec)!;
        const description = await provider().describe(key.arn);
        expect(description).to.deep.equal({
          keySpec: spec,
          keyUsage: 'ENCRYPT_DECRYPT',
          publicKey: key.publicKey.export({ format: 'der', type: 'spki' }),
          signingAlgorithms: [],
          encryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'],
        });
      });
    }

    it('keeps only the algorithms Keyhold supports', async () => {
      const signing = fake.addKey('RSA_2048', 'SIGN_VERIFY');
      const known = algorithmsFor('RSA_2048', 'SIGN_VERIFY').signingAlgorithms;
      fake.misdescribe(signing.arn, { SigningAlgorithms: ['RSASSA_FUTURE_SHA3_256', ...known, 'ECDSA_SHA_256'] });
      const encryption = fake.addKey('RSA_2048', 'ENCRYPT_DECRYPT');
      fake.misdescribe(encryption.arn, { EncryptionAlgorithms: ['SM2PKE', 'RSAES_OAEP_SHA_256'] });
      const aws = provider();
      expect((await aws.describe(signing.arn)).signingAlgorithms).to.deep.equal(known);
      expect((await aws.describe(encryption.arn)).encryptionAlgorithms).to.deep.equal(['RSAES_OAEP_SHA_256']);
    });

    it('refuses a key that offers no algorithm Keyhold supports', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.misdescribe(key.arn, { SigningAlgorithms: ['ECDSA_SHA_3_256'] });
      await rejectionOf(provider().describe(key.arn), ValidationException);
    });

    it('refuses a key usage Keyhold does not offer for the spec, naming it', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'ENCRYPT_DECRYPT');
      const error = await rejectionOf(provider().describe(key.arn), ValidationException);
      expect(error.message).to.contain('ENCRYPT_DECRYPT');
    });

    it('refuses a public key that is not of the key spec', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.misdescribe(key.arn, { PublicKey: signingKey('ECC_NIST_P384').publicKey.export({ format: 'der', type: 'spki' }) });
      await rejectionOf(provider().describe(key.arn), KMSInternalException);
      fake.misdescribe(key.arn, { PublicKey: Buffer.from('not a key') });
      await rejectionOf(provider().describe(key.arn), KMSInternalException);
    });

    it('refuses GetPublicKey and DescribeKey answers that disagree', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.misdescribe(key.arn, { KeySpec: 'ECC_NIST_P384' });
      await rejectionOf(provider().describe(key.arn), KMSInternalException);
    });

    for (const [spec, usage] of [
      ['ECC_SECG_P256K1', 'SIGN_VERIFY'],
      ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'],
    ] as const) {
      it(`refuses a ${spec} key, naming the unsupported spec`, async () => {
        const key = fake.addKey(spec, usage);
        const error = await rejectionOf(provider().describe(key.arn), ValidationException);
        expect(error.message).to.contain(spec);
      });
    }

    it('refuses a disabled key with DisabledException', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.setKeyState(key.arn, 'Disabled');
      const error = await rejectionOf(provider().describe(key.arn), DisabledException);
      expect(error.status).to.equal(400);
    });

    it('refuses a key pending deletion with KMSInvalidStateException', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.setKeyState(key.arn, 'PendingDeletion');
      const error = await rejectionOf(provider().describe(key.arn), KMSInvalidStateException);
      expect(error.message).to.contain('PendingDeletion');
    });

    it('answers NotFoundException for a deleted key', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.deleteKey(key.arn);
      const error = await rejectionOf(provider().describe(key.arn), NotFoundException);
      expect(error.status).to.equal(404);
      expect(error.message).to.contain(key.arn);
    });
  });

  describe('signDigest', () => {
    for (const [spec, algorithm] of SIGN_VERIFY_CASES) {
      it(`signs a digest with ${algorithm} on ${spec}, verifiable over the message by node:crypto`, async () => {
        const key = signingKey(spec);
        const message = randomBytes(300);
        const digest = createHash(signingHash(algorithm)).update(message).digest();
        const since = fake.requests.length;
        const signature = await provider().signDigest(key.arn, algorithm, digest);
        expect(verifiesOver(key.publicKey, algorithm, message, signature)).to.equal(true);
        expect(verifiesOver(key.publicKey, algorithm, randomBytes(300), signature)).to.equal(false);
        const [sent] = requestsFor('Sign', since);
        expect(sent?.body).to.include({ MessageType: 'DIGEST', SigningAlgorithm: algorithm, Message: digest.toString('base64') });
      });
    }

    it('refuses a digest of the wrong length without calling AWS', async () => {
      const since = fake.requests.length;
      await rejectionOf(provider().signDigest(signingKey('RSA_2048').arn, 'RSASSA_PSS_SHA_384', randomBytes(32)), ValidationException);
      expect(fake.requests.length).to.equal(since);
    });

    it('answers InvalidKeyUsageException for an ENCRYPT_DECRYPT key', async () => {
      const message = randomBytes(64);
    const digest = createHash('sha256').update(message).digest();
      await rejectionOf(provider().signDigest(encryptionKeys.get('RSA_2048')!.arn, 'RSASSA_PSS_SHA_256', digest), InvalidKeyUsageException);
    });

    it('answers DisabledException for a disabled key', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.setKeyState(key.arn, 'Disabled');
      await rejectionOf(provider().signDigest(key.arn, 'ECDSA_SHA_256', randomBytes(32)), DisabledException);
    });

    it('answers KMSInvalidStateException for a key pending deletion', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.setKeyState(key.arn, 'PendingDeletion');
      await rejectionOf(provider().signDigest(key.arn, 'ECDSA_SHA_256', randomBytes(32)), KMSInvalidStateException);
    });

    it('answers NotFoundException for a deleted key', async () => {
      const key = fake.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
      fake.deleteKey(key.arn);
      await rejectionOf(provider().signDigest(key.arn, 'ECDSA_SHA_256', randomBytes(32)), NotFoundException);
    });

    it('refuses an answer without a signature', async () => {
      fake.corruptNextSignature(Buffer.alloc(0));
      await rejectionOf(provider().signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', randomBytes(32)), KMSInternalException);
    });
  });

  describe('decrypt', () => {
    for (const spec of RSA_SPECS) {
      for (const algorithm of ASYMMETRIC_ENCRYPTION_ALGORITHMS) {
        it(`decrypts ${algorithm} made by node:crypto with a ${spec} key`, async () => {
          const key = encryptionKeys.get(spec)!;
          const plaintext = randomBytes(maxOaepPlaintextBytes(spec, algorithm));
          const ciphertext = publicEncrypt(
            { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) },
            plaintext,
          );
          expect(await provider().decrypt(key.arn, algorithm, ciphertext)).to.deep.equal(plaintext);
        });
      }
    }

    it('answers the one InvalidCiphertextException for a modified ciphertext', async () => {
      const key = encryptionKeys.get('RSA_2048')!;
      const algorithm: AsymmetricEncryptionAlgorithm = 'RSAES_OAEP_SHA_256';
      const ciphertext = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('x'));
      ciphertext[10]! ^= 1;
      const error = await rejectionOf(provider().decrypt(key.arn, algorithm, ciphertext), InvalidCiphertextException);
      expect(error.message).to.equal(invalidCiphertext().message);
    });

    it('answers InvalidKeyUsageException for a SIGN_VERIFY key', async () => {
      await rejectionOf(provider().decrypt(signingKey('RSA_2048').arn, 'RSAES_OAEP_SHA_256', randomBytes(256)), InvalidKeyUsageException);
    });

    it('answers DisabledException for a disabled key', async () => {
      const key = fake.addKey('RSA_2048', 'ENCRYPT_DECRYPT');
      fake.setKeyState(key.arn, 'Disabled');
      await rejectionOf(provider().decrypt(key.arn, 'RSAES_OAEP_SHA_1', randomBytes(256)), DisabledException);
    });
  });

  describe('limits and failures', () => {
    const message = randomBytes(64);
    const digest = createHash('sha256').update(message).digest();

    it('retries throttling and succeeds within maxAttempts', async () => {
      const key = signingKey('ECC_NIST_P256');
      fake.failNext(2, 'throttle');
      const since = fake.requests.length;
      const signature = await provider({ maxAttempts: 3, timeoutMs: 20_000 }).signDigest(key.arn, 'ECDSA_SHA_256', digest);
      expect(signature.length).to.be.greaterThan(0);
      expect(requestsFor('Sign', since)).to.have.length(3);
    });

    it('answers DependencyTimeoutException when throttling outlasts maxAttempts', async () => {
      fake.failNext(3, 'throttle');
      const since = fake.requests.length;
      const aws = provider({ maxAttempts: 3, timeoutMs: 20_000 });
      const error = await rejectionOf(aws.signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', digest), DependencyTimeoutException);
      expect(error.status).to.equal(503);
      expect(error.message).to.contain('ThrottlingException');
      expect(requestsFor('Sign', since)).to.have.length(3);
    });

    it('does not retry when maxAttempts is 1', async () => {
      fake.failNext(1, 'throttle');
      const since = fake.requests.length;
      const aws = provider({ maxAttempts: 1 });
      await rejectionOf(aws.signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', digest), DependencyTimeoutException);
      expect(fake.requests.length - since).to.equal(1);
    });

    it('answers DependencyTimeoutException when AWS does not answer within timeoutMs', async () => {
      fake.failNext(1, 'hang');
      const started = Date.now();
      const aws = provider({ maxAttempts: 1, timeoutMs: 1000 });
      const error = await rejectionOf(aws.describe(signingKey('ECC_NIST_P256').arn), DependencyTimeoutException);
      expect(error.message).to.equal('AWS KMS did not answer within 1000 ms');
      expect(Date.now() - started).to.be.lessThan(10_000);
    });

    it('keeps the deadline across retries of hung requests', async () => {
      fake.failNext(10, 'hang');
      const since = fake.requests.length;
      const started = Date.now();
      const aws = provider({ maxAttempts: 3, timeoutMs: 1500 });
      const error = await rejectionOf(aws.signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', digest), DependencyTimeoutException);
      expect(error.message).to.equal('AWS KMS did not answer within 1500 ms');
      expect(Date.now() - started).to.be.lessThan(10_000);
      // Each attempt gets a share of the deadline, so a hung attempt is retried.
      expect(requestsFor('Sign', since).length).to.be.at.least(2);
    });

    it('retries a hung request within the deadline', async () => {
      fake.failNext(1, 'hang');
      const since = fake.requests.length;
      const key = signingKey('ECC_NIST_P256');
      const signature = await provider({ maxAttempts: 2, timeoutMs: 4000 }).signDigest(key.arn, 'ECDSA_SHA_256', digest);
      expect(verifiesOver(key.publicKey, 'ECDSA_SHA_256', message, signature)).to.equal(true);
      expect(requestsFor('Sign', since)).to.have.length(2);
    });

    it('retries a remote 500 and succeeds', async () => {
      fake.failNext(1, 'internal');
      const since = fake.requests.length;
      await provider({ maxAttempts: 2 }).signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', digest);
      expect(requestsFor('Sign', since)).to.have.length(2);
    });

    it('answers KMSInternalException when remote 500s outlast maxAttempts', async () => {
      fake.failNext(2, 'internal');
      const since = fake.requests.length;
      const aws = provider({ maxAttempts: 2 });
      const error = await rejectionOf(aws.signDigest(signingKey('ECC_NIST_P256').arn, 'ECDSA_SHA_256', digest), KMSInternalException);
      expect(error.status).to.equal(500);
      expect(error.message).to.equal('AWS KMS failed the request: KMSInternalException');
      expect(requestsFor('Sign', since)).to.have.length(2);
    });

    it('answers AccessDeniedException for access denied, without retrying and without the remote text or credentials', async () => {
      fake.failNext(1, 'access-denied');
      const since = fake.requests.length;
      const error = await rejectionOf(provider().describe(signingKey('ECC_NIST_P256').arn), AccessDeniedException);
      expect(error.message).to.equal(`AWS KMS denied Keyhold's AWS identity access to key '${signingKey('ECC_NIST_P256').arn}'`);
      for (const secret of [ACCESS_KEY_ID, SECRET_ACCESS_KEY, 'remote detail']) {
        expect(error.message).to.not.contain(secret);
        expect(String(error.stack)).to.not.contain(secret);
      }
      expect(fake.requests.length - since).to.equal(1);
    });

    it('answers UnsupportedOperationException, sending nothing, when the chain finds no credentials', async () => {
      await withEnvironment({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, async () => {
        const since = fake.requests.length;
        const error = await rejectionOf(provider().describe(signingKey('ECC_NIST_P256').arn), UnsupportedOperationException);
        expect(error.message).to.equal('AWS KMS is not available on this server: it has no AWS credentials');
        expect(fake.requests.length).to.equal(since);
      });
    });

    it('answers KMSInternalException for a bare key id when no region is configured', async () => {
      await withEnvironment({ AWS_REGION: undefined }, async () => {
        const digest = createHash('sha256').update('hi').digest();
        const error = await rejectionOf(provider().signDigest(signingKey('ECC_NIST_P256').keyId, 'ECDSA_SHA_256', digest), KMSInternalException);
        expect(error.message).to.equal(`AWS KMS has no region for key '${signingKey('ECC_NIST_P256').keyId}': give a key ARN, or set AWS_REGION`);
      });
    });

    it('answers DependencyTimeoutException when the endpoint refuses connections', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise((resolve) => closed.close(resolve));
      await withEnvironment({ AWS_ENDPOINT_URL_KMS: `http://127.0.0.1:${port}` }, async () => {
        const aws = provider({ maxAttempts: 2, timeoutMs: 10_000 });
        const error = await rejectionOf(aws.describe(signingKey('ECC_NIST_P256').arn), DependencyTimeoutException);
        expect(error.message).to.equal('AWS KMS is unreachable: ECONNREFUSED');
      });
    });
  });
});
