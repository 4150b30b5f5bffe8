import {
  AccessDeniedException,
  DependencyTimeoutException,
  DisabledException,
  InvalidKeyUsageException,
  invalidCiphertext,
  KMSInternalException,
  KMSInvalidStateException,
  KmsError,
  NotFoundException,
  UnsupportedOperationException,
  ValidationException,
} from '../../../errors.js';

/**
 * Maps what the AWS SDK throws to Keyhold's KmsErrors (the table in remote-key-provider.ts).
 *
 * Messages name the provider and the error's *name* only. The remote message text is never
 * copied: AWS puts principal ARNs and request details there, and a hostile or broken endpoint
 * could put anything there. Names themselves are checked before use for the same reason.
 */

/** Thrown (and used as the abort reason) when a call's deadline passes. */
export class AwsDeadlineExceeded extends Error {
  constructor() {
    super('deadline exceeded');
    this.name = 'AwsDeadlineExceeded';
  }
}

export interface AwsCallContext {
  providerKeyId: string;
  timeoutMs: number;
}

// Node's socket error codes that mean "could not reach or lost the endpoint".
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// AWS error names that mean "busy, try later": the SDK's throttling list, as far as KMS uses it.
const THROTTLING_NAMES = new Set(['ThrottlingException', 'Throttling', 'ThrottledException', 'TooManyRequestsException', 'RequestLimitExceeded']);

// AWS's own "unavailable" answers.
const UNAVAILABLE_NAMES = new Set(['DependencyTimeoutException', 'ServiceUnavailableException', 'ServiceUnavailable']);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** An error name fit to appear in a message: an identifier, or a fixed placeholder. */
export function safeErrorName(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_.]{0,79}$/.test(value) ? value : 'an unrecognised error';
}

/** The first Node socket error code in the error or its causes. */
function unreachableCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as SdkErrorShape).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code;
    current = (current as SdkErrorShape).cause;
  }
  return undefined;
}

export function toKmsError(error: unknown, context: AwsCallContext): KmsError {
  if (error instanceof KmsError) return error;
  const { providerKeyId, timeoutMs } = context;
  const shape: SdkErrorShape = error && typeof error === 'object' ? (error as SdkErrorShape) : {};
  const name = safeErrorName(shape.name);
  const status = typeof shape.$metadata?.httpStatusCode === 'number' ? shape.$metadata.httpStatusCode : undefined;

  switch (name) {
    case 'NotFoundException':
      return new NotFoundException(`AWS KMS has no key '${providerKeyId}' visible to these credentials`);
    case 'DisabledException':
      return new DisabledException(`AWS KMS key '${providerKeyId}' is disabled`);
    case 'KMSInvalidStateException':
      return new KMSInvalidStateException(`AWS KMS key '${providerKeyId}' is not in a state that allows this operation`);
    case 'InvalidKeyUsageException':
      return new InvalidKeyUsageException(`AWS KMS key '${providerKeyId}' cannot be used for this operation or algorithm`);
    case 'InvalidCiphertextException':
      // The one decryption failure, whichever KMS found it.
      return invalidCiphertext();
    case 'InvalidArnException':
    case 'ValidationException':
      return new ValidationException(`AWS KMS refused the key id '${providerKeyId}' (${name})`);
    case 'AccessDeniedException':
      return new AccessDeniedException(`AWS KMS denied Keyhold's AWS identity access to key '${providerKeyId}'`);
  }

  if (name === 'CredentialsProviderError') {
    // No AWS identity on this server (environment, shared files, container or instance role):
    // not the caller's fault, nor a failure worth retrying; the operator can act on it.
    return new UnsupportedOperationException('AWS KMS is not available on this server: it has no AWS credentials');
  }

  if (error instanceof AwsDeadlineExceeded || name === 'TimeoutError' || name === 'AbortError') {
    return new DependencyTimeoutException(`AWS KMS did not answer within ${timeoutMs} ms`);
  }
  if (THROTTLING_NAMES.has(name) || status === 429) {
    return new DependencyTimeoutException(`AWS KMS throttled the request (${name}) and the retries ran out`);
  }
  if (UNAVAILABLE_NAMES.has(name) || status === 502 || status === 503 || status === 504) {
    return new DependencyTimeoutException(`AWS KMS is unavailable: ${name}`);
  }
  const code = unreachableCode(error);
  if (code) return new DependencyTimeoutException(`AWS KMS is unreachable: ${code}`);

  if (shape.$fault === 'server' || (status !== undefined && status >= 500)) {
    return new KMSInternalException(`AWS KMS failed the request: ${name}`);
  }
  if (shape.$fault === 'client' || status !== undefined) {
    return new KMSInternalException(`AWS KMS refused the request: ${name}`);
  }
  // Not an answer from AWS: missing region or credentials, a malformed reply, a bug.
  return new KMSInternalException(`AWS KMS request failed: ${name}`);
}
