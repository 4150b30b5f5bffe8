import { DecryptCommand, DescribeKeyCommand, GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  digestLength,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type SigningAlgorithm,
} from '../../../crypto/asymmetric-algorithms.js';
import { KMSInternalException, ValidationException } from '../../../errors.js';
import type { RemoteCallLimits, RemoteKeyDescription, RemoteKeyProvider } from '../remote-key-provider.js';
import { assertKeyArn, AwsKmsClients } from './clients.js';
import { AwsDeadlineExceeded, toKmsError } from './error-mapping.js';
import { describeAwsKey, usableKeyOf } from './key-description.js';

export { regionOfKeyArn } from './clients.js';

export interface AwsKmsProviderOptions {
  limits: RemoteCallLimits;
  /** Region for key ids that are not ARNs; default: the SDK's chain (AWS_REGION, profile). */
  region?: string;
}

/**
 * Asymmetric keys held in AWS KMS, through @aws-sdk/client-kms.
 *
 * Every call has one deadline, `limits.timeoutMs`, retries included; each HTTP attempt gets an
 * equal share of it, so a single hung request still leaves time for a retry.
 *
 * @example
 *   const aws = new AwsKmsProvider({ limits: { timeoutMs: 5000, maxAttempts: 3 } });
 *   const { publicKey } = await aws.describe('arn:aws:kms:eu-west-1:111122223333:key/1234abcd-…');
 */
export class AwsKmsProvider implements RemoteKeyProvider {
  readonly origin = 'AWS_KMS' as const;
  private readonly limits: RemoteCallLimits;
  private readonly clients: AwsKmsClients;

  constructor(options: AwsKmsProviderOptions) {
    const { timeoutMs, maxAttempts } = options.limits;
    /* Precondition: the limits are positive whole numbers. */
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || !Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new ValidationException('AWS KMS limits need a positive whole timeoutMs and maxAttempts');
    }
    this.limits = { timeoutMs, maxAttempts };
    this.clients = new AwsKmsClients({
      maxAttempts,
      attemptTimeoutMs: Math.ceil(timeoutMs / maxAttempts),
      ...(options.region ? { region: options.region } : {}),
    });
  }

  async describe(providerKeyId: string): Promise<RemoteKeyDescription> {
    /* Precondition: a key is registered by its key ARN, which always names the same key. */
    assertKeyArn(providerKeyId);
    // One deadline for both requests: describe is one provider call to the caller.
    return this.call(providerKeyId, async (client, abortSignal) => {
      const described = await client.send(new DescribeKeyCommand({ KeyId: providerKeyId }), { abortSignal });
      const usable = usableKeyOf(described.KeyMetadata, providerKeyId);
      const publicKeyAnswer = await client.send(new GetPublicKeyCommand({ KeyId: providerKeyId }), { abortSignal });
      return describeAwsKey(usable, publicKeyAnswer, providerKeyId);
    });
  }

  async signDigest(providerKeyId: string, algorithm: SigningAlgorithm, digest: Buffer): Promise<Buffer> {
    /* Precondition: the digest is exactly as long as the algorithm's hash. */
    const expectedLength = digestLength(signingHash(algorithm));
    if (digest.length !== expectedLength) {
      throw new ValidationException(`A digest for ${algorithm} must be ${expectedLength} bytes`);
    }
    const answer = await this.call(providerKeyId, (client, abortSignal) =>
      client.send(
        new SignCommand({ KeyId: providerKeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }),
        { abortSignal },
      ),
    );
    /* Postcondition: AWS answered with a signature made with the requested algorithm. */
    if (!answer.Signature || answer.Signature.length === 0 || (answer.SigningAlgorithm && answer.SigningAlgorithm !== algorithm)) {
      throw new KMSInternalException('AWS KMS answered Sign without a signature for the requested algorithm');
    }
    // AWS KMS already answers in Keyhold's format: RSA as is, ECDSA DER-encoded.
    return Buffer.from(answer.Signature);
  }

  async decrypt(providerKeyId: string, algorithm: AsymmetricEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    const answer = await this.call(providerKeyId, (client, abortSignal) =>
      client.send(new DecryptCommand({ KeyId: providerKeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: algorithm }), {
        abortSignal,
      }),
    );
    /* Postcondition: AWS answered with a plaintext made with the requested algorithm. */
    if (!answer.Plaintext || (answer.EncryptionAlgorithm && answer.EncryptionAlgorithm !== algorithm)) {
      throw new KMSInternalException('AWS KMS answered Decrypt without a plaintext for the requested algorithm');
    }
    return Buffer.from(answer.Plaintext);
  }

  async close(): Promise<void> {
    this.clients.destroyAll();
  }

  /** Refuses, with a message that says what to do, a key id that no configured region resolves. */
  private async requireRegion(client: KMSClient, providerKeyId: string): Promise<void> {
    const region = await client.config.region().catch(() => undefined);
    /* Precondition: the key ARN, the provider options or the SDK's chain name a region. */
    if (!region) {
      throw new KMSInternalException(`AWS KMS has no region for key '${providerKeyId}': give a key ARN, or set AWS_REGION`);
    }
  }

  /**
   * Runs one SDK call under the deadline. The abort stops the SDK (in flight or between
   * retries); the race makes the deadline hold even where the SDK does not listen, such as
   * while a credential provider is still resolving.
   */
  private async call<Output>(
    providerKeyId: string,
    send: (client: KMSClient, abortSignal: AbortSignal) => Promise<Output>,
  ): Promise<Output> {
    const context = { providerKeyId, timeoutMs: this.limits.timeoutMs };
    const client = this.clients.forKey(providerKeyId);
    if (!client) throw new KMSInternalException('The AWS KMS provider is closed');
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const exceeded = new AwsDeadlineExceeded();
        controller.abort(exceeded);
        reject(exceeded);
      }, this.limits.timeoutMs);
    });
    try {
      return await Promise.race([this.requireRegion(client, providerKeyId).then(() => send(client, controller.signal)), deadline]);
    } catch (error) {
      throw toKmsError(error, context);
    } finally {
      clearTimeout(timer);
    }
  }
}
