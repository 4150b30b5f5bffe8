import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeyManagementServiceClient, protos } from '@google-cloud/kms';
import { GoogleAuth, Status, type CallOptions, type ClientOptions } from 'google-gax';
import {
  digestLength,
  isRsaSpec,
  rsaModulusBits,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type SigningAlgorithm,
} from '../../../crypto/asymmetric-algorithms.js';
import { specOfPublicKey } from '../../../crypto/asymmetric.js';
import {
  AccessDeniedException,
  DependencyTimeoutException,
  invalidCiphertext,
  KMSInternalException,
  KmsError,
  NotFoundException,
  UnsupportedOperationException,
  ValidationException,
} from '../../../errors.js';
import type { RemoteCallLimits, RemoteKeyDescription, RemoteKeyProvider } from '../remote-key-provider.js';
import { gcpAlgorithmProfile, type GcpAlgorithmProfile } from './algorithms.js';
import { deadlineFrom, grpcStatusName, grpcStatusOf, isRetryable, withBoundedRetries, withinDeadline } from './calls.js';
import { gcpClientOptions } from './endpoint.js';
import { bytesOf, crc32cOf, integrityCheckFailed, matchesCrc32c } from './integrity.js';
import { assertKeyVersionName } from './key-version-name.js';
import { keyVersionStateError } from './key-version-state.js';

export { SUPPORTED_GCP_ALGORITHMS } from './algorithms.js';
export { gcpClientOptions, isLoopbackHost, parseGcpEndpoint } from './endpoint.js';

export interface GcpKmsProviderOptions {
  limits: RemoteCallLimits;
  /** KEYHOLD_GCP_KMS_ENDPOINT (host:port); a loopback host is reached in plaintext. */
  endpoint?: string;
}

const { CryptoKeyVersionState, CryptoKeyVersionAlgorithm } = protos.google.cloud.kms.v1.CryptoKeyVersion;

// A key version's algorithm never changes, so it is remembered to check each sign and decrypt
// without another round trip. Bounded so that a flood of names cannot grow it without end.
const MAX_REMEMBERED_ALGORITHMS = 10_000;

/**
 * Asymmetric keys held in Google Cloud KMS, addressed by CryptoKeyVersion name. Every call
 * is bounded by the limits' deadline and attempts, sends CRC32Cs of what it sends, and checks
 * the CRC32Cs, `verified*` flags and key names of what comes back.
 *
 * @example
 *   const provider = new GcpKmsProvider({ limits: { timeoutMs: 5000, maxAttempts: 3 } });
 *   const { publicKey } = await provider.describe('projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1');
 */
export class GcpKmsProvider implements RemoteKeyProvider {
  readonly origin = 'GCP_KMS' as const;
  /** True when the endpoint is a loopback host reached without TLS or credentials; worth a warning. */
  readonly insecurePlaintext: boolean;
  private readonly clientOptions: ClientOptions;
  private clientInstance: KeyManagementServiceClient | undefined;
  /** The client once Google's credentials were found; forgotten when the search failed, to try again. */
  private clientReady: Promise<KeyManagementServiceClient> | undefined;
  private closed = false;
  private readonly limits: RemoteCallLimits;
  private readonly algorithms = new Map<string, string>();

  constructor(options: GcpKmsProviderOptions) {
    /* Precondition: the limits allow at least one attempt with some time. */
    if (!(options.limits.timeoutMs > 0) || !Number.isInteger(options.limits.maxAttempts) || options.limits.maxAttempts < 1) {
      throw new RangeError('GcpKmsProvider needs timeoutMs > 0 and an integer maxAttempts >= 1');
    }
    const { options: clientOptions, insecurePlaintext } = gcpClientOptions(options.endpoint);
    this.clientOptions = clientOptions;
    this.limits = options.limits;
    this.insecurePlaintext = insecurePlaintext;
  }

  async describe(providerKeyId: string): Promise<RemoteKeyDescription> {
    assertKeyVersionName(providerKeyId);
    const deadline = deadlineFrom(this.limits);
    const version = await this.getKeyVersion(providerKeyId, deadline);
    const stateError = keyVersionStateError(providerKeyId, enumName(version.state, CryptoKeyVersionState));
    if (stateError) throw stateError;
    const algorithm = this.rememberAlgorithm(providerKeyId, version.algorithm);
    const profile = gcpAlgorithmProfile(algorithm);

    const [response] = await this.call('GetPublicKey', providerKeyId, deadline, async (options) =>
      (await this.client(deadline)).getPublicKey({ name: providerKeyId }, options),
    );
    const pem = typeof response.pem === 'string' ? response.pem : '';
    /* Postcondition: the PEM arrived intact and belongs to the key version we asked for. */
    if (
      !matchesCrc32c(Buffer.from(pem, 'utf8'), response.pemCrc32c) ||
      response.name !== providerKeyId ||
      enumName(response.algorithm, CryptoKeyVersionAlgorithm) !== algorithm
    ) {
      throw integrityCheckFailed('GetPublicKey');
    }
    const publicKey = publicKeyMatching(pem, profile);
    return {
      keySpec: profile.keySpec,
      keyUsage: profile.keyUsage,
      publicKey: publicKey.export({ type: 'spki', format: 'der' }),
      signingAlgorithms: profile.keyUsage === 'SIGN_VERIFY' ? [profile.signingAlgorithm] : [],
      encryptionAlgorithms: profile.keyUsage === 'ENCRYPT_DECRYPT' ? [profile.encryptionAlgorithm] : [],
    };
  }

  async signDigest(providerKeyId: string, algorithm: SigningAlgorithm, digest: Buffer): Promise<Buffer> {
    assertKeyVersionName(providerKeyId);
    const deadline = deadlineFrom(this.limits);
    const profile = await this.profileOf(providerKeyId, deadline);
    /* Precondition: the key version signs with exactly this algorithm. */
    if (profile.keyUsage !== 'SIGN_VERIFY' || profile.signingAlgorithm !== algorithm) {
      throw new ValidationException(`Google Cloud KMS key version ${providerKeyId} does not sign with ${algorithm}`);
    }
    const hash = signingHash(algorithm);
    /* Precondition: the digest is exactly as long as the algorithm's hash. */
    if (digest.length !== digestLength(hash)) {
      throw new ValidationException(`A ${hash.toUpperCase()} digest is ${digestLength(hash)} bytes`);
    }
    const [response] = await this.call('AsymmetricSign', providerKeyId, deadline, async (options) =>
      (await this.client(deadline)).asymmetricSign(
        { name: providerKeyId, digest: { [hash]: digest }, digestCrc32c: { value: crc32cOf(digest) } },
        options,
      ),
    );
    const signature = bytesOf(response.signature);
    /* Postcondition: Google saw our digest intact, signed with the version we named, and the signature arrived intact. */
    if (
      response.verifiedDigestCrc32c !== true ||
      response.name !== providerKeyId ||
      signature === undefined ||
      signature.length === 0 ||
      !matchesCrc32c(signature, response.signatureCrc32c)
    ) {
      throw integrityCheckFailed('AsymmetricSign');
    }
    // ECDSA signatures from Google Cloud KMS are DER already, as AWS KMS returns them.
    return signature;
  }

  async decrypt(providerKeyId: string, algorithm: AsymmetricEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    assertKeyVersionName(providerKeyId);
    const deadline = deadlineFrom(this.limits);
    const profile = await this.profileOf(providerKeyId, deadline);
    /* Precondition: the key version decrypts with exactly this algorithm. */
    if (profile.keyUsage !== 'ENCRYPT_DECRYPT' || profile.encryptionAlgorithm !== algorithm) {
      throw new ValidationException(`Google Cloud KMS key version ${providerKeyId} does not decrypt with ${algorithm}`);
    }
    /* Precondition: an RSAES-OAEP ciphertext is exactly as long as the modulus. */
    if (isRsaSpec(profile.keySpec) && ciphertext.length !== rsaModulusBits(profile.keySpec) / 8) {
      throw invalidCiphertext();
    }
    const [response] = await this.call('AsymmetricDecrypt', providerKeyId, deadline, async (options) =>
      (await this.client(deadline)).asymmetricDecrypt({ name: providerKeyId, ciphertext, ciphertextCrc32c: { value: crc32cOf(ciphertext) } }, options),
    );
    const plaintext = bytesOf(response.plaintext) ?? Buffer.alloc(0);
    /* Postcondition: Google saw our ciphertext intact and the plaintext arrived intact. */
    if (response.verifiedCiphertextCrc32c !== true || !matchesCrc32c(plaintext, response.plaintextCrc32c)) {
      plaintext.fill(0);
      throw integrityCheckFailed('AsymmetricDecrypt');
    }
    return plaintext;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.clientInstance?.close();
  }

  // Made on first use: a client for Google's endpoint starts looking for Application Default
  // Credentials (and asks the metadata server) as soon as it exists, which a Keyhold without
  // Google Cloud KMS keys should never do. The credentials are found first, by us: a client made
  // without them leaves a rejected promise per RPC method that nobody awaits, and the process
  // dies of the unhandled rejection (any CreateKey with Origin GCP_KMS could do that).
  private client(deadline: number): Promise<KeyManagementServiceClient> {
    /* Precondition: the provider has not been closed. */
    if (this.closed) return Promise.reject(new KMSInternalException('The Google Cloud KMS provider is closed'));
    this.clientReady ??= this.makeClient().then(
      (client) => (this.clientInstance = client),
      (error: unknown) => {
        this.clientReady = undefined;
        throw error;
      },
    );
    return withinDeadline(this.clientReady, deadline);
  }

  private async makeClient(): Promise<KeyManagementServiceClient> {
    // An emulator on a loopback address is reached without credentials (sslCreds: insecure).
    if (this.insecurePlaintext) return new KeyManagementServiceClient(this.clientOptions);
    const auth = new GoogleAuth({ scopes: KeyManagementServiceClient.scopes });
    try {
      await auth.getClient();
    } catch {
      // The library's message names the places it looked, none of them secret, but says nothing
      // a caller can act on: the operator can.
      throw new UnsupportedOperationException(
        'Google Cloud KMS is not available on this server: it has no Google credentials (Application Default Credentials)',
      );
    }
    return new KeyManagementServiceClient({ ...this.clientOptions, auth });
  }

  /** The profile of a key version's algorithm, read once from Google and then remembered. */
  private async profileOf(name: string, deadline: number): Promise<GcpAlgorithmProfile> {
    const known = this.algorithms.get(name);
    if (known !== undefined) return gcpAlgorithmProfile(known);
    const version = await this.getKeyVersion(name, deadline);
    return gcpAlgorithmProfile(this.rememberAlgorithm(name, version.algorithm));
  }

  private rememberAlgorithm(name: string, algorithm: unknown): string {
    const algorithmName = enumName(algorithm, CryptoKeyVersionAlgorithm) ?? 'CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED';
    if (this.algorithms.size >= MAX_REMEMBERED_ALGORITHMS) this.algorithms.delete(this.algorithms.keys().next().value!);
    this.algorithms.set(name, algorithmName);
    return algorithmName;
  }

  private async getKeyVersion(name: string, deadline: number): Promise<protos.google.cloud.kms.v1.ICryptoKeyVersion> {
    const [version] = await this.call('GetCryptoKeyVersion', name, deadline, async (options) =>
      (await this.client(deadline)).getCryptoKeyVersion({ name }, options),
    );
    /* Postcondition: Google answered for the key version we asked about. */
    if (version.name !== name) throw integrityCheckFailed('GetCryptoKeyVersion');
    return version;
  }

  /** One RPC with bounded retries, its failure mapped to a safe KmsError. */
  private async call<T>(
    operation: string,
    name: string,
    deadline: number,
    rpc: (options: CallOptions) => Promise<T>,
  ): Promise<T> {
    try {
      // retryCodes: [] turns off the library's own retries (600 s by default): ours are bounded.
      return await withBoundedRetries(this.limits, deadline, (timeoutMs) => rpc({ timeout: timeoutMs, retry: { retryCodes: [] } }));
    } catch (error) {
      throw await this.mapError(operation, name, deadline, error);
    }
  }

  private async mapError(operation: string, name: string, deadline: number, error: unknown): Promise<KmsError> {
    if (error instanceof KmsError) return error;
    const status = grpcStatusOf(error);
    if (status === Status.NOT_FOUND) {
      return new NotFoundException(`Google Cloud KMS key version ${name} does not exist or is not visible to Keyhold`);
    }
    if (isRetryable(status)) {
      return new DependencyTimeoutException(`Google Cloud KMS ${operation} did not succeed in time (${grpcStatusName(status)})`);
    }
    if (status === Status.INVALID_ARGUMENT && operation === 'AsymmetricDecrypt') {
      // Google answers a ciphertext it cannot decrypt with INVALID_ARGUMENT.
      return invalidCiphertext();
    }
    if (status === Status.PERMISSION_DENIED) {
      // Also what Google answers for a project that does not exist: the caller can act on it.
      return new AccessDeniedException(`Google Cloud KMS denied Keyhold's identity access to ${name} (or it does not exist)`);
    }
    if (status === Status.INVALID_ARGUMENT && operation === 'GetCryptoKeyVersion') {
      return new ValidationException(`Google Cloud KMS refused the key version name ${name}`);
    }
    if (status === Status.FAILED_PRECONDITION && operation !== 'GetCryptoKeyVersion') {
      // Usually a version that is not ENABLED: its state says which error the caller gets.
      let version: protos.google.cloud.kms.v1.ICryptoKeyVersion;
      try {
        version = await this.getKeyVersion(name, deadline);
      } catch (lookupError) {
        return lookupError instanceof KmsError ? lookupError : internal(operation, status);
      }
      const stateError = keyVersionStateError(name, enumName(version.state, CryptoKeyVersionState));
      if (stateError) return stateError;
    }
    return internal(operation, status);
  }
}

function internal(operation: string, status: Status | undefined): KmsError {
  return new KMSInternalException(`Google Cloud KMS ${operation} failed (${grpcStatusName(status)})`);
}

/** An enum field as its name: gRPC gives names (enums: String), REST gives numbers. */
function enumName(value: unknown, enumObject: object): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    const name = (enumObject as Record<number, unknown>)[value];
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}

/** The PEM's public key, which must be of the spec the version's algorithm promises. */
function publicKeyMatching(pem: string, profile: GcpAlgorithmProfile): KeyObject {
  try {
    const publicKey = createPublicKey({ key: pem, format: 'pem' });
    if (publicKey.type === 'public' && specOfPublicKey(publicKey) === profile.keySpec) return publicKey;
  } catch {
    // Not a public key Keyhold can use: reported below without the parser's detail.
  }
  throw new KMSInternalException('Google Cloud KMS returned a public key that does not match the key version algorithm');
}
