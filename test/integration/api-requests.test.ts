import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import request from 'supertest';
import { actions } from '../../src/api/actions/index.js';
import { formatKmsDate, signRequest } from '../../src/protocol/signing.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { rememberSecret } from '../helpers/secrets.js';

const GO_KMS_KEY = 'go-kms shared auth key for tests';

describe('API requests (auth, limits, routing, robustness)', () => {
  let h: Harness;
  let keyId: string;

  before(async () => {
    rememberSecret(GO_KMS_KEY);
    h = await openHarness({ goKmsAuthKey: GO_KMS_KEY });
    keyId = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
  });
  after(async () => {
    await h.close();
  });

  describe('GET /healthz and GET /readyz', () => {
    it('answers {"status":"ok"} without a signature', async () => {
      for (const path of ['/healthz', '/readyz']) {
        const res = await request(h.app).get(path).expect(200);
        expect(res.body).to.deep.equal({ status: 'ok' });
      }
    });

    it('answers 503 once the store is down, and so do actions (ServiceUnavailableException)', async () => {
      const down = await openHarness();
      await down.store.close();
      for (const path of ['/healthz', '/readyz']) {
        const res = await request(down.app).get(path).expect(503);
        expect(res.body).to.deep.equal({ status: 'unavailable' });
      }
      const action = await down.call('createkey', {}).expect(503);
      expect(action.body.__type).to.equal('ServiceUnavailableException');
      await down.close();
    });
  });

  describe('every response', () => {
    it('carries an X-Request-Id, errors included, and security headers from helmet', async () => {
      const ok = await h.call('generaterandom', { NumberOfBytes: 1 }).expect(200);
      const bad = await request(h.app).post('/api/v1/kms/encrypt').send('{}').expect(401);
      for (const res of [ok, bad]) expect(res.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
      expect(ok.headers['x-request-id']).to.not.equal(bad.headers['x-request-id']);
      expect(ok.headers['x-content-type-options']).to.equal('nosniff');
      expect(ok.headers).to.not.have.property('x-powered-by');
    });
  });

  describe('signatures', () => {
    const path = '/api/v1/kms/generaterandom';
    const body = JSON.stringify({ NumberOfBytes: 8 });

    function signed(overrides: { now?: Date; accessKeyId?: string; secretKey?: Buffer } = {}) {
      return signRequest({
        method: 'POST',
        pathWithQuery: path,
        body: Buffer.from(body),
        accessKeyId: overrides.accessKeyId ?? h.credential.accessKeyId,
        secretKey: overrides.secretKey ?? h.credential.secretKey,
        now: overrides.now ?? new Date(),
      });
    }

    async function expect401(headers: Record<string, string>, type: string, sentBody = body) {
      const res = await request(h.app).post(path).set(headers).send(sentBody).expect(401);
      expect(res.body.__type).to.equal(type);
      return res;
    }

    it('accepts a correctly signed request', async () => {
      await request(h.app).post(path).set(signed()).send(body).expect(200);
    });

    it('refuses a request without Authorization as UnrecognizedClientException', async () => {
      const { Authorization: _removed, ...headers } = signed();
      await expect401(headers, 'UnrecognizedClientException');
    });

    it('refuses an unknown credential and a garbled header as UnrecognizedClientException', async () => {
      await expect401(signed({ accessKeyId: 'KHNOSUCHKEY000000000' }), 'UnrecognizedClientException');
      await expect401({ ...signed(), Authorization: 'KMS-HMAC-SHA256 nonsense' }, 'UnrecognizedClientException');
      await expect401({ ...signed(), 'X-Kms-Date': 'yesterday' }, 'UnrecognizedClientException');
    });

    it('refuses a stale or future date as RequestExpired', async () => {
      // 310 s, not 301: the header carries whole seconds, so "now + 301 s" truncated can be only
      // 300.001 s ahead, and a few ms later the request is inside the window (a CI run answered 200).
      await expect401(signed({ now: new Date(Date.now() - 310_000) }), 'RequestExpired');
      await expect401(signed({ now: new Date(Date.now() + 310_000) }), 'RequestExpired');
    });

    it('refuses a wrong signature as InvalidSignatureException', async () => {
      await expect401(signed({ secretKey: randomBytes(32) }), 'InvalidSignatureException');
    });

    it('refuses a replayed signature with a modified body as InvalidSignatureException', async () => {
      const res = await expect401(signed(), 'InvalidSignatureException', JSON.stringify({ NumberOfBytes: 9 }));
      expect(res.body.message).to.not.contain(h.credential.secretKey.toString('base64'));
    });

    it('refuses a signature made for another path', async () => {
      const headers = signed();
      const res = await request(h.app).post('/api/v1/kms/generaterandom?x=1').set(headers).send(body).expect(401);
      expect(res.body.__type).to.equal('InvalidSignatureException');
    });

    it("accepts go-kms's legacy scheme with KEYHOLD_GOKMS_AUTH_KEY, and refuses a wrong key", async () => {
      const date = formatKmsDate(new Date()).replace('GMT', 'UTC');
      const legacyPath = '/api/v1/go-kms/encrypt';
      const legacy = (key: string) => createHmac('sha256', Buffer.from(key)).update(`POST\n${date}\n${legacyPath}`).digest('base64');
      const payload = JSON.stringify({ KeyID: keyId, Plaintext: Buffer.from('go').toString('base64') });
      await request(h.app).post(legacyPath).set({ Authorization: legacy(GO_KMS_KEY), 'x-kms-date': date }).send(payload).expect(200);
      const res = await request(h.app).post(legacyPath).set({ Authorization: legacy('wrong key wrong key'), 'x-kms-date': date }).send(payload).expect(401);
      expect(res.body.__type).to.equal('InvalidSignatureException');
    });

    it('accepts the legacy scheme on the go-kms prefix only', async () => {
      const date = formatKmsDate(new Date());
      const canonicalPath = '/api/v1/kms/generaterandom';
      const signature = createHmac('sha256', Buffer.from(GO_KMS_KEY)).update(`POST\n${date}\n${canonicalPath}`).digest('base64');
      const res = await request(h.app).post(canonicalPath).set({ Authorization: signature, 'x-kms-date': date }).send('{"NumberOfBytes":4}').expect(401);
      expect(res.body.__type).to.equal('UnrecognizedClientException');
    });
  });

  describe('routing and bodies', () => {
    it('answers UnknownOperationException for an unknown action, after authentication', async () => {
      expect((await h.call('launchmissiles', {}).expect(400)).body.__type).to.equal('UnknownOperationException');
      const anonymous = await request(h.app).post('/api/v1/kms/launchmissiles').send('{}').expect(401);
      expect(anonymous.body.__type).to.equal('UnrecognizedClientException');
    });

    it('answers 404 NotFoundException JSON for a path that is no route', async () => {
      const res = await request(h.app).get('/api/v1/kms/encrypt').expect(404);
      expect(res.body.__type).to.equal('NotFoundException');
    });

    it('answers 413 RequestEntityTooLarge for a body over 64 KiB', async () => {
      const big = JSON.stringify({ KeyId: keyId, Plaintext: 'A'.repeat(70_000) });
      const res = await h.call('encrypt', big).expect(413);
      expect(res.body.__type).to.equal('RequestEntityTooLarge');
    });

    it('refuses invalid JSON and bodies that are not objects as ValidationException', async () => {
      for (const body of ['{', 'null', '[]', '"text"', '42', 'true', '{"KeyId":}']) {
        const res = await h.call('describekey', body).expect(400);
        expect(res.body.__type, body).to.equal('ValidationException');
      }
    });

    it('treats an empty body as an empty request', async () => {
      await h.call('listkeys', '').expect(200);
    });
  });

  describe('any input', function () {
    this.timeout(120_000);

    const actionNames = [...actions.keys()];
    // Replaced by a real key id at run time, so actions also get exercised on an existing key.
    const keyIdPlaceholder = '@key';
    // Replaced by a key of Origin EXTERNAL, for the import actions.
    const externalPlaceholder = '@external';
    const jsonValue = fc.jsonValue({ maxDepth: 3 });
    const fieldNames = fc.constantFrom(
      'KeyId', 'keyid', 'Plaintext', 'CiphertextBlob', 'EncryptionContext', 'NumberOfBytes', 'KeySpec',
      'Limit', 'Marker', 'DestinationKeyId', 'SourceEncryptionContext', 'PendingWindowInDays', 'Tags', 'Description',
      'AliasName', 'TargetKeyId', 'TagKeys', 'RotationPeriodInDays', 'SourceKeyId',
      'KeyPairSpec', 'Recipient',
      'Message', 'Mac', 'MacAlgorithm', 'KeyUsage',
      'Origin', 'WrappingAlgorithm', 'WrappingKeySpec', 'ImportToken', 'EncryptedKeyMaterial', 'ExpirationModel', 'ValidTo',
      'ImportType', 'KeyMaterialId', 'Items',
    );
    const plausibleValue = fc.oneof(
      jsonValue,
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64')),
      fc.constant(randomUUID()),
      fc.constant(keyIdPlaceholder),
      fc.constantFrom('alias/fuzz', 'alias/keyhold/x', 'keyhold:alias/fuzz', 'alias/'),
      fc.array(fc.record({ TagKey: fc.string({ maxLength: 140 }), TagValue: fc.string({ maxLength: 300 }) }), { maxLength: 60 }),
      fc.integer({ min: -5, max: 5000 }),
      // RSA_4096 would cost a second a run; SM2 is AWS's but not Keyhold's.
      fc.constantFrom('ECC_NIST_P256', 'ECC_SECG_P256K1', 'RSA_2048', 'SM2'),
      fc.constantFrom('HMAC_256', 'HMAC_SHA_256', 'HMAC_SHA_512', 'GENERATE_VERIFY_MAC'),
      fc.constant(externalPlaceholder),
      fc.constantFrom('EXTERNAL', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_2048', 'KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE', 'NEW_KEY_MATERIAL'),
    );

    it('answers every action with success or a typed 4xx JSON error, never a 500 (random JSON bodies)', async () => {
      // Its own key: the random actions may disable it or schedule it for deletion.
      const fuzzKeyId = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
      const externalKeyId = (await h.call('createkey', { Origin: 'EXTERNAL' }).expect(200)).body.KeyMetadata.KeyId;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...actionNames), fc.dictionary(fieldNames, plausibleValue, { maxKeys: 5 }), async (action, generated) => {
          const keyFor = (value: unknown) => (value === keyIdPlaceholder ? fuzzKeyId : value === externalPlaceholder ? externalKeyId : value);
          const body = Object.fromEntries(Object.entries(generated).map(([name, value]) => [name, keyFor(value)]));
          const res = await h.call(action, body);
          expect(res.status, JSON.stringify({ action, body, response: res.body })).to.be.oneOf([200, 400, 404]);
          if (res.status !== 200) expect(res.body.__type).to.be.a('string');
        }),
        { numRuns: 600 },
      );
    });

    it('answers generatemac and verifymac on a real HMAC key with success or a typed 4xx, never a 500 (random JSON bodies)', async () => {
      const macKeyId = (await h.call('createkey', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }).expect(200)).body.KeyMetadata.KeyId;
      const macValue = fc.oneof(plausibleValue, fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('base64')));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('generatemac', 'verifymac'), fc.dictionary(fieldNames, macValue, { maxKeys: 5 }), fc.boolean(), async (action, generated, named) => {
          const body = Object.fromEntries(Object.entries(generated).map(([name, value]) => [name, value === keyIdPlaceholder ? macKeyId : value]));
          if (named) body.KeyId = macKeyId;
          const res = await h.call(action, body);
          expect(res.status, JSON.stringify({ action, body, response: res.body })).to.be.oneOf([200, 400, 404]);
          if (res.status !== 200) expect(res.body.__type).to.be.a('string');
        }),
        { numRuns: 300 },
      );
    });

    it('answers every action with a typed 4xx for random bytes, never a 500', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...actionNames), fc.uint8Array({ maxLength: 300 }), async (action, bytes) => {
          const res = await h.call(action, Buffer.from(bytes));
          expect(res.status).to.be.oneOf([200, 400]);
          if (res.status !== 200) expect(res.body.__type).to.be.a('string');
        }),
        { numRuns: 200 },
      );
    });

    it('answers decrypt of random blobs, and of mutations of a real blob, with a typed 4xx', async () => {
      const blob = Buffer.from((await h.call('encrypt', { KeyId: keyId, Plaintext: 'aGVsbG8=' }).expect(200)).body.CiphertextBlob, 'base64');
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.boolean(), async (noise, position, mutate) => {
          const candidate = mutate ? Buffer.from(blob) : Buffer.from(noise);
          if (mutate) candidate[position % candidate.length]! ^= noise[0]! | 1;
          const res = await h.call('decrypt', { CiphertextBlob: candidate.toString('base64') });
          expect(res.status).to.be.oneOf([400, 404]);
          expect(res.body.__type).to.be.oneOf(['InvalidCiphertextException', 'NotFoundException']);
        }),
        { numRuns: 300 },
      );
    });
  });
});
