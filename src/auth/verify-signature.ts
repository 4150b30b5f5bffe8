/**
 * Verification of request signatures (docs/design.md, "Authentication").
 *
 * Every check throws its own KmsError (401) with a fixed message: no message echoes a
 * header value, a secret or the expected signature, so a failure teaches the caller
 * nothing about the key.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { AUTH_SCHEME, stringToSign } from '../protocol/signing.js';
import { InvalidSignatureException, RequestExpired, UnrecognizedClientException } from '../errors.js';
import type { Principal } from './principal.js';

/** How far, in seconds, a request date may be from the server clock, either way. */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

/** The principal a request signed with the go-kms shared auth key acts as. */
export const GO_KMS_LEGACY_ACCESS_KEY_ID = 'go-kms-legacy';

export type RequestHeaders = Record<string, string | string[] | undefined>;

/** The parts of an HTTP request that a signature covers. */
export interface SignedRequest {
  /** The method as received, e.g. `POST`. */
  method: string;
  /** The request target as received (path and query string, not decoded). */
  pathWithQuery: string;
  /** Header names in any case (node gives them lower-case). */
  headers: RequestHeaders;
  /** The exact body bytes received. */
  body: Buffer;
}

/** A credential found by its access key id. */
export interface CredentialLookup {
  /** The 32 raw secret bytes. */
  secretKey: Buffer;
  principal: Principal;
}

export interface VerifyOptions {
  lookupCredential: (accessKeyId: string) => CredentialLookup | undefined;
  /** The server clock. Passed in so tests can control it. */
  now: Date;
  /** Default {@link DEFAULT_MAX_SKEW_SECONDS}. */
  maxSkewSeconds?: number;
  /** The go-kms shared auth key (UTF-8 bytes of KEYHOLD_GOKMS_AUTH_KEY). Unset: scheme refused. */
  goKmsAuthKey?: Buffer;
}

const AUTHORIZATION_PATTERN = new RegExp(
  `^${AUTH_SCHEME} Credential=([^\\s,]{1,256}), *Signature=([A-Za-z0-9+/]+={0,2})$`,
);
const BARE_BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
const CONTENT_SHA256_PATTERN = /^[0-9a-fA-F]{64}$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const KMS_DATE_PATTERN = new RegExp(
  '^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ' +
    `(${MONTHS.join('|')}) ` +
    '(\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) (?:GMT|UTC)$',
);

/**
 * Checks a request's signature and freshness and returns who it acts as.
 *
 * @throws UnrecognizedClientException missing or garbled Authorization, X-Kms-Date or
 *   X-Kms-Content-Sha256 header, an unknown credential, or an unsupported scheme
 * @throws RequestExpired the date is more than `maxSkewSeconds` from `now`
 * @throws InvalidSignatureException a wrong signature, or a body that does not match its hash
 *
 * @example
 *   const principal = verifyRequestSignature(
 *     { method: req.method, pathWithQuery: req.originalUrl, headers: req.headers, body: rawBody },
 *     { lookupCredential: (id) => credentials.get(id), now: new Date() },
 *   );
 */
export function verifyRequestSignature(req: SignedRequest, options: VerifyOptions): Principal {
  const headers = findSignatureHeaders(req.headers);
  const authorization = requireHeader(headers.authorization, 'Authorization');

  /* Precondition: a bare base64 Authorization is the go-kms scheme, refused unless its key is configured. */
  if (BARE_BASE64_PATTERN.test(authorization)) {
    if (!options.goKmsAuthKey) {
      throw new UnrecognizedClientException('Unsupported authorization scheme');
    }
    return verifyGoKmsLegacy(req, headers, authorization, options.goKmsAuthKey, options);
  }

  /* Precondition: Authorization is exactly "KMS-HMAC-SHA256 Credential=<id>, Signature=<base64>". */
  const match = AUTHORIZATION_PATTERN.exec(authorization);
  if (!match) {
    throw new UnrecognizedClientException(
      'Malformed Authorization header; expected ' +
        `"${AUTH_SCHEME} Credential=<access key id>, Signature=<base64>"`,
    );
  }
  const accessKeyId = match[1]!;
  const presentedSignature = match[2]!;

  const date = requireHeader(headers.date, 'X-Kms-Date');
  checkFreshness(parseKmsDate(date), options);

  const contentSha256 = requireHeader(headers.contentSha256, 'X-Kms-Content-Sha256');
  /* Precondition: X-Kms-Content-Sha256 is 64 hex characters. */
  if (!CONTENT_SHA256_PATTERN.test(contentSha256)) {
    throw new UnrecognizedClientException('X-Kms-Content-Sha256 must be 64 hex characters');
  }

  const credential = options.lookupCredential(accessKeyId);
  if (!credential) {
    throw new UnrecognizedClientException('The access key id is not recognised');
  }

  // The date and the hash header are signed exactly as sent, so re-formatting cannot
  // make two different requests share one signature.
  const expected = createHmac('sha256', credential.secretKey)
    .update(stringToSign(req.method, req.pathWithQuery, date, contentSha256), 'utf8')
    .digest();
  if (!signatureMatches(expected, presentedSignature)) {
    throw new InvalidSignatureException('The request signature does not match');
  }

  // The signature covers the hash header; this binds the hash header to the body received,
  // so a captured request cannot be replayed with another body.
  // One-shot hash (node ≥ 20.12): the lower-case hex of signing.ts's sha256Hex, without a Hash object.
  if (hash('sha256', req.body, 'hex') !== contentSha256.toLowerCase()) {
    throw new InvalidSignatureException('The request body does not match X-Kms-Content-Sha256');
  }

  return credential.principal;
}

/**
 * go-kms compatibility: `Authorization: <base64 HMAC-SHA256>` over METHOD "\n" date "\n" path,
 * keyed by the shared auth key. The body is not covered by this scheme (go-kms never signed
 * it), which is why it is off unless configured.
 */
function verifyGoKmsLegacy(
  req: SignedRequest,
  headers: SignatureHeaders,
  presentedSignature: string,
  authKey: Buffer,
  options: VerifyOptions,
): Principal {
  const date = requireHeader(headers.date, 'X-Kms-Date');
  checkFreshness(parseKmsDate(date), options);

  const queryStart = req.pathWithQuery.indexOf('?');
  const path = queryStart === -1 ? req.pathWithQuery : req.pathWithQuery.slice(0, queryStart);
  const expected = createHmac('sha256', authKey)
    .update(`${req.method}\n${date}\n${path}`, 'utf8')
    .digest();
  if (!signatureMatches(expected, presentedSignature)) {
    throw new InvalidSignatureException('The request signature does not match');
  }
  return { accessKeyId: GO_KMS_LEGACY_ACCESS_KEY_ID, admin: true };
}

/** The length of a canonical base64 HMAC-SHA256: 32 bytes, 43 characters and one `=`. */
const SIGNATURE_BASE64_LENGTH = 44;

/**
 * Constant-time comparison of the expected HMAC with a presented base64 signature, which must
 * be the one canonical spelling of 32 bytes (decision 16): unpadded, over-padded or with
 * non-zero unused bits, a second spelling would let one signature be sent in several forms.
 */
function signatureMatches(expected: Buffer, presentedBase64: string): boolean {
  /* Precondition: the signature is 44 characters of canonical base64. */
  if (presentedBase64.length !== SIGNATURE_BASE64_LENGTH) return false;
  const presented = Buffer.from(presentedBase64, 'base64');
  if (presented.toString('base64') !== presentedBase64) return false;
  // timingSafeEqual requires equal lengths; the length of an HMAC-SHA256 is public.
  if (presented.length !== expected.length) return false;
  return timingSafeEqual(presented, expected);
}

/**
 * Parses an RFC 1123 date as sent in X-Kms-Date ("GMT", or "UTC" as go clients send).
 * The shape is checked first, then the calendar fields, so "31 Feb" is refused rather
 * than rolled over into March.
 */
export function parseKmsDate(value: string): Date {
  const fields = KMS_DATE_PATTERN.exec(value);
  if (!fields) throw garbledDate();
  const day = Number(fields[1]);
  const month = MONTHS.indexOf(fields[2]!);
  const year = Number(fields[3]);
  const hour = Number(fields[4]);
  const minute = Number(fields[5]);
  const second = Number(fields[6]);
  if (hour > 23 || minute > 59 || second > 59) throw garbledDate();
  const date = new Date(Date.UTC(year, month, day, hour, minute, second));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day) {
    throw garbledDate();
  }
  return date;
}

function garbledDate(): Error {
  return new UnrecognizedClientException(
    'X-Kms-Date must be an RFC 1123 date such as "Wed, 28 Jan 2015 10:42:13 GMT"',
  );
}

/* Precondition: the request date is within maxSkewSeconds of the server clock, either way. */
function checkFreshness(requestDate: Date, options: VerifyOptions): void {
  const maxSkewSeconds = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const skewMs = Math.abs(options.now.getTime() - requestDate.getTime());
  if (!(skewMs <= maxSkewSeconds * 1000)) {
    throw new RequestExpired(
      `The request date is more than ${maxSkewSeconds} seconds from the server time`,
    );
  }
}

/** A header's value as found, and whether a second header of that name was found too. */
interface FoundHeader {
  value: string | string[] | undefined;
  repeated: boolean;
}

interface SignatureHeaders {
  authorization: FoundHeader;
  date: FoundHeader;
  contentSha256: FoundHeader;
}

/**
 * The three headers of the scheme by case-insensitive name, in one pass over the headers.
 * Nothing is refused here: `requireHeader` does that, in the order of the checks.
 */
function findSignatureHeaders(headers: RequestHeaders): SignatureHeaders {
  const found: SignatureHeaders = {
    authorization: { value: undefined, repeated: false },
    date: { value: undefined, repeated: false },
    contentSha256: { value: undefined, repeated: false },
  };
  for (const name of Object.keys(headers)) {
    const lowerName = name.toLowerCase();
    const header =
      lowerName === 'authorization'
        ? found.authorization
        : lowerName === 'x-kms-date'
          ? found.date
          : lowerName === 'x-kms-content-sha256'
            ? found.contentSha256
            : undefined;
    if (header === undefined) continue;
    if (header.value !== undefined) header.repeated = true;
    header.value = headers[name];
  }
  return found;
}

/** One header's value; repeated or missing headers are refused. */
function requireHeader(header: FoundHeader, displayName: string): string {
  if (header.repeated) throw repeatedHeader(displayName);
  let value = header.value;
  if (Array.isArray(value)) {
    if (value.length !== 1) throw repeatedHeader(displayName);
    value = value[0];
  }
  if (value === undefined || value === '') {
    throw new UnrecognizedClientException(`Missing ${displayName} header`);
  }
  return value;
}

function repeatedHeader(displayName: string): Error {
  return new UnrecognizedClientException(`The ${displayName} header must appear once`);
}
