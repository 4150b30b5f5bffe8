import type {
  AsymmetricEncryptionAlgorithm,
  AsymmetricKeySpec,
  SigningAlgorithm,
} from '../../crypto/asymmetric-algorithms.js';

/** Where an asymmetric key's private half lives. */
export type RemoteOrigin = 'AWS_KMS' | 'GCP_KMS';

/** What Keyhold learns about a remote key when it is registered. */
export interface RemoteKeyDescription {
  keySpec: AsymmetricKeySpec;
  keyUsage: 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT';
  /** DER SubjectPublicKeyInfo. */
  publicKey: Buffer;
  signingAlgorithms: SigningAlgorithm[];
  encryptionAlgorithms: AsymmetricEncryptionAlgorithm[];
}

/**
 * An asymmetric key whose private half stays in another KMS (AWS KMS, Google Cloud KMS).
 * Keyhold keeps the public key and verifies locally; sign and decrypt go to the provider.
 *
 * Errors are KmsErrors with safe messages (src/errors.ts), never the remote error's text:
 *   - remote key disabled                     -> DisabledException
 *   - remote key pending deletion / destroyed -> KMSInvalidStateException
 *   - remote key missing or not visible       -> NotFoundException
 *   - timeout, unreachable, throttled after the bounded retries -> DependencyTimeoutException (503)
 *   - this server has no credentials for the provider at all -> UnsupportedOperationException (400)
 *   - anything else (bad credentials, remote 500, integrity check failed) -> KMSInternalException (500)
 *   - the key cannot do this (wrong usage, unsupported algorithm) -> ValidationException / InvalidKeyUsageException
 *   - the provider refuses a ciphertext               -> invalidCiphertext() (the one decryption failure)
 */
export interface RemoteKeyProvider {
  readonly origin: RemoteOrigin;
  /** Reads the remote key's public key, spec, usage and algorithms. */
  describe(providerKeyId: string): Promise<RemoteKeyDescription>;
  /**
   * Signs a digest (already hashed with the algorithm's hash). Returns the signature in
   * AWS KMS's format: RSA signatures as is, ECDSA signatures DER-encoded (SEQUENCE { r, s }).
   */
  signDigest(providerKeyId: string, algorithm: SigningAlgorithm, digest: Buffer): Promise<Buffer>;
  /** RSAES-OAEP decryption with the remote private key. */
  decrypt(providerKeyId: string, algorithm: AsymmetricEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Hands out the remote providers, created on first use (their SDKs load only then). */
export interface RemoteKeyProviders {
  get(origin: RemoteOrigin): Promise<RemoteKeyProvider>;
}

/** Limits every provider call honours. */
export interface RemoteCallLimits {
  /** Deadline of one provider call, retries included. */
  timeoutMs: number;
  /** Attempts per call (1 = no retry); only timeouts, throttling and unavailability are retried. */
  maxAttempts: number;
}
