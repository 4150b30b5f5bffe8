import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { expect } from 'chai';
import type { Principal } from '../../src/auth/principal.js';
import { amzDateOf, verifySigV4Request, type SigV4Options } from '../../src/auth/verify-sigv4.js';
import type { CredentialLookup, SignedRequest } from '../../src/auth/verify-signature.js';
import { KmsError } from '../../src/errors.js';
import { NodeSha256 } from '../helpers/aws-sha256.js';

// Requests are signed by the real client signer (@smithy/signature-v4, what @aws-sdk/client-kms
// signs with), and in one test by @aws-sdk/client-kms itself, never by the code under test.
const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const OTHER_SECRET = Buffer.from('1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100', 'hex');
const ACCESS_KEY_ID = 'KHTESTACCESSKEY0AAAA';
const PRINCIPAL: Principal = { accessKeyId: ACCESS_KEY_ID, admin: false };
const REGION = 'us-east-1';
const SIGNING_DATE = new Date('2015-08-30T12:36:00Z');
const BODY = Buffer.from('{"KeyId":"alias/app"}');
const TYPICAL_HEADERS = {
  'content-type': 'application/x-amz-json-1.1',
  host: 'kms.example.test',
  'x-amz-target': 'TrentService.EnableKey',
};
/** What @aws-sdk/client-kms sends (captured from it); user-agent is sent but never signed. */
const SDK_HEADERS = {
  ...TYPICAL_HEADERS,
  'content-length': String(BODY.length),
  'x-amz-user-agent': 'aws-sdk-js/3.1163.0',
  'user-agent': 'aws-sdk-js/3.1163.0 ua/2.1 os/linux lang/js md/nodejs#20.20.2 api/kms#3.1163.0',
  'amz-sdk-invocation-id': '5ed5c08e-4dc6-43c2-8c49-9563c85d5faf',
  'amz-sdk-request': 'attempt=1; max=3',
};
const MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method.';

interface SignOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  query?: Record<string, string | string[]>;
  date?: Date;
  region?: string;
  service?: string;
  secret?: Buffer;
  accessKeyId?: string;
  sessionToken?: string;
  /** false: no X-Amz-Content-Sha256, as botocore signs. */
  applyChecksum?: boolean;
  unsignableHeaders?: string[];
}

function signer(options: SignOptions): SignatureV4 {
  return new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: (options.secret ?? SECRET).toString('base64'),
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    },
    region: options.region ?? REGION,
    service: options.service ?? 'kms',
    sha256: NodeSha256,
    applyChecksum: options.applyChecksum ?? true,
  });
}

function toSign(options: SignOptions) {
  return {
    method: 'POST',
    protocol: 'https:',
    hostname: 'kms.example.test',
    path: '/',
    query: options.query ?? {},
    headers: { ...(options.headers ?? SDK_HEADERS) },
    body: options.body ?? BODY,
  };
}

/** A request as the server receives it, signed by smithy's SigV4 signer. */
async function signed(options: SignOptions = {}): Promise<SignedRequest> {
  const request = await signer(options).sign(toSign(options), {
    signingDate: options.date ?? SIGNING_DATE,
    ...(options.unsignableHeaders ? { unsignableHeaders: new Set(options.unsignableHeaders) } : {}),
  });
  return received(request.headers, request.query as Record<string, string | string[]>, options.body ?? BODY);
}

/** What a node server sees: `headersDistinct`-style lower-case names and value arrays, the raw target. */
function received(headers: Record<string, string>, query: Record<string, string | string[]>, body: Buffer): SignedRequest {
  const distinct: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) distinct[name.toLowerCase()] = [value];
  return { method: 'POST', pathWithQuery: '/' + queryString(query), headers: distinct, body };
}

/** As the AWS SDK puts a query on the wire: RFC 3986 escaping, a repeated name once per value. */
function queryString(query: Record<string, string | string[]>): string {
  const escape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const pairs = Object.entries(query).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((one) => `${escape(name)}=${escape(one)}`),
  );
  return pairs.length === 0 ? '' : '?' + pairs.join('&');
}

function lookup(secretKey: Buffer = SECRET): SigV4Options['lookupCredential'] {
  return (id) => (id === ACCESS_KEY_ID ? { secretKey, principal: PRINCIPAL } : undefined);
}

function options(overrides: Partial<SigV4Options> = {}): SigV4Options {
  return { lookupCredential: lookup(), now: SIGNING_DATE, region: REGION, ...overrides };
}

function withHeaders(request: SignedRequest, headers: Record<string, string | string[] | undefined>): SignedRequest {
  return { ...request, headers: { ...request.headers, ...headers } };
}

function authorizationOf(request: SignedRequest): string {
  return (request.headers.authorization as string[])[0]!;
}

function withAuthorization(request: SignedRequest, authorization: string): SignedRequest {
  return withHeaders(request, { authorization: [authorization] });
}

/** The KmsError `verifySigV4Request` throws, checked for type and status and for leaking no secret. */
function refusal(request: SignedRequest, verifyOptions: SigV4Options, type: string, status: number): KmsError {
  let caught: unknown;
  try {
    verifySigV4Request(request, verifyOptions);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${type}`).to.be.instanceOf(KmsError);
  const error = caught as KmsError;
  expect(error.type, error.message).to.equal(type);
  expect(error.status).to.equal(status);
  for (const secret of [SECRET, OTHER_SECRET]) {
    expect(error.message).not.to.include(secret.toString('base64'));
    expect(error.message).not.to.include(secret.toString('hex'));
  }
  return error;
}

const incomplete = (request: SignedRequest, verifyOptions = options()) => refusal(request, verifyOptions, 'IncompleteSignatureException', 400);
const invalid = (request: SignedRequest, verifyOptions = options()) => refusal(request, verifyOptions, 'InvalidSignatureException', 401);
const unrecognized = (request: SignedRequest, verifyOptions = options()) => refusal(request, verifyOptions, 'UnrecognizedClientException', 401);
const missingToken = (request: SignedRequest, verifyOptions = options()) => refusal(request, verifyOptions, 'MissingAuthenticationTokenException', 400);

describe('verifySigV4Request', () => {
  describe('accepts', () => {
    it('a request signed as @aws-sdk/client-kms signs it (X-Amz-Content-Sha256, amz-sdk-* headers)', async () => {
      const request = await signed();
      expect(authorizationOf(request)).to.include('SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target;x-amz-user-agent,');
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });

    it('a request signed as botocore signs it (content-type;host;x-amz-date;x-amz-target, no content hash)', async () => {
      const request = await signed({ headers: TYPICAL_HEADERS, applyChecksum: false });
      expect(authorizationOf(request)).to.include('SignedHeaders=content-type;host;x-amz-date;x-amz-target,');
      expect(request.headers).not.to.have.property('x-amz-content-sha256');
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });

    it('a query string with odd characters and repeated names', async () => {
      const query = { b: ['z z', 'a+b', 'é/~*'], 'a key': "it's (ok)!", empty: '', 'X-Amz-Note': '=&?%' };
      const request = await signed({ query });
      expect(request.pathWithQuery).to.include('b=z%20z&b=a%2Bb&b=%C3%A9%2F~%2A');
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });

    it('an empty body, and a signed header whose value has runs of spaces', async () => {
      const request = await signed({ body: Buffer.alloc(0), headers: { ...TYPICAL_HEADERS, 'x-keyhold-note': 'a   b \t c' } });
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });

    it('headers in any case, as plain strings (node req.headers style)', async () => {
      const request = await signed();
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name.replace(/^./, (c) => c.toUpperCase()), (value as string[])[0]]),
      );
      expect(headers).to.have.property('X-amz-target');
      expect(verifySigV4Request({ ...request, headers }, options())).to.equal(PRINCIPAL);
    });

    it('X-Amz-Content-Sha256 in upper-case hex, signed as sent', async () => {
      const upper = createHash('sha256').update(BODY).digest('hex').toUpperCase();
      const request = await signed({ headers: { ...TYPICAL_HEADERS, 'x-amz-content-sha256': upper } });
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });

    it('Authorization parts in another order and without spaces', async () => {
      const request = await signed();
      const parts = authorizationOf(request).replace('AWS4-HMAC-SHA256 ', '').split(', ');
      expect(parts).to.have.length(3);
      const reordered = `AWS4-HMAC-SHA256 ${[parts[2], parts[0], parts[1]].join(',')}`;
      expect(verifySigV4Request(withAuthorization(request, reordered), options())).to.equal(PRINCIPAL);
    });

    it('another region when the server is configured for it', async () => {
      const request = await signed({ region: 'eu-west-1' });
      expect(verifySigV4Request(request, options({ region: 'eu-west-1' }))).to.equal(PRINCIPAL);
    });

    for (const minutes of [-4, 4]) {
      it(`a date ${minutes} min from the server clock`, async () => {
        const request = await signed();
        const now = new Date(SIGNING_DATE.getTime() - minutes * 60_000);
        expect(verifySigV4Request(request, options({ now }))).to.equal(PRINCIPAL);
      });
    }
  });

  describe('refuses', () => {
    it('a request signed with another secret (InvalidSignatureException, AWS message, no expected signature)', async () => {
      const good = await signed();
      const request = await signed({ secret: OTHER_SECRET });
      const error = invalid(request);
      expect(error.message).to.equal(MISMATCH_MESSAGE);
      expect(error.message).not.to.include(/Signature=([0-9a-f]{64})/.exec(authorizationOf(good))![1]!);
    });

    it('an unknown access key id (UnrecognizedClientException)', async () => {
      const error = unrecognized(await signed({ accessKeyId: 'KHUNKNOWNACCESSKEY00' }));
      expect(error.message).to.equal('The security token included in the request is invalid.');
    });

    it('a credential scoped to another region', async () => {
      const error = invalid(await signed({ region: 'eu-west-1' }));
      expect(error.message).to.match(/^Credential should be scoped to a valid region/);
    });

    it('a credential scoped to another service', async () => {
      const error = invalid(await signed({ service: 's3' }));
      expect(error.message).to.equal("Credential should be scoped to correct service: 'kms'.");
    });

    it('a credential scoped with another terminator', async () => {
      const request = await signed();
      invalid(withAuthorization(request, authorizationOf(request).replace('/aws4_request,', '/aws5_request,')));
    });

    it("a credential scope date that is not the X-Amz-Date's day", async () => {
      // Signed just before midnight, the date moved just past it: fresh, but another day.
      const request = await signed({ date: new Date('2015-08-30T23:59:00Z') });
      const moved = withHeaders(request, { 'x-amz-date': ['20150831T000100Z'] });
      const error = invalid(moved, options({ now: new Date('2015-08-31T00:00:00Z') }));
      expect(error.message).to.equal("Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '20150830' != '20150831'");
    });

    for (const minutes of [-6, 6]) {
      it(`a date ${minutes} min from the server clock ("Signature expired:")`, async () => {
        const request = await signed();
        const now = new Date(SIGNING_DATE.getTime() - minutes * 60_000);
        const error = invalid(request, options({ now }));
        expect(error.message).to.match(/^Signature expired: 20150830T123600Z is now (earlier|later) than \d{8}T\d{6}Z \(\d{8}T\d{6}Z [-+] 5 min\.\)$/);
      });
    }

    it('a date outside a configured maxSkewSeconds', async () => {
      const request = await signed();
      const now = new Date(SIGNING_DATE.getTime() + 61_000);
      expect(invalid(request, options({ now, maxSkewSeconds: 60 })).message).to.match(/^Signature expired: .* - 1 min\.\)$/);
      expect(verifySigV4Request(request, options({ now: new Date(SIGNING_DATE.getTime() + 59_000), maxSkewSeconds: 60 }))).to.equal(PRINCIPAL);
    });

    it('X-Amz-Target changed after signing (a captured EnableKey sent as DisableKey)', async () => {
      const request = await signed();
      expect(invalid(withHeaders(request, { 'x-amz-target': ['TrentService.DisableKey'] })).message).to.equal(MISMATCH_MESSAGE);
    });

    it('Content-Type changed after signing', async () => {
      const request = await signed({ headers: TYPICAL_HEADERS, applyChecksum: false });
      invalid(withHeaders(request, { 'content-type': ['application/json'] }));
    });

    it('a body changed after signing, with X-Amz-Content-Sha256', async () => {
      const request = await signed();
      const error = invalid({ ...request, body: Buffer.from('{"KeyId":"alias/other"}') });
      expect(error.message).to.equal('The request body does not match X-Amz-Content-Sha256');
    });

    it('a body changed after signing, without X-Amz-Content-Sha256 (botocore)', async () => {
      const request = await signed({ headers: TYPICAL_HEADERS, applyChecksum: false });
      expect(invalid({ ...request, body: Buffer.from('{"KeyId":"alias/other"}') }).message).to.equal(MISMATCH_MESSAGE);
    });

    it('an X-Amz-Content-Sha256 that is not the hash of the body, even though signed', async () => {
      const other = createHash('sha256').update('{}').digest('hex');
      invalid(await signed({ headers: { ...TYPICAL_HEADERS, 'x-amz-content-sha256': other } }));
    });

    for (const unsigned of ['UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']) {
      it(`X-Amz-Content-Sha256: ${unsigned} (IncompleteSignatureException: a signed payload is needed)`, async () => {
        const error = incomplete(await signed({ headers: { ...TYPICAL_HEADERS, 'x-amz-content-sha256': unsigned } }));
        expect(error.message).to.include('Keyhold needs a signed payload');
      });
    }

    for (const header of ['x-amz-target', 'host', 'x-amz-date']) {
      it(`a request that does not sign ${header}`, async () => {
        const request = await signed({ unsignableHeaders: [header] });
        expect(authorizationOf(request)).not.to.match(new RegExp(`[=;]${header}[;,]`));
        expect(incomplete(request).message).to.include(`'${header}'`);
      });
    }

    it('a signed header missing from the request', async () => {
      const request = await signed();
      const headers = { ...request.headers };
      delete headers['amz-sdk-invocation-id'];
      expect(incomplete({ ...request, headers }).message).to.include('amz-sdk-invocation-id');
    });

    it('a missing X-Amz-Date', async () => {
      const request = await signed();
      const headers = { ...request.headers };
      delete headers['x-amz-date'];
      incomplete({ ...request, headers });
    });

    for (const date of ['20150830T123600', '2015-08-30T12:36:00Z', '20150230T123600Z', '20150830T243600Z', '']) {
      it(`a malformed X-Amz-Date ${JSON.stringify(date)}`, async () => {
        incomplete(withHeaders(await signed(), { 'x-amz-date': [date] }));
      });
    }

    it('a repeated X-Amz-Date, as two values or in two spellings', async () => {
      const request = await signed();
      const date = (request.headers['x-amz-date'] as string[])[0]!;
      incomplete(withHeaders(request, { 'x-amz-date': [date, date] }));
      incomplete(withHeaders(request, { 'X-Amz-Date': date }));
    });

    it('a repeated Authorization, X-Amz-Target, X-Amz-Content-Sha256 or signed header', async () => {
      const request = await signed();
      for (const name of ['authorization', 'x-amz-target', 'x-amz-content-sha256', 'content-type', 'host']) {
        const value = (request.headers[name] as string[])[0]!;
        expect(incomplete(withHeaders(request, { [name]: [value, value] })).message).to.include(name);
      }
    });

    it('temporary credentials (X-Amz-Security-Token)', async () => {
      const error = unrecognized(await signed({ sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }));
      expect(error.message).to.equal(
        'Temporary credentials (X-Amz-Security-Token) are not supported by Keyhold; sign with a Keyhold access key',
      );
    });

    it('a request with no Authorization (MissingAuthenticationTokenException)', async () => {
      const request = await signed();
      const headers = { ...request.headers };
      delete headers.authorization;
      expect(missingToken({ ...request, headers }).message).to.equal('Missing Authentication Token');
      expect(missingToken(withAuthorization(request, '')).message).to.equal('Missing Authentication Token');
    });

    it('a presigned request (query-string X-Amz-Signature): MissingAuthenticationTokenException, saying so', async () => {
      const presigned = await signer({}).presign(toSign({ headers: TYPICAL_HEADERS }), { signingDate: SIGNING_DATE });
      const request = received(presigned.headers, presigned.query as Record<string, string>, BODY);
      expect(request.pathWithQuery).to.include('X-Amz-Signature=');
      expect(missingToken(request).message).to.include('X-Amz-Signature');
    });

    it('an X-Amz-Signature query parameter beside the Authorization header', async () => {
      const request = await signed({ query: { 'X-Amz-Signature': 'abc' } });
      expect(incomplete(request).message).to.include('X-Amz-Signature');
    });

    it('a path other than /', async () => {
      invalid({ ...(await signed()), pathWithQuery: '/kms' });
    });

    it('a query string that is not valid percent-encoding', async () => {
      invalid({ ...(await signed()), pathWithQuery: '/?a=%E0%A4%A' });
    });

    describe('a malformed Authorization (IncompleteSignatureException)', () => {
      const variants: Array<[string, (authorization: string) => string]> = [
        ['another algorithm', (a) => a.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')],
        ["Keyhold's native scheme", () => 'KMS-HMAC-SHA256 Credential=KHTESTACCESSKEY0AAAA, Signature=AAAA'],
        ['the algorithm alone', () => 'AWS4-HMAC-SHA256'],
        ['no Signature', (a) => a.replace(/, Signature=[0-9a-f]+$/, '')],
        ['no SignedHeaders', (a) => a.replace(/ SignedHeaders=[^,]+,/, '')],
        ['no Credential', (a) => a.replace(/Credential=[^,]+, /, '')],
        ['a repeated Credential', (a) => a.replace(/(Credential=[^,]+, )/, '$1$1')],
        ['an unknown part', (a) => a + ', Extra=1'],
        ['an empty part', (a) => a.replace(', Signature', ', , Signature')],
        ['an upper-case signature', (a) => a.replace(/Signature=([0-9a-f]+)$/, (_, s: string) => `Signature=${s.toUpperCase()}`)],
        ['a short signature', (a) => a.slice(0, -1)],
        ['a base64 signature', (a) => a.replace(/Signature=[0-9a-f]+$/, 'Signature=' + 'A'.repeat(43) + '=')],
        ['a credential of four parts', (a) => a.replace('/kms/aws4_request', '/kms')],
        ['a credential with six parts', (a) => a.replace('/aws4_request', '/aws4_request/x')],
        ['a credential date that is not 8 digits', (a) => a.replace('/20150830/', '/2015083/')],
        ['an empty access key id', (a) => a.replace(`Credential=${ACCESS_KEY_ID}/`, 'Credential=/')],
        ['unsorted SignedHeaders', (a) => a.replace('content-length;content-type', 'content-type;content-length')],
        ['a repeated SignedHeaders name', (a) => a.replace('content-type;', 'content-type;content-type;')],
        ['upper-case SignedHeaders', (a) => a.replace(';host;', ';Host;')],
        ['SignedHeaders with an empty name', (a) => a.replace(';host;', ';;host;')],
        ['SignedHeaders naming authorization', (a) => a.replace('amz-sdk-request;', 'amz-sdk-request;authorization;')],
      ];
      for (const [name, garble] of variants) {
        it(name, async () => {
          const request = await signed();
          const authorization = garble(authorizationOf(request));
          expect(authorization).not.to.equal(authorizationOf(request));
          incomplete(withAuthorization(request, authorization));
        });
      }
    });
  });

  describe('the signing-key cache', () => {
    it('gives the same answers on repeat', async () => {
      const good = await signed();
      const bad = await signed({ secret: OTHER_SECRET });
      for (let i = 0; i < 3; i++) {
        expect(verifySigV4Request(good, options())).to.equal(PRINCIPAL);
        expect(invalid(bad).message).to.equal(MISMATCH_MESSAGE);
      }
    });

    it('does not accept the old secret once the lookup returns a new buffer', async () => {
      const oldSecret = Buffer.from(SECRET);
      const signedWithOld = await signed({ secret: oldSecret });
      expect(verifySigV4Request(signedWithOld, options({ lookupCredential: lookup(oldSecret) }))).to.equal(PRINCIPAL);

      // A reload: a new buffer with a new secret, the old one zeroed.
      const newSecret = Buffer.from(OTHER_SECRET);
      oldSecret.fill(0);
      const afterReload = options({ lookupCredential: lookup(newSecret) });
      expect(invalid(signedWithOld, afterReload).message).to.equal(MISMATCH_MESSAGE);
      expect(verifySigV4Request(await signed({ secret: OTHER_SECRET }), afterReload)).to.equal(PRINCIPAL);
    });

    it('verifies with a new buffer holding the same secret (a reload that changed nothing)', async () => {
      const request = await signed();
      expect(verifySigV4Request(request, options({ lookupCredential: lookup(Buffer.from(SECRET)) }))).to.equal(PRINCIPAL);
      expect(verifySigV4Request(request, options({ lookupCredential: lookup(Buffer.from(SECRET)) }))).to.equal(PRINCIPAL);
    });

    it('still verifies a credential after a thousand others pushed it out', async () => {
      const request = await signed();
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
      // Any id is known here, with another secret: each wrong signature still derives (and caches) a signing key.
      const anyone: SigV4Options['lookupCredential'] = (id): CredentialLookup => ({ secretKey: OTHER_SECRET, principal: { accessKeyId: id, admin: false } });
      for (let i = 0; i < 1001; i++) {
        const other = withAuthorization(request, authorizationOf(request).replace(ACCESS_KEY_ID, `KHFILLER${String(i).padStart(12, '0')}`));
        invalid(other, options({ lookupCredential: anyone }));
      }
      expect(verifySigV4Request(request, options())).to.equal(PRINCIPAL);
    });
  });
});

describe('amzDateOf', () => {
  it('is the X-Amz-Date as a Date', () => {
    expect(amzDateOf({ 'x-amz-date': ['20150830T123600Z'] })?.toISOString()).to.equal('2015-08-30T12:36:00.000Z');
    expect(amzDateOf({ 'X-Amz-Date': '20150830T123600Z' })?.toISOString()).to.equal('2015-08-30T12:36:00.000Z');
  });

  it('is undefined when the date is missing, repeated or malformed', () => {
    expect(amzDateOf({})).to.equal(undefined);
    expect(amzDateOf({ 'x-amz-date': ['20150830T123600Z', '20150830T123600Z'] })).to.equal(undefined);
    expect(amzDateOf({ 'x-amz-date': '20150830T123600Z', 'X-Amz-Date': '20150830T123600Z' })).to.equal(undefined);
    expect(amzDateOf({ 'x-amz-date': '20150231T123600Z' })).to.equal(undefined);
    expect(amzDateOf({ 'x-amz-date': 'Sun, 30 Aug 2015 12:36:00 GMT' })).to.equal(undefined);
  });
});

describe('verifySigV4Request with @aws-sdk/client-kms over HTTP', () => {
  let server: Server;
  let endpoint: string;
  /** What the server's lookup returns; tests swap it. */
  let serverSecret = SECRET;

  before(async () => {
    // A tiny AWS JSON 1.1 endpoint: verifies, then answers ListKeys or the error as AWS does.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request = { method: req.method!, pathWithQuery: req.url!, headers: req.headersDistinct, body: Buffer.concat(chunks) };
        let status = 200;
        let answer: object = { Keys: [] };
        try {
          verifySigV4Request(request, options({ now: new Date(), lookupCredential: lookup(serverSecret) }));
        } catch (error) {
          if (!(error instanceof KmsError)) throw error;
          status = 400;
          answer = { __type: error.type, message: error.message };
        }
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  afterEach(() => {
    serverSecret = SECRET;
  });

  function client(region = REGION): KMSClient {
    // The SDK warns once about Node 20 in its constructor unless told not to.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    try {
      return new KMSClient({
        region,
        endpoint,
        credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET.toString('base64') },
        maxAttempts: 1,
      });
    } finally {
      delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    }
  }

  async function listKeysError(kms: KMSClient): Promise<{ name: string; message: string }> {
    try {
      await kms.send(new ListKeysCommand({}));
    } catch (error) {
      return error as Error;
    } finally {
      kms.destroy();
    }
    expect.fail('ListKeys should have been refused');
  }

  it('accepts what the real client signs', async () => {
    const kms = client();
    try {
      expect((await kms.send(new ListKeysCommand({}))).Keys).to.deep.equal([]);
    } finally {
      kms.destroy();
    }
  });

  it('refuses it once the server holds another secret', async () => {
    serverSecret = OTHER_SECRET;
    const error = await listKeysError(client());
    expect(error.name).to.equal('InvalidSignatureException');
    expect(error.message).to.equal(MISMATCH_MESSAGE);
  });

  it('refuses a client configured for another region', async () => {
    const error = await listKeysError(client('eu-west-1'));
    expect(error.name).to.equal('InvalidSignatureException');
    expect(error.message).to.match(/^Credential should be scoped to a valid region/);
  });
});
