import {
  constants,
  createHash,
  generateKeyPair,
  publicEncrypt,
  randomBytes,
  type KeyObject } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import {
  AccessDeniedException,
  DependencyTimeoutException,
  DisabledException,
  InvalidCiphertextException,
  KMSInternalException,
  KMSInvalidStateException,
  KmsError,
  NotFoundException,
  StartupError,
  ValidationException } from '../../src/errors.js';
import { GcpKmsProvider, gcpClientOptions, isLoopbackHost, parseGcpEndpoint, SUPPORTED_GCP_ALGORITHMS } from '../../src/providers/remote-keys/gcp/index.js';
import type { RemoteCallLimits } from '../../src/providers/remote-keys/remote-key-provider.js';
import { startFakeGcpKms, type FakeGcpKms, type FakeKeyVersion, type FakeMethod } from '../fakes/gcp-kms.js';
import { rejectionOf } from '../helpers/rejection.js';
import { nodeVerifies } from '../helpers/signatures.js';

// What each supported GCP algorithm must mean, written out here apart from the provider's table.
const SIGNING_CASES: [gcp: string, spec: AsymmetricKeySpec, algorithm: SigningAlgorithm][] = [
  ['EC_SIGN_P256_SHA256', 'ECC_NIST_P256', 'ECDSA_SHA_256'],
  ['EC_SIGN_P384_SHA384', 'ECC_NIST_P384', 'ECDSA_SHA_384'],
  ['RSA_SIGN_PSS_2048_SHA256', 'RSA_2048', 'RSASSA_PSS_SHA_256'],
  ['RSA_SIGN_PSS_3072_SHA256', 'RSA_3072', 'RSASSA_PSS_SHA_256'],
  ['RSA_SIGN_PSS_4096_SHA256', 'RSA_4096', 'RSASSA_PSS_SHA_256'],
  ['RSA_SIGN_PSS_4096_SHA512', 'RSA_4096', 'RSASSA_PSS_SHA_512'],
  ['RSA_SIGN_PKCS1_2048_SHA256', 'RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ['RSA_SIGN_PKCS1_3072_SHA256', 'RSA_3072', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ['RSA_SIGN_PKCS1_4096_SHA256', 'RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ['RSA_SIGN_PKCS1_4096_SHA512', 'RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_512'],
];
const DECRYPT_CASES: [gcp: string, spec: AsymmetricKeySpec, algorithm: AsymmetricEncryptionAlgorithm][] = [
  ['RSA_DECRYPT_OAEP_2048_SHA256', 'RSA_2048', 'RSAES_OAEP_SHA_256'],
  ['RSA_DECRYPT_OAEP_3072_SHA256', 'RSA_3072', 'RSAES_OAEP_SHA_256'],
  ['RSA_DECRYPT_OAEP_4096_SHA256', 'RSA_4096', 'RSAES_OAEP_SHA_256'],
  ['RSA_DECRYPT_OAEP_2048_SHA1', 'RSA_2048', 'RSAES_OAEP_SHA_1'],
  ['RSA_DECRYPT_OAEP_3072_SHA1', 'RSA_3072', 'RSAES_OAEP_SHA_1'],
  ['RSA_DECRYPT_OAEP_4096_SHA1', 'RSA_4096', 'RSAES_OAEP_SHA_1'],
];
const UNSUPPORTED = ['EC_SIGN_SECP256K1_SHA256', 'EC_SIGN_ED25519', 'RSA_SIGN_RAW_PKCS1_2048', 'RSA_DECRYPT_OAEP_4096_SHA512', 'GOOGLE_SYMMETRIC_ENCRYPTION'];

const LIMITS: RemoteCallLimits = { timeoutMs: 5000, maxAttempts: 3 };
const MESSAGE = Buffer.from('The quick brown fox signs over the lazy dog');

const generateKeyPairAsync = promisify(generateKeyPair);

function hashOf(algorithm: SigningAlgorithm): 'sha256' | 'sha384' | 'sha512' {
  return algorithm.endsWith('512') ? 'sha512' : algorithm.endsWith('384') ? 'sha384' : 'sha256';
}

describe('Google Cloud KMS provider through @google-cloud/kms against a fake KeyManagementService', function () {
  this.timeout(60_000);

  let fake: FakeGcpKms;
  let provider: GcpKmsProvider;
  const extraProviders: GcpKmsProvider[] = [];
  // RSA 3072/4096 take seconds to generate: one pair per size serves every algorithm of that size.
  const sharedRsa = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();
  // Every outgoing connection during the suite, to prove none leaves the machine.
  const destinations: string[] = [];
  const originalConnect = net.Socket.prototype.connect;

  before(async () => {
    net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
      // net.connect() passes its normalised arguments as one array.
      const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
      const second = Array.isArray(args[0]) ? (args[0] as unknown[])[1] : args[1];
      if (typeof first === 'object' && first !== null) {
        const options = first as { host?: string; path?: string };
        destinations.push(options.path ?? options.host ?? 'localhost');
      } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
        destinations.push(typeof second === 'string' ? second : 'localhost');
      } else if (typeof first === 'string') {
        destinations.push(first); // a Unix socket path
      }
      return (originalConnect as (...connectArgs: unknown[]) => net.Socket).apply(this, args);
    } as typeof net.Socket.prototype.connect;
    const [rsa3072, rsa4096] = await Promise.all([
      generateKeyPairAsync('rsa', { modulusLength: 3072, publicExponent: 0x10001 }),
      generateKeyPairAsync('rsa', { modulusLength: 4096, publicExponent: 0x10001 }),
    ]);
    sharedRsa.set('3072', rsa3072);
    sharedRsa.set('4096', rsa4096);
    fake = await startFakeGcpKms();
    provider = new GcpKmsProvider({ limits: LIMITS, endpoint: fake.endpoint });
  });

  after(async () => {
    await Promise.all([provider?.close(), ...extraProviders.map((extra) => extra.close())]);
    await fake?.close();
    net.Socket.prototype.connect = originalConnect;
  });

  afterEach(() => {
    // A failure left queued by a test would leak into the next one.
    fake.clearFailures();
  });

  function addVersion(algorithm: string): FakeKeyVersion {
    const size = /_(3072|4096)_/.exec(algorithm)?.[1];
    return fake.addKeyVersion(algorithm, size ? sharedRsa.get(size) : undefined);
  }

  function providerWith(limits: RemoteCallLimits, endpoint = fake.endpoint): GcpKmsProvider {
    const made = new GcpKmsProvider({ limits, endpoint });
    extraProviders.push(made);
    return made;
  }

  function callsOf(method: FakeMethod, since: number): number {
    return fake.calls.slice(since).filter((call) => call === method).length;
  }

  /** The error is a safe one: it repeats neither the remote message nor anything of the fake's detail. */
  function expectSafe(error: KmsError): void {
    expect(error.message).to.not.contain(fake.remoteDetail);
    expect(error.message).to.not.match(/token=|secret-internal|current state is/i);
  }

  describe('describe', () => {
    for (const [gcp, spec, algorithm] of SIGNING_CASES) {
      it(`reads ${gcp} as ${spec} SIGN_VERIFY with ${algorithm} and its DER public key`, async () => {
        const version = addVersion(gcp);
        const description = await provider.describe(version.name);
        expect(description).to.deep.equal({
          keySpec: spec,
          keyUsage: 'SIGN_VERIFY',
          publicKey: version.publicKey.export({ type: 'spki', format: 'der' }),
          signingAlgorithms: [algorithm],
          encryptionAlgorithms: [],
        });
      });
    }

    for (const [gcp, spec, algorithm] of DECRYPT_CASES) {
      it(`reads ${gcp} as ${spec} ENCRYPT_DECRYPT with ${algorithm}`, async () => {
        const version = addVersion(gcp);
        const description = await provider.describe(version.name);
        expect(description).to.deep.equal({
          keySpec: spec,
          keyUsage: 'ENCRYPT_DECRYPT',
          publicKey: version.publicKey.export({ type: 'spki', format: 'der' }),
          signingAlgorithms: [],
          encryptionAlgorithms: [algorithm],
        });
      });
    }

    it('supports exactly the algorithms listed in this suite', () => {
      const listed = [...SIGNING_CASES, ...DECRYPT_CASES].map(([gcp]) => gcp);
      expect([...SUPPORTED_GCP_ALGORITHMS].sort()).to.deep.equal(listed.sort());
    });

    for (const gcp of UNSUPPORTED) {
      it(`refuses the unsupported algorithm ${gcp} with a ValidationException naming it`, async () => {
        const version = addVersion(gcp);
        const error = await rejectionOf(provider.describe(version.name), ValidationException);
        expect(error.message).to.contain(gcp);
      });
    }

    it('refuses a public key whose pem_crc32c does not match (integrity check failed)', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'corrupt-crc', 'GetPublicKey');
      const error = await rejectionOf(provider.describe(version.name), KMSInternalException);
      expect(error.message).to.match(/integrity check/);
    });

    it('refuses a PEM altered in transit whose CRC32C is of the original', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'flip-payload', 'GetPublicKey');
      await rejectionOf(provider.describe(version.name), KMSInternalException);
    });

    it('refuses a public key answered for another key version name', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'wrong-name', 'GetPublicKey');
      await rejectionOf(provider.describe(version.name), KMSInternalException);
    });

    it('refuses a key version answered under another name', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'wrong-name', 'GetCryptoKeyVersion');
      await rejectionOf(provider.describe(version.name), KMSInternalException);
    });
  });

  describe('signDigest', () => {
    for (const [gcp, , algorithm] of SIGNING_CASES) {
      it(`signs a ${hashOf(algorithm)} digest with ${gcp} so that node:crypto verifies it over the message`, async () => {
        const version = addVersion(gcp);
        const digest = createHash(hashOf(algorithm)).update(MESSAGE).digest();
        const signature = await provider.signDigest(version.name, algorithm, digest);
        expect(nodeVerifies(version.publicKey, algorithm, MESSAGE, signature)).to.equal(true);
        expect(nodeVerifies(version.publicKey, algorithm, Buffer.from('another message'), signature)).to.equal(false);
        if (algorithm.startsWith('ECDSA_')) expect(signature[0]).to.equal(0x30); // DER SEQUENCE, as AWS KMS returns
      });
    }

    it('refuses an algorithm other than the key version one, before calling AsymmetricSign', async () => {
      const version = addVersion('RSA_SIGN_PSS_2048_SHA256');
      await provider.describe(version.name);
      const since = fake.calls.length;
      const digest = createHash('sha256').update(MESSAGE).digest();
      await rejectionOf(provider.signDigest(version.name, 'RSASSA_PKCS1_V1_5_SHA_256', digest), ValidationException);
      await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', digest), ValidationException);
      expect(callsOf('AsymmetricSign', since)).to.equal(0);
    });

    it('refuses to sign with a decryption key version', async () => {
      const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      const digest = createHash('sha256').update(MESSAGE).digest();
      await rejectionOf(provider.signDigest(version.name, 'RSASSA_PSS_SHA_256', digest), ValidationException);
    });

    it('refuses a digest that is not exactly the hash length', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', Buffer.alloc(31)), ValidationException);
      await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', Buffer.alloc(48)), ValidationException);
    });

    it('reads the key version algorithm once and remembers it', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      const since = fake.calls.length;
      const digest = createHash('sha256').update(MESSAGE).digest();
      await provider.signDigest(version.name, 'ECDSA_SHA_256', digest);
      await provider.signDigest(version.name, 'ECDSA_SHA_256', digest);
      expect(fake.calls.slice(since)).to.deep.equal(['GetCryptoKeyVersion', 'AsymmetricSign', 'AsymmetricSign']);
    });

    for (const [kind, what] of [
      ['corrupt-crc', 'a signature_crc32c that does not match the signature'],
      ['flip-payload', 'a signature altered in transit whose CRC32C is of the original'],
      ['unverified', 'verified_digest_crc32c false'],
      ['wrong-name', 'a signature made with another key version'],
    ] as const) {
      it(`refuses ${what} (integrity check failed)`, async () => {
        const version = addVersion('EC_SIGN_P256_SHA256');
        fake.failNext(1, kind, 'AsymmetricSign');
        const digest = createHash('sha256').update(MESSAGE).digest();
        const error = await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', digest), KMSInternalException);
        expect(error.message).to.match(/integrity check failed/);
        expect(error.status).to.equal(500);
      });
    }
  });

  describe('decrypt', () => {
    for (const [gcp, , algorithm] of DECRYPT_CASES) {
      it(`decrypts RSAES-OAEP made with the public key of ${gcp}`, async () => {
        const version = addVersion(gcp);
        const plaintext = randomBytes(32);
        const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
        const ciphertext = publicEncrypt({ key: version.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext);
        expect(await provider.decrypt(version.name, algorithm, ciphertext)).to.deep.equal(plaintext);
      });
    }

    function oaepCiphertext(version: FakeKeyVersion, oaepHash: 'sha1' | 'sha256', plaintext = Buffer.from('secret')): Buffer {
      return publicEncrypt({ key: version.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext);
    }

    it('refuses an algorithm other than the key version one, before calling AsymmetricDecrypt', async () => {
      const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      await provider.describe(version.name);
      const since = fake.calls.length;
      await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_1', oaepCiphertext(version, 'sha1')), ValidationException);
      expect(callsOf('AsymmetricDecrypt', since)).to.equal(0);
    });

    it('refuses to decrypt with a signing key version', async () => {
      const version = addVersion('RSA_SIGN_PSS_2048_SHA256');
      await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_256', Buffer.alloc(256)), ValidationException);
    });

    it('answers a ciphertext that is not as long as the modulus with InvalidCiphertextException', async () => {
      const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_256', Buffer.alloc(255, 1)), InvalidCiphertextException);
    });

    it('answers a ciphertext Google cannot decrypt with InvalidCiphertextException', async () => {
      const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      const error = await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_256', randomBytes(256)), InvalidCiphertextException);
      expectSafe(error);
    });

    for (const [kind, what] of [
      ['corrupt-crc', 'a plaintext_crc32c that does not match the plaintext'],
      ['flip-payload', 'a plaintext altered in transit whose CRC32C is of the original'],
      ['unverified', 'verified_ciphertext_crc32c false'],
    ] as const) {
      it(`refuses ${what} (integrity check failed)`, async () => {
        const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
        fake.failNext(1, kind, 'AsymmetricDecrypt');
        const error = await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_256', oaepCiphertext(version, 'sha256')), KMSInternalException);
        expect(error.message).to.match(/integrity check failed/);
      });
    }
  });

  describe('key version state', () => {
    it('answers a DISABLED version with DisabledException for describe, signDigest and decrypt', async () => {
      const signing = addVersion('EC_SIGN_P256_SHA256');
      const decrypting = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      fake.setState(signing.name, 'DISABLED');
      fake.setState(decrypting.name, 'DISABLED');
      await rejectionOf(provider.describe(signing.name), DisabledException);
      await rejectionOf(provider.signDigest(signing.name, 'ECDSA_SHA_256', Buffer.alloc(32)), DisabledException);
      await rejectionOf(provider.decrypt(decrypting.name, 'RSAES_OAEP_SHA_256', Buffer.alloc(256)), DisabledException);
    });

    it('answers a DESTROYED version with KMSInvalidStateException', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.setState(version.name, 'DESTROYED');
      await rejectionOf(provider.describe(version.name), KMSInvalidStateException);
      await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', Buffer.alloc(32)), KMSInvalidStateException);
    });

    it('answers a DESTROY_SCHEDULED version with KMSInvalidStateException', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.setState(version.name, 'DESTROY_SCHEDULED');
      await rejectionOf(provider.describe(version.name), KMSInvalidStateException);
    });

    it('reads the state after FAILED_PRECONDITION: a version disabled after it was described is DisabledException', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      await provider.describe(version.name);
      fake.setState(version.name, 'DISABLED');
      const since = fake.calls.length;
      const error = await rejectionOf(provider.signDigest(version.name, 'ECDSA_SHA_256', Buffer.alloc(32)), DisabledException);
      expect(fake.calls.slice(since)).to.deep.equal(['AsymmetricSign', 'GetCryptoKeyVersion']);
      expectSafe(error);
    });

    it('signs again once the version is re-enabled', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.setState(version.name, 'DISABLED');
      await rejectionOf(provider.describe(version.name), DisabledException);
      fake.setState(version.name, 'ENABLED');
      const digest = createHash('sha256').update(MESSAGE).digest();
      const signature = await provider.signDigest(version.name, 'ECDSA_SHA_256', digest);
      expect(nodeVerifies(version.publicKey, 'ECDSA_SHA_256', MESSAGE, signature)).to.equal(true);
    });
  });

  describe('errors and limits', () => {
    const unknownName = 'projects/keyhold-fake/locations/global/keyRings/fake-ring/cryptoKeys/missing/cryptoKeyVersions/1';

    it('answers an unknown key version with NotFoundException', async () => {
      const error = await rejectionOf(provider.describe(unknownName), NotFoundException);
      expect(error.status).to.equal(404);
      expectSafe(error);
      await rejectionOf(provider.signDigest(unknownName, 'ECDSA_SHA_256', Buffer.alloc(32)), NotFoundException);
      await rejectionOf(provider.decrypt(unknownName, 'RSAES_OAEP_SHA_256', Buffer.alloc(256)), NotFoundException);
    });

    for (const badId of [
      '',
      'projects/p/locations/global/keyRings/r/cryptoKeys/k',
      'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/0',
      'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/publicKey',
      'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/x',
      'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'projects/../locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
      ' projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    ]) {
      it(`refuses the ProviderKeyId ${JSON.stringify(badId)} with a ValidationException, without calling Google`, async () => {
        const since = fake.calls.length;
        await rejectionOf(provider.describe(badId), ValidationException);
        await rejectionOf(provider.signDigest(badId, 'ECDSA_SHA_256', Buffer.alloc(32)), ValidationException);
        await rejectionOf(provider.decrypt(badId, 'RSAES_OAEP_SHA_256', Buffer.alloc(256)), ValidationException);
        expect(fake.calls.length).to.equal(since);
      });
    }

    it('retries UNAVAILABLE within maxAttempts and then succeeds', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(2, 'unavailable', 'GetCryptoKeyVersion');
      const since = fake.calls.length;
      const description = await provider.describe(version.name);
      expect(description.keySpec).to.equal('ECC_NIST_P256');
      expect(callsOf('GetCryptoKeyVersion', since)).to.equal(3);
    });

    it('retries RESOURCE_EXHAUSTED on AsymmetricSign and then succeeds', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      await provider.describe(version.name);
      fake.failNext(1, 'resource-exhausted', 'AsymmetricSign');
      const since = fake.calls.length;
      const digest = createHash('sha256').update(MESSAGE).digest();
      const signature = await provider.signDigest(version.name, 'ECDSA_SHA_256', digest);
      expect(nodeVerifies(version.publicKey, 'ECDSA_SHA_256', MESSAGE, signature)).to.equal(true);
      expect(callsOf('AsymmetricSign', since)).to.equal(2);
    });

    it('answers UNAVAILABLE beyond maxAttempts with DependencyTimeoutException (503) after exactly maxAttempts calls', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(3, 'unavailable', 'GetCryptoKeyVersion');
      const since = fake.calls.length;
      const error = await rejectionOf(provider.describe(version.name), DependencyTimeoutException);
      expect(error.status).to.equal(503);
      expect(error.message).to.contain('UNAVAILABLE');
      expectSafe(error);
      expect(callsOf('GetCryptoKeyVersion', since)).to.equal(3);
    });

    it('does not retry at all with maxAttempts 1', async () => {
      const once = providerWith({ timeoutMs: 5000, maxAttempts: 1 });
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'unavailable', 'GetCryptoKeyVersion');
      const since = fake.calls.length;
      await rejectionOf(once.describe(version.name), DependencyTimeoutException);
      expect(callsOf('GetCryptoKeyVersion', since)).to.equal(1);
    });

    it('answers a call that hangs with DependencyTimeoutException within the deadline', async () => {
      const quick = providerWith({ timeoutMs: 1000, maxAttempts: 3 });
      const version = addVersion('EC_SIGN_P256_SHA256');
      await quick.describe(version.name);
      fake.failNext(1, 'hang', 'AsymmetricSign');
      const started = Date.now();
      const error = await rejectionOf(quick.signDigest(version.name, 'ECDSA_SHA_256', Buffer.alloc(32)), DependencyTimeoutException);
      const elapsed = Date.now() - started;
      expect(error.message).to.contain('DEADLINE_EXCEEDED');
      expect(elapsed).to.be.at.least(900);
      expect(elapsed).to.be.below(3000);
    });

    it('keeps one deadline across retries: a hang after an UNAVAILABLE still ends in time', async () => {
      const quick = providerWith({ timeoutMs: 1000, maxAttempts: 5 });
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'unavailable', 'GetCryptoKeyVersion');
      fake.failNext(5, 'hang', 'GetCryptoKeyVersion');
      const started = Date.now();
      await rejectionOf(quick.describe(version.name), DependencyTimeoutException);
      expect(Date.now() - started).to.be.below(3000);
    });

    it('answers an endpoint where nothing listens with DependencyTimeoutException', async () => {
      const closedPort = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = probe.address() as net.AddressInfo;
          probe.close(() => resolve(port));
        });
      });
      const nowhere = providerWith({ timeoutMs: 2000, maxAttempts: 2 }, `127.0.0.1:${closedPort}`);
      const started = Date.now();
      await rejectionOf(nowhere.describe(unknownName), DependencyTimeoutException);
      expect(Date.now() - started).to.be.below(5000);
    });

    for (const [kind, status] of [
      ['unauthenticated', 'UNAUTHENTICATED'],
      ['internal', 'INTERNAL'],
    ] as const) {
      it(`answers ${status} with KMSInternalException (500), naming only the status, without retrying`, async () => {
        const version = addVersion('EC_SIGN_P256_SHA256');
        fake.failNext(1, kind, 'GetCryptoKeyVersion');
        const since = fake.calls.length;
        const error = await rejectionOf(provider.describe(version.name), KMSInternalException);
        expect(error.status).to.equal(500);
        expect(error.message).to.contain(status);
        expectSafe(error);
        expect(callsOf('GetCryptoKeyVersion', since)).to.equal(1);
      });
    }

    it('answers PERMISSION_DENIED (also what Google answers for a project that does not exist) with AccessDeniedException (403), without retrying', async () => {
      const version = addVersion('EC_SIGN_P256_SHA256');
      fake.failNext(1, 'permission-denied', 'GetCryptoKeyVersion');
      const since = fake.calls.length;
      const error = await rejectionOf(provider.describe(version.name), AccessDeniedException);
      expect(error.status).to.equal(403);
      expectSafe(error);
      expect(callsOf('GetCryptoKeyVersion', since)).to.equal(1);
    });

    it('answers PERMISSION_DENIED on AsymmetricDecrypt with AccessDeniedException', async () => {
      const version = addVersion('RSA_DECRYPT_OAEP_2048_SHA256');
      await provider.describe(version.name);
      fake.failNext(1, 'permission-denied', 'AsymmetricDecrypt');
      const ciphertext = publicEncrypt({ key: version.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('x'));
      const error = await rejectionOf(provider.decrypt(version.name, 'RSAES_OAEP_SHA_256', ciphertext), AccessDeniedException);
      expectSafe(error);
    });
  });

  describe('endpoint', () => {
    it('parses host:port, [ipv6]:port and a bare host (port 443)', () => {
      expect(parseGcpEndpoint('127.0.0.1:8443')).to.deep.equal({ host: '127.0.0.1', port: 8443 });
      expect(parseGcpEndpoint('[::1]:9000')).to.deep.equal({ host: '::1', port: 9000 });
      expect(parseGcpEndpoint('kms.example.internal')).to.deep.equal({ host: 'kms.example.internal', port: 443 });
    });

    for (const bad of ['https://cloudkms.googleapis.com', '127.0.0.1:0', '127.0.0.1:70000', 'host:port', '[not-ipv6]:1', 'a/b:1']) {
      it(`refuses the endpoint ${JSON.stringify(bad)} with a StartupError naming KEYHOLD_GCP_KMS_ENDPOINT`, () => {
        expect(() => parseGcpEndpoint(bad)).to.throw(StartupError, /KEYHOLD_GCP_KMS_ENDPOINT/);
      });
    }

    it('treats 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
      for (const host of ['127.0.0.1', '127.255.0.9', '::1', 'localhost', 'LOCALHOST']) expect(isLoopbackHost(host), host).to.equal(true);
      for (const host of ['128.0.0.1', '10.0.0.1', '::2', 'cloudkms.googleapis.com', 'localhost.example.com', '169.254.169.254']) {
        expect(isLoopbackHost(host), host).to.equal(false);
      }
    });

    it('reaches a loopback endpoint in plaintext without Google credentials, and marks it insecure', () => {
      const { options, insecurePlaintext } = gcpClientOptions('127.0.0.1:9999');
      expect(insecurePlaintext).to.equal(true);
      expect(options).to.include({ apiEndpoint: '127.0.0.1', port: 9999, universeDomain: 'googleapis.com' });
      expect(options.sslCreds?._isSecure()).to.equal(false);
      expect(gcpClientOptions('[::1]:9999').options).to.include({ apiEndpoint: '[::1]', port: 9999 });
      expect(provider.insecurePlaintext).to.equal(true);
    });

    it('reaches any other endpoint with TLS and Application Default Credentials, the port apart from the host', () => {
      const remote = gcpClientOptions('kms.example.internal:8443');
      expect(remote.insecurePlaintext).to.equal(false);
      expect(remote.options).to.deep.equal({ apiEndpoint: 'kms.example.internal', port: 8443 });
      expect(gcpClientOptions(undefined)).to.deep.equal({ options: {}, insecurePlaintext: false });
    });

    it('makes no client (so asks for no credentials) until the first call', async () => {
      // A provider for Google's own endpoint, never called: constructing and closing it touches nothing.
      const idle = new GcpKmsProvider({ limits: LIMITS });
      expect(idle.insecurePlaintext).to.equal(false);
      await idle.close();
    });

    it('refuses calls once closed', async () => {
      const closing = new GcpKmsProvider({ limits: LIMITS, endpoint: fake.endpoint });
      const version = addVersion('EC_SIGN_P256_SHA256');
      await closing.describe(version.name);
      await closing.close();
      const error = await rejectionOf(closing.describe(version.name), KMSInternalException);
      expect(error.message).to.contain('closed');
    });

    it('refuses limits that allow no attempt', () => {
      expect(() => new GcpKmsProvider({ limits: { timeoutMs: 1000, maxAttempts: 0 }, endpoint: fake.endpoint })).to.throw(RangeError);
      expect(() => new GcpKmsProvider({ limits: { timeoutMs: 0, maxAttempts: 1 }, endpoint: fake.endpoint })).to.throw(RangeError);
    });

    it('never connects anywhere but the loopback fake (no metadata server, no Google)', () => {
      expect(destinations.length).to.be.greaterThan(0);
      for (const destination of destinations) expect(isLoopbackHost(destination), destination).to.equal(true);
    });
  });
});
