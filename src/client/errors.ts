/**
 * The two ways a Keyhold call fails, seen from the client: the server answered with an
 * error ({@link KeyholdApiError}), or no trustworthy answer could be had at all
 * ({@link KeyholdConnectionError}). Neither message ever contains a secret.
 */

/**
 * The server answered with an error body `{"__type": "...", "message": "..."}`, or with a
 * body the client cannot read (`type` is then `UnexpectedResponse`).
 *
 * @example
 *   try { await client.decrypt({ ciphertextBlob }); }
 *   catch (err) { if (err instanceof KeyholdApiError && err.type === 'InvalidCiphertextException') … }
 */
export class KeyholdApiError extends Error {
  /** The AWS-style error name (`__type`), e.g. `NotFoundException`. */
  readonly type: string;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The server's `X-Request-Id`, to find the matching log line. */
  readonly requestId: string | undefined;

  constructor(type: string, status: number, message: string, requestId?: string) {
    super(message);
    this.name = 'KeyholdApiError';
    this.type = type;
    this.status = status;
    this.requestId = requestId;
  }
}

/**
 * The server could not be reached or trusted: refused or reset connection, DNS failure,
 * TLS failure, certificate pin mismatch, timeout. `code` is node's error code when there
 * is one (`ECONNREFUSED`, `ETIMEDOUT`, …) or `CERT_PIN_MISMATCH`.
 */
export class KeyholdConnectionError extends Error {
  readonly code: string | undefined;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyholdConnectionError';
    this.code = options.code;
  }
}
