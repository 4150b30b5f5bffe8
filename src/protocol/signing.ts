/**
 * The request-signing scheme of Keyhold, defined once: the client signs with it and the
 * server's verifier (src/auth/verify-signature.ts) rebuilds the same string to sign from
 * here. Pure: node:crypto only, no clock unless `now` is left out, no I/O.
 *
 * ```
 * X-Kms-Date:           RFC 1123 date
 * X-Kms-Content-Sha256: hex SHA-256 of the exact body bytes
 * Authorization:        KMS-HMAC-SHA256 Credential=<accessKeyId>, Signature=<base64>
 * string to sign:       METHOD "\n" path-with-query "\n" X-Kms-Date "\n" X-Kms-Content-Sha256
 * ```
 */
import { createHash, createHmac } from 'node:crypto';

/** The scheme word that opens the Authorization header. Case-sensitive. */
export const AUTH_SCHEME = 'KMS-HMAC-SHA256';

/** The header names the scheme uses, as sent. Servers match them case-insensitively. */
export const DATE_HEADER = 'X-Kms-Date';
export const CONTENT_SHA256_HEADER = 'X-Kms-Content-Sha256';
export const AUTHORIZATION_HEADER = 'Authorization';

/**
 * Formats a date as RFC 1123 in GMT, the form `X-Kms-Date` carries.
 *
 * @example
 *   formatKmsDate(new Date(Date.UTC(2015, 0, 28, 10, 42, 13))) // 'Wed, 28 Jan 2015 10:42:13 GMT'
 */
export function formatKmsDate(d: Date): string {
  return d.toUTCString();
}

/**
 * The canonical string a request signature covers. The date is the header value exactly as
 * sent; the body is bound through its hash, so the signature covers the body too.
 *
 * @example
 *   stringToSign('POST', '/api/v1/kms/encrypt', 'Wed, 28 Jan 2015 10:42:13 GMT', sha256Hex(body))
 */
export function stringToSign(
  method: string,
  pathWithQuery: string,
  date: string,
  contentSha256Hex: string,
): string {
  return `${method}\n${pathWithQuery}\n${date}\n${contentSha256Hex}`;
}

/**
 * Lower-case hex SHA-256 of the body bytes, the value of `X-Kms-Content-Sha256`.
 *
 * @example
 *   sha256Hex(new Uint8Array()) // 'e3b0c442…b855'
 */
export function sha256Hex(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Base64 HMAC-SHA256 of a string to sign under a raw key.
 *
 * @example
 *   hmacSha256Base64(secretKey, stringToSign(...))
 */
export function hmacSha256Base64(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('base64');
}

/** What {@link signRequest} needs to sign one request. */
export interface SignRequestParams {
  /** The HTTP method exactly as it will be sent (upper case, e.g. `POST`). */
  method: string;
  /** The request target as sent on the wire: path and query string, e.g. `/api/v1/kms/encrypt`. */
  pathWithQuery: string;
  /** The exact body bytes that will be sent. */
  body: Uint8Array;
  accessKeyId: string;
  /** The credential's 32 raw secret bytes (not their base64). */
  secretKey: Buffer;
  /** The signing time; defaults to the current clock. */
  now?: Date;
}

/**
 * Signs one request and returns the three headers to send with it.
 *
 * @example
 *   const body = Buffer.from(JSON.stringify({ KeyId: keyId }));
 *   const headers = signRequest({
 *     method: 'POST', pathWithQuery: '/api/v1/kms/describekey', body,
 *     accessKeyId: 'KHEXAMPLE', secretKey,
 *   });
 *   // { 'X-Kms-Date': '… GMT', 'X-Kms-Content-Sha256': '<hex>',
 *   //   Authorization: 'KMS-HMAC-SHA256 Credential=KHEXAMPLE, Signature=<base64>' }
 */
export function signRequest(p: SignRequestParams): Record<string, string> {
  const date = formatKmsDate(p.now ?? new Date());
  const contentSha256 = sha256Hex(p.body);
  const signature = hmacSha256Base64(
    p.secretKey,
    stringToSign(p.method, p.pathWithQuery, date, contentSha256),
  );
  return {
    [DATE_HEADER]: date,
    [CONTENT_SHA256_HEADER]: contentSha256,
    [AUTHORIZATION_HEADER]: `${AUTH_SCHEME} Credential=${p.accessKeyId}, Signature=${signature}`,
  };
}
