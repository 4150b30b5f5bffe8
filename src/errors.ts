/**
 * The one error family of Keyhold. Every error a caller can see is a KmsError with an
 * AWS-style `__type`, an HTTP status and a message that is safe to return: it never
 * carries plaintext, key bytes, a passphrase, a PIN or a credential secret.
 *
 * Thrown where the problem is found; mapped to HTTP once, in src/api/error-handler.ts.
 *
 * @example
 *   throw new NotFoundException(`Key '${keyId}' does not exist`);
 */
// Shared by every copy of this module (Symbol.for), see KmsError[Symbol.hasInstance].
const KMS_ERROR_BRAND = Symbol.for('keyhold.KmsError');

export class KmsError extends Error {
  /** The AWS-style error name sent as `__type`. */
  readonly type: string;
  /** The HTTP status the API answers with. */
  readonly status: number;
  /** The `__type` of a subclass; undefined on KmsError itself. */
  static readonly errorType: string | undefined = undefined;

  constructor(type: string, status: number, message: string) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
    Object.defineProperty(this, KMS_ERROR_BRAND, { value: true });
  }

  /**
   * `instanceof` also recognises a KmsError made by a second copy of this module (a module
   * loader may load one file twice, e.g. through a dynamic import under a test runner's
   * loader): it carries the same brand, and for a subclass the same `__type`.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[KMS_ERROR_BRAND] !== true) return false;
    if (this === KmsError) return true;
    // A subclass matches by the `__type` it declares itself; one that declares none matches nothing foreign.
    return Object.hasOwn(this, 'errorType') && this.errorType !== undefined && this.errorType === (value as KmsError).type;
  }
}

function kmsErrorClass(type: string, status: number) {
  return class extends KmsError {
    static override readonly errorType = type;
    constructor(message: string) {
      super(type, status, message);
    }
  };
}

// The error table (docs/api.md, Errors), defined once.
export const ValidationException = kmsErrorClass('ValidationException', 400);
export const InvalidCiphertextException = kmsErrorClass('InvalidCiphertextException', 400);
export const DisabledException = kmsErrorClass('DisabledException', 400);
export const KMSInvalidStateException = kmsErrorClass('KMSInvalidStateException', 400);
export const IncorrectKeyException = kmsErrorClass('IncorrectKeyException', 400);
export const InvalidKeyUsageException = kmsErrorClass('InvalidKeyUsageException', 400);
export const AlreadyExistsException = kmsErrorClass('AlreadyExistsException', 400);
export const LimitExceededException = kmsErrorClass('LimitExceededException', 400);
export const TagException = kmsErrorClass('TagException', 400);
export const UnknownOperationException = kmsErrorClass('UnknownOperationException', 400);
export const UnsupportedOperationException = kmsErrorClass('UnsupportedOperationException', 400);
export const KMSInvalidSignatureException = kmsErrorClass('KMSInvalidSignatureException', 400);
/** VerifyMac: the MAC is not the key's HMAC of the message with that algorithm. */
export const KMSInvalidMacException = kmsErrorClass('KMSInvalidMacException', 400);
export const UnrecognizedClientException = kmsErrorClass('UnrecognizedClientException', 401);
export const InvalidSignatureException = kmsErrorClass('InvalidSignatureException', 401);
export const RequestExpired = kmsErrorClass('RequestExpired', 401);
/** An AWS SigV4 request whose Authorization header is garbled or leaves out a part Keyhold needs. */
export const IncompleteSignatureException = kmsErrorClass('IncompleteSignatureException', 400);
/** An AWS SigV4 request with no Authorization header (what AWS answers an unsigned request). */
export const MissingAuthenticationTokenException = kmsErrorClass('MissingAuthenticationTokenException', 400);
export const AccessDeniedException = kmsErrorClass('AccessDeniedException', 403);
/** A state-changing request whose signature was already accepted within the date window. */
export const ReplayedRequestException = kmsErrorClass('ReplayedRequestException', 400);
export const NotFoundException = kmsErrorClass('NotFoundException', 404);
export const RequestEntityTooLarge = kmsErrorClass('RequestEntityTooLarge', 413);
export const ThrottlingException = kmsErrorClass('ThrottlingException', 429);
export const KMSInternalException = kmsErrorClass('KMSInternalException', 500);
export const ServiceUnavailableException = kmsErrorClass('ServiceUnavailableException', 503);
/** A key provider (AWS KMS, Google Cloud KMS) did not answer in time or was unreachable. */
export const DependencyTimeoutException = kmsErrorClass('DependencyTimeoutException', 503);
/** ImportKeyMaterial: the ImportToken is not this key's newest unused one. */
export const InvalidImportTokenException = kmsErrorClass('InvalidImportTokenException', 400);
/** ImportKeyMaterial: the ImportToken's 24 hours have passed. */
export const ExpiredImportTokenException = kmsErrorClass('ExpiredImportTokenException', 400);
/** ImportKeyMaterial: material of the wrong length, or not the material imported before. */
export const IncorrectKeyMaterialException = kmsErrorClass('IncorrectKeyMaterialException', 400);
/** The AWS door: a body that is not a JSON object, or not sent as AWS JSON 1.1. */
export const SerializationException = kmsErrorClass('SerializationException', 400);

/**
 * The single decryption failure. Wrong tag, wrong context, truncated body, unknown format:
 * the caller learns only this, never which check failed, so the API is no oracle.
 */
export function invalidCiphertext(): KmsError {
  return new InvalidCiphertextException(
    'The ciphertext is invalid, was modified, or was not made with this encryption context',
  );
}

/**
 * Raised at start-up for configuration or master-key problems. The server prints its
 * message as one line and exits non-zero. `variable` names the setting at fault.
 */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly variable?: string,
  ) {
    super(variable ? `${variable}: ${message}` : message);
    this.name = 'StartupError';
  }
}
