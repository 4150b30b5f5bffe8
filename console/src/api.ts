/**
 * The console's only way to the server: Keyhold's native API (`POST /api/v1/kms/<action>`),
 * each request signed in the browser with WebCrypto, in the scheme every Keyhold client uses:
 *
 * ```
 * X-Kms-Date:           RFC 1123 date (Date.prototype.toUTCString)
 * X-Kms-Content-Sha256: hex SHA-256 of the exact body bytes
 * Authorization:        KMS-HMAC-SHA256 Credential=<accessKeyId>, Signature=<base64>
 * string to sign:       METHOD "\n" path-with-query "\n" X-Kms-Date "\n" X-Kms-Content-Sha256
 * ```
 *
 * The secret becomes a non-extractable HMAC CryptoKey at sign-in; the page keeps no other copy
 * (sessionStorage only when the user asks to stay signed in for the tab).
 */

const API_PREFIX = '/api/v1/kms';
const ACTION_PATTERN = /^[a-z0-9]+$/;
const SESSION_ITEM = 'keyhold-console-session';

/** A signed-in credential: its id and its secret as a key WebCrypto will not give back. */
export interface Session {
  accessKeyId: string;
  signingKey: CryptoKey;
}

/** An error answer of the API (`{"__type", "message"}`), or a failure to reach it (`__type` NetworkError). */
export class ApiError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

/** What a person should read for an error type; the server's own message follows it. */
const ERROR_WORDS: Record<string, string> = {
  AccessDeniedException: 'Access denied: the credential you signed in with is not allowed to do this.',
  UnrecognizedClientException: 'The server does not know this access key id, or the credential is disabled.',
  InvalidSignatureException: 'The server did not accept the signature: check the secret key.',
  RequestExpired: "The request's time is too far from the server's clock: check this computer's clock.",
  NotFoundException: 'Not found: it does not exist, or no longer exists.',
  ValidationException: 'The server did not accept what was entered.',
  KMSInvalidStateException: "The key's current state does not allow this.",
  DisabledException: 'The key is disabled.',
  AlreadyExistsException: 'That name is already taken.',
  LimitExceededException: 'A limit was reached.',
  TagException: 'The tag was not accepted.',
  InvalidCiphertextException: 'The ciphertext could not be decrypted: it is damaged, or the encryption context differs.',
  IncorrectKeyException: 'The ciphertext was not made under this key.',
  InvalidKeyUsageException: "This key's usage does not allow this operation.",
  UnsupportedOperationException: 'Keyhold does not support this.',
  ReplayedRequestException: 'The server saw this exact request before; try again.',
  ThrottlingException: 'Too many requests: wait a moment and try again.',
  ServiceUnavailableException: "The server's key store is unavailable right now: try again later.",
  DependencyTimeoutException: 'The key provider did not answer in time: try again later.',
  KMSInternalException: 'The server had an internal error.',
  NetworkError: 'Could not reach the server.',
  UnexpectedResponse: 'The server gave an answer the console does not understand.',
  BadCredentialsFile: 'That file is not an admin.credentials file.',
  BadSecret: 'The secret key must be the base64 of 32 bytes, as the server gave it.',
  BadAccessKeyId: 'That is not an access key id.',
};

/** The headline of an error in people's words. */
export function errorInWords(error: ApiError): string {
  return ERROR_WORDS[error.type] ?? 'The request failed.';
}

/** Any thrown value as an ApiError, for showing. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError('NetworkError', 0, error instanceof Error ? error.message : String(error));
}

/**
 * Turns an access key id and a base64 secret into a session. The secret's bytes are wiped
 * once WebCrypto holds them.
 */
export async function openSession(accessKeyId: string, secretKeyBase64: string): Promise<Session> {
  const id = accessKeyId.trim();
  /* Precondition: an access key id is letters and digits. */
  if (!/^[A-Za-z0-9]{1,128}$/.test(id)) throw new ApiError('BadAccessKeyId', 0, 'An access key id is letters and digits, e.g. KH…');
  const secret = decodeBase64(secretKeyBase64.trim());
  /* Precondition: a secret is 32 bytes. */
  if (secret === undefined || secret.length !== 32) throw new ApiError('BadSecret', 0, 'The secret key is not 32 bytes of base64');
  try {
    const signingKey = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return { accessKeyId: id, signingKey };
  } finally {
    secret.fill(0);
  }
}

/** Reads an admin.credentials file's text: `{AccessKeyId, SecretKey, …}`. */
export function readCredentialsFile(text: string): { accessKeyId: string; secretKey: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError('BadCredentialsFile', 0, 'The file is not JSON');
  }
  const fields = parsed as { AccessKeyId?: unknown; SecretKey?: unknown };
  if (typeof fields?.AccessKeyId !== 'string' || typeof fields.SecretKey !== 'string') {
    throw new ApiError('BadCredentialsFile', 0, 'The file has no AccessKeyId and SecretKey');
  }
  return { accessKeyId: fields.AccessKeyId, secretKey: fields.SecretKey };
}

/** Keeps the credential in this tab's sessionStorage (the user ticked "stay signed in for this tab"). */
export function rememberForTab(accessKeyId: string, secretKey: string): void {
  sessionStorage.setItem(SESSION_ITEM, JSON.stringify({ AccessKeyId: accessKeyId, SecretKey: secretKey }));
}

/** The credential kept for this tab, if any. */
export function rememberedForTab(): { accessKeyId: string; secretKey: string } | undefined {
  const text = sessionStorage.getItem(SESSION_ITEM);
  if (text === null) return undefined;
  try {
    return readCredentialsFile(text);
  } catch {
    sessionStorage.removeItem(SESSION_ITEM);
    return undefined;
  }
}

export function forgetForTab(): void {
  sessionStorage.removeItem(SESSION_ITEM);
}

/**
 * POSTs `body` as JSON to the action, signed; resolves the parsed answer or throws ApiError.
 * A random nonce in the signed query makes each call a request of its own (the server accepts
 * a state-changing signature once).
 *
 * @example
 *   const { KeyMetadata } = await call(session, 'describekey', { KeyId: keyId });
 */
export async function call<T = any>(session: Session, action: string, body: object): Promise<T> {
  /* Precondition: an action is one path segment of lower-case letters and digits. */
  if (!ACTION_PATTERN.test(action)) throw new TypeError('An action is lower-case letters and digits');
  const path = `${API_PREFIX}/${action}?nonce=${base64Url(crypto.getRandomValues(new Uint8Array(12)))}`;
  const payload = new TextEncoder().encode(JSON.stringify(body));
  const date = new Date().toUTCString();
  const contentSha256 = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', payload)));
  const toSign = `POST\n${path}\n${date}\n${contentSha256}`;
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', session.signingKey, new TextEncoder().encode(toSign)));
  let response: Response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'X-Kms-Date': date,
        'X-Kms-Content-Sha256': contentSha256,
        Authorization: `KMS-HMAC-SHA256 Credential=${session.accessKeyId}, Signature=${base64(signature)}`,
      },
      body: payload,
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (error) {
    throw new ApiError('NetworkError', 0, error instanceof Error ? error.message : 'The request failed');
  }
  const requestId = response.headers.get('X-Request-Id') ?? undefined;
  let answer: any;
  try {
    answer = await response.json();
  } catch {
    throw new ApiError('UnexpectedResponse', response.status, `HTTP ${response.status} without a JSON body`, requestId);
  }
  if (!response.ok) {
    const type = typeof answer?.__type === 'string' ? answer.__type : 'UnexpectedResponse';
    const message = typeof answer?.message === 'string' ? answer.message : `HTTP ${response.status}`;
    throw new ApiError(type, response.status, message, requestId);
  }
  return answer as T;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64Url(bytes: Uint8Array): string {
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Standard base64 to bytes; undefined for anything else. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/** UTF-8 text as base64 (for Plaintext fields). */
export function textToBase64(text: string): string {
  return base64(new TextEncoder().encode(text));
}

/** Base64 bytes as UTF-8 text; undefined when they are not valid UTF-8. */
export function base64ToText(text: string): string | undefined {
  const bytes = decodeBase64(text);
  if (bytes === undefined) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
