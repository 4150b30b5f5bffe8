import { createHash, createHmac } from 'node:crypto';
import { expect } from 'chai';
import { verifyRequestSignature, type SignedRequest, type VerifyOptions } from '../../src/auth/verify-signature.js';
import type { Principal } from '../../src/auth/principal.js';
import { AUTH_SCHEME, formatKmsDate, sha256Hex, signRequest, stringToSign } from '../../src/protocol/signing.js';
import { KmsError } from '../../src/errors.js';

// A fixed worked example. The expected values were also computed with Python's hmac module,
// and are recomputed below with node:crypto, apart from the code under test.
const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const ACCESS_KEY_ID = 'KHTESTACCESSKEY';
const PRINCIPAL: Principal = { accessKeyId: ACCESS_KEY_ID, admin: false };
const DATE = 'Wed, 28 Jan 2015 10:42:13 GMT';
const DATE_MS = Date.UTC(2015, 0, 28, 10, 42, 13);
const PATH = '/api/v1/kms/encrypt';
const BODY = Buffer.from('{"KeyId":"8b2c2f3e-4a6f-4d7e-9a1b-2c3d4e5f6a7b","Plaintext":"aGVsbG8="}');
const BODY_SHA256 = '4ed210b2d5a2a9f4a27f65702f334ef625dfa4c3537e7975792d408fc0c87d80';
const SIGNATURE = 'hZ+l22/MQW5a5cAR7X0Q5VZMeTiIITYERuuZ0WzU7cQ=';

const GO_KMS_KEY = Buffer.from('e7yflbeeid26rredmwtbiyzxijzak6altcnrsi4yol2f5sexbgdwevlpgosfoeyy', 'utf8');

function options(overrides: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    lookupCredential: (id) => (id === ACCESS_KEY_ID ? { secretKey: SECRET, principal: PRINCIPAL } : undefined),
    now: new Date(DATE_MS),
    ...overrides,
  };
}

function signedRequest(overrides: Partial<SignedRequest> = {}): SignedRequest {
  return {
    method: 'POST',
    pathWithQuery: PATH,
    headers: {
      'x-kms-date': DATE,
      'x-kms-content-sha256': BODY_SHA256,
      authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`,
    },
    body: BODY,
    ...overrides,
  };
}

function withHeaders(headers: Record<string, string | string[] | undefined>): SignedRequest {
  const request = signedRequest();
  return { ...request, headers: { ...request.headers, ...headers } };
}

function withoutHeader(name: string): SignedRequest {
  const request = signedRequest();
  const headers = { ...request.headers };
  delete headers[name];
  return { ...request, headers };
}

function hmacBase64(key: Buffer, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('base64');
}

function expectRefused(request: SignedRequest, verifyOptions: VerifyOptions, type: string): KmsError {
  return expectRejection(() => verifyRequestSignature(request, verifyOptions), type);
}

/** Asserts a 401 KmsError of the given type whose message leaks neither secret nor signature. */
function expectRejection(run: () => unknown, type: string): KmsError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${type}`).to.be.instanceOf(KmsError);
  const error = caught as KmsError;
  expect(error.type).to.equal(type);
  expect(error.status).to.equal(401);
  for (const secret of [SECRET.toString('base64'), SECRET.toString('hex'), SIGNATURE, GO_KMS_KEY.toString()]) {
    expect(error.message).not.to.include(secret);
  }
  return error;
}

describe('request signing (client)', () => {
  it('reproduces the worked example computed independently with node:crypto', () => {
    const independentHash = createHash('sha256').update(BODY).digest('hex');
    const independentSignature = hmacBase64(SECRET, `POST\n${PATH}\n${DATE}\n${independentHash}`);
    expect(independentHash).to.equal(BODY_SHA256);
    expect(independentSignature).to.equal(SIGNATURE);

    const headers = signRequest({
      method: 'POST',
      pathWithQuery: PATH,
      body: BODY,
      accessKeyId: ACCESS_KEY_ID,
      secretKey: SECRET,
      now: new Date(DATE_MS),
    });
    expect(headers).to.deep.equal({
      'X-Kms-Date': DATE,
      'X-Kms-Content-Sha256': BODY_SHA256,
      Authorization: `${AUTH_SCHEME} Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`,
    });
  });

  it('formats dates as RFC 1123 in GMT', () => {
    expect(formatKmsDate(new Date(DATE_MS))).to.equal(DATE);
  });

  it('builds the string to sign from method, path with query, date and body hash', () => {
    expect(stringToSign('POST', '/a?b=c', DATE, 'ff')).to.equal(`POST\n/a?b=c\n${DATE}\nff`);
    expect(sha256Hex(new Uint8Array())).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('verifyRequestSignature', () => {
  it('accepts the worked example and returns the credential principal', () => {
    expect(verifyRequestSignature(signedRequest(), options())).to.deep.equal(PRINCIPAL);
  });

  it('accepts a request signed by signRequest at the current time', () => {
    const now = new Date();
    const headers = signRequest({
      method: 'POST',
      pathWithQuery: '/api/v1/kms/listkeys?x=1',
      body: BODY,
      accessKeyId: ACCESS_KEY_ID,
      secretKey: SECRET,
      now,
    });
    const lowerCased = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const principal = verifyRequestSignature(
      { method: 'POST', pathWithQuery: '/api/v1/kms/listkeys?x=1', headers: lowerCased, body: BODY },
      options({ now }),
    );
    expect(principal).to.deep.equal(PRINCIPAL);
  });

  it('matches header names case-insensitively', () => {
    const request = signedRequest({
      headers: {
        'X-KMS-DATE': DATE,
        'X-Kms-Content-Sha256': BODY_SHA256,
        AUTHORIZATION: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`,
      },
    });
    expect(verifyRequestSignature(request, options())).to.deep.equal(PRINCIPAL);
  });

  it('accepts a date in UTC, signed exactly as sent', () => {
    const date = 'Wed, 28 Jan 2015 10:42:13 UTC';
    const signature = hmacBase64(SECRET, `POST\n${PATH}\n${date}\n${BODY_SHA256}`);
    const request = withHeaders({
      'x-kms-date': date,
      authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${signature}`,
    });
    expect(verifyRequestSignature(request, options())).to.deep.equal(PRINCIPAL);
    // The GMT signature does not cover the UTC spelling.
    expectRefused(withHeaders({ 'x-kms-date': date }), options(), 'InvalidSignatureException');
  });

  it('tolerates no space or several spaces after the comma', () => {
    for (const separator of [',', ',   ']) {
      const request = withHeaders({ authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}${separator}Signature=${SIGNATURE}` });
      expect(verifyRequestSignature(request, options())).to.deep.equal(PRINCIPAL);
    }
  });

  it('accepts an upper-case hex body hash, signed as sent', () => {
    const upper = BODY_SHA256.toUpperCase();
    const signature = hmacBase64(SECRET, `POST\n${PATH}\n${DATE}\n${upper}`);
    const request = withHeaders({
      'x-kms-content-sha256': upper,
      authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${signature}`,
    });
    expect(verifyRequestSignature(request, options())).to.deep.equal(PRINCIPAL);
  });

  describe('refuses, as UnrecognizedClientException', () => {
    it('a request without Authorization', () => {
      expectRefused(withoutHeader('authorization'), options(), 'UnrecognizedClientException');
    });

    for (const [title, authorization] of [
      ['another scheme', `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`],
      ['the scheme in lower case', `kms-hmac-sha256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`],
      ['no Signature', `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}`],
      ['no Credential', `KMS-HMAC-SHA256 Signature=${SIGNATURE}`],
      ['an empty Credential', `KMS-HMAC-SHA256 Credential=, Signature=${SIGNATURE}`],
      ['swapped fields', `KMS-HMAC-SHA256 Signature=${SIGNATURE}, Credential=${ACCESS_KEY_ID}`],
      ['trailing fields', `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}, Extra=1`],
      ['a signature that is not base64', `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=not*base64`],
      ['two spaces after the scheme', `KMS-HMAC-SHA256  Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`],
    ] as const) {
      it(`a garbled Authorization: ${title}`, () => {
        expectRefused(withHeaders({ authorization }), options(), 'UnrecognizedClientException');
      });
    }

    it('a repeated Authorization header', () => {
      const value = `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE}`;
      expectRefused(withHeaders({ authorization: [value, value] }), options(), 'UnrecognizedClientException');
      expectRejection(
        () => verifyRequestSignature(withHeaders({ Authorization: value }), options()),
        'UnrecognizedClientException',
      );
    });

    it('a request without X-Kms-Date', () => {
      expectRefused(withoutHeader('x-kms-date'), options(), 'UnrecognizedClientException');
    });

    for (const date of [
      '2015-01-28T10:42:13Z',
      'Wed, 28 Jan 2015 10:42:13 +0000',
      'Wed, 28 Jan 2015 10:42:13',
      'Wed, 8 Jan 2015 10:42:13 GMT',
      'wed, 28 Jan 2015 10:42:13 GMT',
      'Wed, 28 January 2015 10:42:13 GMT',
      'Wed, 31 Feb 2015 10:42:13 GMT',
      'Wed, 28 Jan 2015 24:42:13 GMT',
      'Wed, 28 Jan 2015 10:42:13 GMT, Wed, 28 Jan 2015 10:42:13 GMT',
      '1422441733',
    ]) {
      it(`an unparseable X-Kms-Date: ${date}`, () => {
        expectRefused(withHeaders({ 'x-kms-date': date }), options(), 'UnrecognizedClientException');
      });
    }

    it('a request without X-Kms-Content-Sha256', () => {
      expectRefused(withoutHeader('x-kms-content-sha256'), options(), 'UnrecognizedClientException');
    });

    for (const hash of [BODY_SHA256.slice(0, 63), `${BODY_SHA256}0`, `${BODY_SHA256.slice(0, 63)}g`, 'UNSIGNED-PAYLOAD']) {
      it(`an X-Kms-Content-Sha256 that is not 64 hex characters: ${hash}`, () => {
        expectRefused(withHeaders({ 'x-kms-content-sha256': hash }), options(), 'UnrecognizedClientException');
      });
    }

    it('an unknown credential', () => {
      const request = withHeaders({ authorization: `KMS-HMAC-SHA256 Credential=KHUNKNOWN, Signature=${SIGNATURE}` });
      const error = expectRefused(request, options(), 'UnrecognizedClientException');
      expect(error.message).not.to.include('KHUNKNOWN');
    });
  });

  describe('freshness', () => {
    for (const seconds of [300, -300]) {
      it(`accepts a date ${seconds} s from the server clock`, () => {
        const now = new Date(DATE_MS + seconds * 1000);
        expect(verifyRequestSignature(signedRequest(), options({ now }))).to.deep.equal(PRINCIPAL);
      });
    }

    for (const seconds of [301, -301]) {
      it(`refuses a date ${seconds} s from the server clock as RequestExpired`, () => {
        const now = new Date(DATE_MS + seconds * 1000);
        expectRefused(signedRequest(), options({ now }), 'RequestExpired');
      });
    }

    it('honours a smaller maxSkewSeconds', () => {
      const now = new Date(DATE_MS + 61_000);
      expectRefused(signedRequest(), options({ now, maxSkewSeconds: 60 }), 'RequestExpired');
    });
  });

  describe('refuses, as InvalidSignatureException', () => {
    it('a wrong signature', () => {
      const wrong = hmacBase64(Buffer.alloc(32, 7), stringToSign('POST', PATH, DATE, BODY_SHA256));
      const request = withHeaders({ authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${wrong}` });
      const error = expectRefused(request, options(), 'InvalidSignatureException');
      expect(error.message).not.to.include(wrong);
    });

    it('a signature of the wrong length', () => {
      const request = withHeaders({ authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${SIGNATURE.slice(0, 20)}` });
      expectRefused(request, options(), 'InvalidSignatureException');
    });

    describe('a signature spelled other than as canonical base64 (decision 16)', () => {
      for (const [title, spelling] of nonCanonicalSpellings(SIGNATURE)) {
        it(title, () => {
          const request = withHeaders({ authorization: `KMS-HMAC-SHA256 Credential=${ACCESS_KEY_ID}, Signature=${spelling}` });
          expectRefused(request, options(), 'InvalidSignatureException');
        });
      }
    });

    it('a replayed request whose body was modified', () => {
      const modified = Buffer.from(BODY.toString().replace('aGVsbG8=', 'Z29vZGJ5ZQ=='));
      expectRefused(signedRequest({ body: modified }), options(), 'InvalidSignatureException');
    });

    it('a replayed request whose body and body hash were both modified', () => {
      const modified = Buffer.from(BODY.toString().replace('aGVsbG8=', 'Z29vZGJ5ZQ=='));
      const request = { ...withHeaders({ 'x-kms-content-sha256': sha256Hex(modified) }), body: modified };
      expectRefused(request, options(), 'InvalidSignatureException');
    });

    it('a replayed request sent to another path, query or method', () => {
      for (const change of [{ pathWithQuery: '/api/v1/kms/decrypt' }, { pathWithQuery: `${PATH}?x=1` }, { method: 'PUT' }]) {
        expectRefused(signedRequest(change), options(), 'InvalidSignatureException');
      }
    });
  });

  describe('go-kms legacy scheme', () => {
    const LEGACY_PATH = '/api/v1/go-kms/listkeys';
    const LEGACY_DATE = 'Wed, 28 Jan 2015 10:42:13 UTC';
    // As go-kms computes it: HMAC-SHA256(authKey, METHOD \n date \n path), base64.
    const legacySignature = hmacBase64(GO_KMS_KEY, `POST\n${LEGACY_DATE}\n${LEGACY_PATH}`);

    function legacyRequest(overrides: Partial<SignedRequest> = {}): SignedRequest {
      return {
        method: 'POST',
        pathWithQuery: LEGACY_PATH,
        headers: { 'x-kms-date': LEGACY_DATE, authorization: legacySignature },
        body: Buffer.from('{}'),
        ...overrides,
      };
    }

    it('reproduces the go-kms signature for a fixed date', () => {
      expect(legacySignature).to.equal('9R9tcue5Qu/vjK8joBstyQM71Kxkb3XHKG9B9yKhngU=');
    });

    it('is accepted when the auth key is configured, as the admin', () => {
      expect(verifyRequestSignature(legacyRequest(), options({ goKmsAuthKey: GO_KMS_KEY }))).to.deep.equal({
        accessKeyId: 'go-kms-legacy',
        admin: true,
      });
    });

    it('signs the path without the query string', () => {
      const request = legacyRequest({ pathWithQuery: `${LEGACY_PATH}?verbose=1` });
      expect(verifyRequestSignature(request, options({ goKmsAuthKey: GO_KMS_KEY })).accessKeyId).to.equal('go-kms-legacy');
    });

    it('is refused as UnrecognizedClientException when no auth key is configured', () => {
      expectRefused(legacyRequest(), options(), 'UnrecognizedClientException');
    });

    it('is refused as InvalidSignatureException under a wrong key', () => {
      const goKmsAuthKey = Buffer.from('another-shared-key', 'utf8');
      expectRefused(legacyRequest(), options({ goKmsAuthKey }), 'InvalidSignatureException');
    });

    it('is refused as InvalidSignatureException for another path', () => {
      const request = legacyRequest({ pathWithQuery: '/api/v1/go-kms/decrypt' });
      expectRefused(request, options({ goKmsAuthKey: GO_KMS_KEY }), 'InvalidSignatureException');
    });

    it('is refused as RequestExpired with a stale date', () => {
      const now = new Date(DATE_MS + 301_000);
      expectRefused(legacyRequest(), options({ goKmsAuthKey: GO_KMS_KEY, now }), 'RequestExpired');
    });

    for (const [title, spelling] of nonCanonicalSpellings(legacySignature)) {
      it(`is refused as InvalidSignatureException with ${title}`, () => {
        const request = legacyRequest({ headers: { 'x-kms-date': LEGACY_DATE, authorization: spelling } });
        expectRefused(request, options({ goKmsAuthKey: GO_KMS_KEY }), 'InvalidSignatureException');
      });
    }

    it('is refused as UnrecognizedClientException without x-kms-date', () => {
      const request = legacyRequest({ headers: { authorization: legacySignature } });
      expectRefused(request, options({ goKmsAuthKey: GO_KMS_KEY }), 'UnrecognizedClientException');
    });
  });
});

/**
 * Other spellings of a canonical 44-character base64 signature that a lenient decoder reads as
 * the same 32 bytes: without its `=`, with a second `=`, and with the last character's two
 * unused bits set.
 */
function nonCanonicalSpellings(signature: string): [string, string][] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(signature[42]!);
  const otherBits = alphabet[last ^ 0b01]!;
  const spellings: [string, string][] = [
    ['an unpadded signature', signature.slice(0, 43)],
    ['a signature with extra padding', `${signature}=`],
    ['a signature with non-zero unused bits', `${signature.slice(0, 42)}${otherBits}=`],
  ];
  // The test is only meaningful if node reads each spelling as the same bytes.
  for (const [, spelling] of spellings) {
    expect(Buffer.from(spelling, 'base64').equals(Buffer.from(signature, 'base64'))).to.equal(true);
  }
  return spellings;
}
