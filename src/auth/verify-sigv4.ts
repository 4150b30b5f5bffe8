/**
 * Verification of AWS Signature Version 4 requests, for the AWS KMS front door: the aws CLI,
 * boto3 and the AWS SDKs sign `POST /` with `X-Amz-Target: TrentService.<Action>` this way.
 *
 * The AWS "secret access key" of a Keyhold credential is its 32-byte secret in base64, as the
 * admin credential file shows it. Canonical headers and query are @smithy/signature-v4's, the
 * code the AWS SDK for JavaScript signs with. Messages follow AWS's wording where a client may
 * look at it, and never carry a secret or the expected signature.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { getCanonicalHeaders, getCanonicalQuery } from '@smithy/signature-v4';
import {
  IncompleteSignatureException,
  InvalidSignatureException,
  MissingAuthenticationTokenException,
  UnrecognizedClientException,
} from '../errors.js';
import { LruCache } from '../store/lru-cache.js';
import type { Principal } from './principal.js';
import { DEFAULT_MAX_SKEW_SECONDS, type CredentialLookup, type RequestHeaders, type SignedRequest } from './verify-signature.js';

export interface SigV4Options {
  lookupCredential: (accessKeyId: string) => CredentialLookup | undefined;
  /** The server clock. Passed in so tests can control it. */
  now: Date;
  /** KEYHOLD_AWS_REGION; the credential scope must name it. */
  region: string;
  /** Default {@link DEFAULT_MAX_SKEW_SECONDS}. */
  maxSkewSeconds?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'kms';
const TERMINATOR = 'aws4_request';
/** Derived signing keys kept: one per access key id, day and region in use. */
const SIGNING_KEY_CACHE_SIZE = 1000;

const AUTHORIZATION_PREFIX = new RegExp(`^${ALGORITHM} +`);
const SCOPE_PART = '([A-Za-z0-9._-]{1,64})';
const CREDENTIAL_PATTERN = new RegExp(`^([A-Za-z0-9._-]{1,128})/(\\d{8})/${SCOPE_PART}/${SCOPE_PART}/${SCOPE_PART}$`);
/** Lower-case HTTP token characters: a signed header name as clients write it. */
const SIGNED_HEADERS_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]+(?:;[a-z0-9!#$%&'*+.^_`|~-]+)*$/;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Headers SigV4 reads whatever SignedHeaders says: each may appear at most once. */
const COVERED_HEADERS = ['authorization', 'x-amz-date', 'x-amz-target', 'x-amz-content-sha256', 'x-amz-security-token'];
/**
 * Headers every request must sign. Unsigned, x-amz-target would let a captured EnableKey be
 * sent again as DisableKey with the same body; host and x-amz-date are what AWS requires.
 */
const REQUIRED_SIGNED_HEADERS = ['host', 'x-amz-date', 'x-amz-target'];

type SmithyRequest = Parameters<typeof getCanonicalHeaders>[0];
type Query = NonNullable<SmithyRequest['query']>;

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
  /** As sent: lower-case names, sorted, `;`-separated (checked). */
  signedHeaders: string;
  signature: string;
}

/** A signing key derived for one credential secret: valid only while the lookup returns that very buffer. */
interface CachedSigningKey {
  secretKey: Buffer;
  signingKey: Buffer;
}

// Credentials reload with new secret buffers (and zero the old), so an entry made from an old
// buffer is never used again: see signingKeyFor.
const signingKeys = new LruCache<string, CachedSigningKey>(SIGNING_KEY_CACHE_SIZE, (entry) => entry.signingKey.fill(0));

/**
 * Checks an AWS SigV4-signed request (service `kms`); returns who it acts as.
 *
 * Pass `req.headersDistinct` (or the like) as the headers: node's `req.headers` joins or drops
 * a repeated header, and a repeated signed header is refused here.
 *
 * @throws MissingAuthenticationTokenException no Authorization header (query-string signing,
 *   `X-Amz-Signature`, is not supported and answers this too)
 * @throws IncompleteSignatureException a garbled Authorization or X-Amz-Date, a required header
 *   not signed or a signed one missing or repeated, or an unsigned payload
 * @throws UnrecognizedClientException an unknown access key id, or a session token
 * @throws InvalidSignatureException a wrong signature, scope or body hash, or a date more than
 *   `maxSkewSeconds` from `now` ("Signature expired: ...")
 */
export function verifySigV4Request(req: SignedRequest, options: SigV4Options): Principal {
  const parsed = parseSigV4Request(req);
  checkFreshness(parsed.amzDate, parsed.requestDate, options);
  checkScope(parsed.auth, parsed.amzDate, options.region);
  const payloadHash = payloadHashOf(req.body, parsed.declaredPayloadHash);
  /* Precondition: the path is `/`, the only one the AWS KMS API uses. */
  if (parsed.request.path !== '/') throw new InvalidSignatureException('Keyhold verifies AWS signatures on requests to the path / only');

  const credential = options.lookupCredential(parsed.auth.accessKeyId);
  if (!credential) throw new UnrecognizedClientException('The security token included in the request is invalid.');

  const expected = expectedSignature(parsed, payloadHash, credential.secretKey);
  // Both are 32 bytes: the presented signature is 64 hex characters (checked in parseAuthorization).
  if (!timingSafeEqual(Buffer.from(parsed.auth.signature, 'hex'), expected)) {
    throw new InvalidSignatureException(
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your AWS Secret Access Key and signing method.',
    );
  }
  return credential.principal;
}

/** The parts of a request SigV4 signs, found and checked for shape (nothing compared yet). */
interface ParsedSigV4Request {
  auth: ParsedAuthorization;
  amzDate: string;
  requestDate: Date;
  declaredPayloadHash: string | undefined;
  /** Method, path, query and the signed headers, as smithy canonicalises them. */
  request: SmithyRequest;
}

/**
 * Finds the Authorization, X-Amz-Date and signed headers and checks their shape: everything a
 * client got wrong in the form of its request, before any date, scope or secret is compared.
 */
function parseSigV4Request(req: SignedRequest): ParsedSigV4Request {
  const headers = headersByName(req.headers);
  const queryStart = req.pathWithQuery.indexOf('?');
  const path = queryStart === -1 ? req.pathWithQuery : req.pathWithQuery.slice(0, queryStart);
  const queryString = queryStart === -1 ? '' : req.pathWithQuery.slice(queryStart + 1);
  /* Precondition: no header SigV4 reads is repeated. */
  for (const name of COVERED_HEADERS) onlyValue(headers, name);

  const authorization = onlyValue(headers, 'authorization');
  if (!authorization) throw missingAuthenticationToken(queryString);
  if (headers.has('x-amz-security-token')) {
    throw new UnrecognizedClientException(
      'Temporary credentials (X-Amz-Security-Token) are not supported by Keyhold; sign with a Keyhold access key',
    );
  }
  const query = parseQuery(queryString);
  if (namesQuerySignature(query)) {
    throw new IncompleteSignatureException(
      'Query-string signing (X-Amz-Signature) is not supported by Keyhold; sign with the Authorization header only',
    );
  }
  const auth = parseAuthorization(authorization);
  const amzDate = onlyValue(headers, 'x-amz-date');
  if (amzDate === undefined) throw new IncompleteSignatureException("Authorization header requires existence of a 'X-Amz-Date' header.");
  const requestDate = parseAmzDate(amzDate);
  if (!requestDate) throw new IncompleteSignatureException('X-Amz-Date must be a date such as 20150830T123600Z');
  const signedHeaders = signedHeaderValues(auth.signedHeaders, headers);
  const declaredPayloadHash = onlyValue(headers, 'x-amz-content-sha256');
  if (declaredPayloadHash !== undefined) refuseUnsignedPayload(declaredPayloadHash);
  const request: SmithyRequest = { method: req.method, protocol: 'https:', hostname: '', path, query, headers: signedHeaders };
  return { auth, amzDate, requestDate, declaredPayloadHash, request };
}

/** HMAC of the string to sign (algorithm, X-Amz-Date, scope, hash of the canonical request). */
function expectedSignature(parsed: ParsedSigV4Request, payloadHash: string, secretKey: Buffer): Buffer {
  const { auth } = parsed;
  const canonicalRequest = canonicalRequestOf(parsed.request, auth.signedHeaders, payloadHash);
  const scope = `${auth.scopeDate}/${auth.region}/${SERVICE}/${TERMINATOR}`;
  const stringToSign = `${ALGORITHM}\n${parsed.amzDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
  const signingKey = signingKeyFor(auth.accessKeyId, auth.scopeDate, auth.region, secretKey);
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
}

/** The X-Amz-Date of a request as a Date (for the replay memory's expiry), or undefined. */
export function amzDateOf(headers: RequestHeaders): Date | undefined {
  const values = headersByName(headers).get('x-amz-date');
  if (values?.length !== 1) return undefined;
  return parseAmzDate(values[0]!);
}

/** Every header's values by lower-case name; a name sent in two spellings collects both. */
function headersByName(headers: RequestHeaders): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lowerName = name.toLowerCase();
    const values = byName.get(lowerName);
    if (values) values.push(...(Array.isArray(value) ? value : [value]));
    else byName.set(lowerName, Array.isArray(value) ? [...value] : [value]);
  }
  return byName;
}

/** A header's one value, or undefined when absent; sent twice, it is refused. */
function onlyValue(headers: Map<string, string[]>, name: string): string | undefined {
  const values = headers.get(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw new IncompleteSignatureException(`The ${name} header must appear once`);
  return values[0];
}

/**
 * The query string in the shape smithy canonicalises: decoded names and values, a repeated name
 * as an array, a name without `=` as an empty value (as SigV4 specifies). `+` stays `+`: SigV4
 * clients encode a space as %20.
 */
function parseQuery(queryString: string): Query {
  // No prototype: a parameter named __proto__ is a parameter like any other.
  const query: Record<string, string | string[]> = Object.create(null);
  for (const pair of queryString.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeQueryPart(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decodeQueryPart(pair.slice(equals + 1));
    const previous = query[name];
    if (previous === undefined) query[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[name] = [previous, value];
  }
  return query;
}

function decodeQueryPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidSignatureException('The query string is not valid percent-encoding');
  }
}

function namesQuerySignature(query: Query): boolean {
  return Object.keys(query).some((name) => name.toLowerCase() === 'x-amz-signature');
}

/**
 * What AWS answers an unsigned request; a presigned URL is told why it is not enough. The raw
 * query is searched: an unsigned request is refused as such even if its query is garbled.
 */
function missingAuthenticationToken(queryString: string): Error {
  if (/(?:^|&)x-amz-signature(?:[=&]|$)/i.test(queryString)) {
    return new MissingAuthenticationTokenException(
      'Missing Authentication Token: query-string signing (X-Amz-Signature) is not supported by Keyhold; sign with the Authorization header',
    );
  }
  return new MissingAuthenticationTokenException('Missing Authentication Token');
}

/**
 * `AWS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/<service>/<terminator>,
 * SignedHeaders=<a;b>, Signature=<64 hex>`: each part once, in any order, spaces optional.
 */
function parseAuthorization(authorization: string): ParsedAuthorization {
  const prefix = AUTHORIZATION_PREFIX.exec(authorization);
  if (!prefix) throw new IncompleteSignatureException(`Unsupported Authorization header; Keyhold accepts ${ALGORITHM} signatures`);
  const parts = new Map<string, string>();
  for (const part of authorization.slice(prefix[0].length).split(',')) {
    const trimmed = part.replace(/^ +| +$/g, '');
    const equals = trimmed.indexOf('=');
    const name = trimmed.slice(0, equals);
    if (equals === -1 || !['Credential', 'SignedHeaders', 'Signature'].includes(name) || parts.has(name)) {
      throw new IncompleteSignatureException(
        `Malformed Authorization header; expected "${ALGORITHM} Credential=..., SignedHeaders=..., Signature=..."`,
      );
    }
    parts.set(name, trimmed.slice(equals + 1));
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!parts.has(name)) throw new IncompleteSignatureException(`Authorization header requires '${name}' parameter.`);
  }
  const credential = CREDENTIAL_PATTERN.exec(parts.get('Credential')!);
  if (!credential) {
    throw new IncompleteSignatureException(
      `Credential must be <AccessKeyId>/<yyyymmdd>/<region>/${SERVICE}/${TERMINATOR}`,
    );
  }
  const signedHeaders = parts.get('SignedHeaders')!;
  if (!SIGNED_HEADERS_PATTERN.test(signedHeaders)) {
    throw new IncompleteSignatureException("SignedHeaders must be lower-case header names separated by ';'");
  }
  const signature = parts.get('Signature')!;
  if (!SIGNATURE_PATTERN.test(signature)) throw new IncompleteSignatureException('Signature must be 64 lower-case hex characters');
  return {
    accessKeyId: credential[1]!,
    scopeDate: credential[2]!,
    region: credential[3]!,
    service: credential[4]!,
    terminator: credential[5]!,
    signedHeaders,
    signature,
  };
}

/**
 * The values of the signed headers by name, checked: sorted and each once (one spelling of
 * the list), host, x-amz-date and x-amz-target among them, and each present exactly once.
 */
function signedHeaderValues(signedHeaderList: string, headers: Map<string, string[]>): Record<string, string> {
  const names = signedHeaderList.split(';');
  for (let i = 1; i < names.length; i++) {
    if (!(names[i - 1]! < names[i]!)) throw new IncompleteSignatureException('SignedHeaders must be sorted, each name once');
  }
  if (names.includes('authorization')) throw new IncompleteSignatureException('SignedHeaders cannot include authorization');
  for (const required of REQUIRED_SIGNED_HEADERS) {
    if (!names.includes(required)) {
      throw new IncompleteSignatureException(`'${required}' must be a 'SignedHeader' in the AWS Authorization.`);
    }
  }
  const values: Record<string, string> = Object.create(null);
  for (const name of names) {
    const value = onlyValue(headers, name);
    if (value === undefined) throw new IncompleteSignatureException(`SignedHeaders names ${name}, which the request does not have`);
    values[name] = value;
  }
  return values;
}

/**
 * Refused as incomplete rather than invalid: nothing is wrong with such a signature, but it
 * does not cover the body, and Keyhold acts only on bodies the signature covers (an unsigned
 * body could be swapped under a captured signature). The client can fix it by signing the body.
 */
function refuseUnsignedPayload(declared: string): void {
  if (declared === 'UNSIGNED-PAYLOAD' || declared.startsWith('STREAMING-')) {
    throw new IncompleteSignatureException(
      'Keyhold needs a signed payload: X-Amz-Content-Sha256 must be the SHA-256 of the body, not UNSIGNED-PAYLOAD or STREAMING-*',
    );
  }
}

/**
 * The payload hash of the canonical request: always computed from the body received. A
 * declared X-Amz-Content-Sha256 must be that hash; it is then signed as sent, as clients do.
 */
function payloadHashOf(body: Buffer, declared: string | undefined): string {
  // One-shot hash (node ≥ 20.12), lower-case hex.
  const computed = hash('sha256', body, 'hex');
  if (declared === undefined) return computed;
  if (declared.toLowerCase() !== computed) {
    throw new InvalidSignatureException('The request body does not match X-Amz-Content-Sha256');
  }
  return declared;
}

/** Parses `yyyymmddThhmmssZ`, refusing impossible fields ("0231") rather than rolling them over. */
function parseAmzDate(value: string): Date | undefined {
  const fields = AMZ_DATE_PATTERN.exec(value);
  if (!fields) return undefined;
  const [year, month, day, hour, minute, second] = fields.slice(1).map(Number) as [number, number, number, number, number, number];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date;
}

/** A Date as X-Amz-Date writes it. */
function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Precondition: the request date is within maxSkewSeconds of the server clock, either way.
 * Both ways start "Signature expired:" (AWS words the future case "Signature not yet current"):
 * the AWS SDK for JavaScript retries an InvalidSignatureException whose message has "Signature
 * expired" in it, after correcting its clock from the response's Date header.
 */
function checkFreshness(amzDate: string, requestDate: Date, options: SigV4Options): void {
  const maxSkewSeconds = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const skewMs = options.now.getTime() - requestDate.getTime();
  if (Math.abs(skewMs) <= maxSkewSeconds * 1000) return;
  const window = maxSkewSeconds % 60 === 0 ? `${maxSkewSeconds / 60} min.` : `${maxSkewSeconds} s`;
  const now = formatAmzDate(options.now);
  const early = skewMs > 0;
  const bound = formatAmzDate(new Date(options.now.getTime() + (early ? -1 : 1) * maxSkewSeconds * 1000));
  throw new InvalidSignatureException(
    early
      ? `Signature expired: ${amzDate} is now earlier than ${bound} (${now} - ${window})`
      : `Signature expired: ${amzDate} is now later than ${bound} (${now} + ${window})`,
  );
}

/** The credential scope names the request's day, this server's region, kms and aws4_request. */
function checkScope(auth: ParsedAuthorization, amzDate: string, region: string): void {
  if (auth.scopeDate !== amzDate.slice(0, 8)) {
    throw new InvalidSignatureException(
      `Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '${auth.scopeDate}' != '${amzDate.slice(0, 8)}'`,
    );
  }
  if (auth.region !== region) {
    throw new InvalidSignatureException(
      `Credential should be scoped to a valid region, not '${auth.region}'; this Keyhold answers for '${region}'.`,
    );
  }
  if (auth.service !== SERVICE) throw new InvalidSignatureException(`Credential should be scoped to correct service: '${SERVICE}'.`);
  if (auth.terminator !== TERMINATOR) {
    throw new InvalidSignatureException(
      `Credential should be scoped with a valid terminator: '${TERMINATOR}', not '${auth.terminator}'.`,
    );
  }
}

/**
 * METHOD, canonical URI, canonical query, canonical headers, signed header list, payload hash.
 * The path is `/` (checked), whose canonical URI is itself.
 */
function canonicalRequestOf(request: SmithyRequest, signedHeaderList: string, payloadHash: string): string {
  // Every signed header is passed as signable, so smithy drops none of them (it would drop
  // e.g. user-agent otherwise); the list is sorted already (checked), as smithy sorts.
  const names = signedHeaderList.split(';');
  const canonical = getCanonicalHeaders(request, undefined, new Set(names));
  const headerLines = names.map((name) => `${name}:${canonical[name]}\n`).join('');
  return `${request.method}\n${request.path}\n${getCanonicalQuery(request)}\n${headerLines}\n${signedHeaderList}\n${payloadHash}`;
}

/**
 * The SigV4 signing key for a credential, day and region, cached: a request costs one HMAC
 * instead of five. An entry is used only with the very secret buffer it was made from.
 */
function signingKeyFor(accessKeyId: string, scopeDate: string, region: string, secretKey: Buffer): Buffer {
  const cacheKey = `${accessKeyId}/${scopeDate}/${region}`;
  const cached = signingKeys.get(cacheKey);
  if (cached?.secretKey === secretKey) return cached.signingKey;
  const seed = awsSecretSeed(secretKey);
  let key = createHmac('sha256', seed).update(scopeDate, 'utf8').digest();
  seed.fill(0);
  for (const part of [region, SERVICE, TERMINATOR]) key = createHmac('sha256', key).update(part, 'utf8').digest();
  signingKeys.set(cacheKey, { secretKey, signingKey: key });
  return key;
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * `"AWS4" + base64(secret)` as bytes, the HMAC key SigV4 starts from. Encoded by hand into a
 * Buffer, which the caller zeroes: `toString('base64')` would leave the secret in a string.
 */
function awsSecretSeed(secretKey: Buffer): Buffer {
  const seed = Buffer.alloc(4 + Math.ceil(secretKey.length / 3) * 4, '=');
  seed.write('AWS4', 0, 'latin1');
  let at = 4;
  for (let i = 0; i < secretKey.length; i += 3) {
    const remaining = secretKey.length - i;
    const triple = (secretKey[i]! << 16) | ((secretKey[i + 1] ?? 0) << 8) | (secretKey[i + 2] ?? 0);
    seed[at] = BASE64_ALPHABET.charCodeAt((triple >> 18) & 63);
    seed[at + 1] = BASE64_ALPHABET.charCodeAt((triple >> 12) & 63);
    if (remaining > 1) seed[at + 2] = BASE64_ALPHABET.charCodeAt((triple >> 6) & 63);
    if (remaining > 2) seed[at + 3] = BASE64_ALPHABET.charCodeAt(triple & 63);
    at += 4;
  }
  return seed;
}
