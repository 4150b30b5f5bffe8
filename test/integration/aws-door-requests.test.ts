import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { expect } from 'chai';
import fc from 'fast-check';
import { actions } from '../../src/api/actions/index.js';
import { AWS_KMS_ACTIONS } from '../../src/api/aws-shapes.js';
import { KeyholdClient } from '../../src/client/index.js';
import { adminAwsCredentials, type AwsCredentials } from '../helpers/aws-clients.js';
import { NodeSha256 } from '../helpers/aws-sha256.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, TEST_WORKERS, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const AWS_JSON = 'application/x-amz-json-1.1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';

interface SignOptions {
  credentials?: AwsCredentials & { sessionToken?: string };
  region?: string;
  service?: string;
  date?: Date;
  contentType?: string;
  /** Headers left out of SignedHeaders (sent all the same). */
  unsigned?: string[];
  /** false: no X-Amz-Content-Sha256, as botocore signs; true (default): with it, as the JavaScript SDK signs. */
  applyChecksum?: boolean;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
}

/**
 * Requests to the AWS door of a real server process over real HTTPS, signed by
 * @smithy/signature-v4 (the signer of the AWS SDK for JavaScript) and then broken: each is
 * answered 400 with its exact AWS error type, an x-amzn-RequestId and AWS JSON, and is in the
 * audit trail under the access key id it claimed. Never a 500, whatever the body.
 */
describe(`the AWS door's answers to hostile and malformed requests (real HTTPS), ${TEST_WORKERS} worker(s)`, function () {
  this.timeout(120_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let native: KeyholdClient;
  let admin: AwsCredentials;
  let agent: https.Agent;
  let keyId: string;

  before(async () => {
    work = makeTempDir('keyhold-aws-requests-');
    const dataDir = path.join(work.path, 'data');
    const passphrase = 'aws door requests passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: passphrase }, work.path);
    admin = adminAwsCredentials(dataDir);
    native = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    agent = new https.Agent({ ca: readFileSync(path.join(dataDir, 'tls-cert.pem')), keepAlive: true });
    keyId = (await native.call('createkey', { Description: 'aws door requests' })).KeyMetadata.KeyId;
  });

  after(async () => {
    agent?.destroy();
    native?.close();
    await server?.stop();
    work?.remove();
  });

  /** The headers @smithy/signature-v4 sends for `POST /` with this target (none: no X-Amz-Target) and body. */
  async function sign(target: string | undefined, body: Buffer, options: SignOptions = {}): Promise<Record<string, string>> {
    const signer = new SignatureV4({
      service: options.service ?? 'kms',
      region: options.region ?? 'us-east-1',
      credentials: options.credentials ?? admin,
      sha256: NodeSha256,
      applyChecksum: options.applyChecksum ?? true,
    });
    const headers: Record<string, string> = { host: `127.0.0.1:${server.port}`, 'content-type': options.contentType ?? AWS_JSON };
    if (target !== undefined) headers['x-amz-target'] = target;
    const signed = await signer.sign(
      { method: 'POST', protocol: 'https:', hostname: '127.0.0.1', port: server.port, path: '/', query: {}, headers, body },
      { signingDate: options.date ?? new Date(), ...(options.unsigned ? { unsignableHeaders: new Set(options.unsigned) } : {}) },
    );
    return signed.headers as Record<string, string>;
  }

  /** Sends `POST /` with exactly these headers and body; `fresh` uses a new connection. */
  function send(headers: Record<string, string>, body: Buffer, fresh = false): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        { host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers, agent: fresh ? new https.Agent({ ca: agent.options.ca }) : agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: response.statusCode!, headers: response.headers, body: text === '' ? {} : JSON.parse(text) });
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  /** A correctly signed request for `TrentService.<action>` with a JSON or raw body. */
  function call(action: string, body: unknown = {}, options: SignOptions = {}): Promise<Answer> {
    return callTarget(`TrentService.${action}`, body, options);
  }

  /** A correctly signed request with this X-Amz-Target as written (undefined: none). */
  async function callTarget(target: string | undefined, body: unknown = {}, options: SignOptions = {}): Promise<Answer> {
    const bytes = toBytes(body);
    return send(await sign(target, bytes, options), bytes);
  }

  /** A 400 (or `status`) AWS error answer of this type, with a request id, in AWS JSON. */
  function expectAwsError(answer: Answer, type: string, status = 400): void {
    expect(answer.body.__type, JSON.stringify(answer.body)).to.equal(type);
    expect(answer.body.message).to.be.a('string');
    expect(answer.status).to.equal(status);
    expect(answer.headers['x-amzn-requestid']).to.match(UUID);
    expect(answer.headers['content-type']).to.equal(AWS_JSON);
  }

  /** The request's audit record: under the access key id it claimed, with its outcome. */
  async function expectAudited(answer: Answer, principal: string, outcome: string): Promise<void> {
    const trail = await native.call('listauditevents', { Principal: principal, Outcome: outcome, Limit: 1000 });
    const records = trail.Events.filter((event: { RequestId: string }) => event.RequestId === answer.headers['x-amzn-requestid']);
    expect(records, `audit record of ${answer.headers['x-amzn-requestid']}`).to.have.length(1);
    expect(records[0]).to.include({ Principal: principal, Outcome: outcome });
  }

  it('answers a correctly signed request (the control), with and without X-Amz-Content-Sha256', async () => {
    for (const applyChecksum of [true, false]) {
      const answer = await call('DescribeKey', { KeyId: keyId }, { applyChecksum });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body.KeyMetadata.KeyId).to.equal(keyId);
      expect(answer.headers['x-amzn-requestid']).to.match(UUID);
      expect(answer.headers['content-type']).to.equal(AWS_JSON);
    }
  });

  it('answers the Keyhold extensions BatchEncrypt and BatchDecrypt: each item as the single action answers it (KeyId as the key ARN), a bad item in its own slot, up to 1 MiB', async () => {
    const plaintext = randomBytes(600).toString('base64');
    // About 160 KiB: over every single action's 64 KiB, under the batch actions' 1 MiB.
    const items = Array.from({ length: 200 }, () => ({ KeyId: keyId, Plaintext: plaintext }));
    items.push({ KeyId: '00000000-0000-4000-8000-000000000000', Plaintext: plaintext });
    const sealed = await call('BatchEncrypt', { Items: items });
    expect(sealed.status, JSON.stringify(sealed.body).slice(0, 300)).to.equal(200);
    expect(sealed.headers['content-type']).to.equal(AWS_JSON);
    const results = sealed.body.Results as Record<string, any>[];
    expect(results).to.have.length(201);
    expect(results[0]!.KeyId).to.match(new RegExp(`^arn:aws:kms:[a-z0-9-]+:\\d{12}:key/${keyId}$`));
    expect(results[0]!.CiphertextBlob).to.be.a('string');
    expect(results[200]!.Error.__type).to.equal('NotFoundException');
    const opened = await call('BatchDecrypt', { Items: [{ CiphertextBlob: results[0]!.CiphertextBlob }, { CiphertextBlob: 'AAAA' }] });
    expect(opened.status, JSON.stringify(opened.body)).to.equal(200);
    expect(opened.body.Results[0].Plaintext).to.equal(plaintext);
    expect(opened.body.Results[0].KeyId).to.match(/^arn:aws:kms:/);
    expect(opened.body.Results[1].Error.__type).to.be.a('string');
    // A name that is neither AWS KMS's nor one of Keyhold's extensions stays unknown.
    expectAwsError(await call('BatchSign', { Items: [] }), 'UnknownOperationException');
  });

  describe('SigV4 refusals: 400, the exact type, a request id, AWS JSON, and an audit record under the claimed access key id', () => {
    const body = () => toBytes({ KeyId: keyId });

    it('a wrong secret: InvalidSignatureException', async () => {
      const answer = await call('DescribeKey', { KeyId: keyId }, { credentials: { ...admin, secretAccessKey: randomBytes(32).toString('base64') } });
      expectAwsError(answer, 'InvalidSignatureException');
      expect(answer.body.message).to.equal(MISMATCH);
      await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
    });

    it('an unknown access key id: UnrecognizedClientException', async () => {
      const unknown = 'KHUNKNOWNACCESSKEY00';
      const answer = await call('DescribeKey', { KeyId: keyId }, { credentials: { accessKeyId: unknown, secretAccessKey: admin.secretAccessKey } });
      expectAwsError(answer, 'UnrecognizedClientException');
      await expectAudited(answer, unknown, 'UnrecognizedClientException');
    });

    it('a scope of another region: InvalidSignatureException naming it', async () => {
      const answer = await call('DescribeKey', { KeyId: keyId }, { region: 'eu-west-1' });
      expectAwsError(answer, 'InvalidSignatureException');
      expect(answer.body.message).to.include("'eu-west-1'");
      await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
    });

    it('a scope of another service: InvalidSignatureException', async () => {
      const answer = await call('DescribeKey', { KeyId: keyId }, { service: 'sts' });
      expectAwsError(answer, 'InvalidSignatureException');
      expect(answer.body.message).to.include("'kms'");
      await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
    });

    for (const [when, offsetMs] of [['6 minutes ago', -6 * 60_000], ['6 minutes ahead', 6 * 60_000]] as const) {
      it(`a date ${when}: InvalidSignatureException "Signature expired"`, async () => {
        const answer = await call('DescribeKey', { KeyId: keyId }, { date: new Date(Date.now() + offsetMs) });
        expectAwsError(answer, 'InvalidSignatureException');
        expect(answer.body.message).to.match(/^Signature expired: \d{8}T\d{6}Z is now (earlier|later) than/);
        await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
      });
    }

    it('X-Amz-Target changed after signing (DescribeKey sent as DisableKey): InvalidSignatureException, the key stays enabled', async () => {
      const headers = await sign('TrentService.DescribeKey', body());
      const answer = await send({ ...headers, 'x-amz-target': 'TrentService.DisableKey' }, body());
      expectAwsError(answer, 'InvalidSignatureException');
      await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
      expect((await native.call('describekey', { KeyId: keyId })).KeyMetadata.KeyState).to.equal('Enabled');
    });

    for (const applyChecksum of [false, true]) {
      it(`the body changed after signing (${applyChecksum ? 'with' : 'without'} X-Amz-Content-Sha256): InvalidSignatureException`, async () => {
        const headers = await sign('TrentService.DescribeKey', body(), { applyChecksum });
        const answer = await send(headers, toBytes({ KeyId: 'alias/aws/other' }));
        expectAwsError(answer, 'InvalidSignatureException');
        await expectAudited(answer, admin.accessKeyId, 'InvalidSignatureException');
      });
    }

    it('SignedHeaders without x-amz-target: IncompleteSignatureException', async () => {
      const answer = await call('DescribeKey', { KeyId: keyId }, { unsigned: ['x-amz-target'] });
      expectAwsError(answer, 'IncompleteSignatureException');
      expect(answer.body.message).to.include('x-amz-target');
      await expectAudited(answer, admin.accessKeyId, 'IncompleteSignatureException');
    });

    it('no Authorization: MissingAuthenticationTokenException, audited as anonymous', async () => {
      const { authorization: _dropped, ...headers } = await sign('TrentService.DescribeKey', body());
      const answer = await send(headers, body());
      expectAwsError(answer, 'MissingAuthenticationTokenException');
      await expectAudited(answer, 'anonymous', 'MissingAuthenticationTokenException');
    });

    it('a session token (X-Amz-Security-Token): UnrecognizedClientException', async () => {
      const answer = await call('DescribeKey', { KeyId: keyId }, { credentials: { ...admin, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' } });
      expectAwsError(answer, 'UnrecognizedClientException');
      expect(answer.body.message).to.include('X-Amz-Security-Token');
      await expectAudited(answer, admin.accessKeyId, 'UnrecognizedClientException');
    });

    it('a disabled credential: UnrecognizedClientException (it was accepted before)', async () => {
      const created = await native.call('createcredential', { Description: 'to be disabled', Admin: true });
      rememberSecret(created.SecretKey);
      const credentials = { accessKeyId: created.Credential.AccessKeyId as string, secretAccessKey: created.SecretKey as string };
      expect((await call('DescribeKey', { KeyId: keyId }, { credentials })).status).to.equal(200);
      await native.call('disablecredential', { AccessKeyId: credentials.accessKeyId });
      const answer = await call('DescribeKey', { KeyId: keyId }, { credentials });
      expectAwsError(answer, 'UnrecognizedClientException');
      await expectAudited(answer, credentials.accessKeyId, 'UnrecognizedClientException');
    });
  });

  describe('bad input, correctly signed: typed 4xx, never a 500', () => {
    it('no X-Amz-Target: IncompleteSignatureException (every request must sign one)', async () => {
      const answer = await callTarget(undefined, {});
      expectAwsError(answer, 'IncompleteSignatureException');
      expect(answer.body.message).to.include('x-amz-target');
    });

    it('a target that is no AWS KMS action: UnknownOperationException', async () => {
      for (const target of ['TrentService.Nope', 'TrentService.', 'TrentService', 'OtherService.DescribeKey', 'TrentService.Describe-Key']) {
        const answer = await callTarget(target, { KeyId: keyId });
        expectAwsError(answer, 'UnknownOperationException');
      }
    });

    it('an AWS KMS action Keyhold lacks: UnsupportedOperationException "Keyhold does not support CreateGrant"', async () => {
      const answer = await call('CreateGrant', { KeyId: keyId, GranteePrincipal: 'arn:aws:iam::111122223333:role/app', Operations: ['Decrypt'] });
      expectAwsError(answer, 'UnsupportedOperationException');
      expect(answer.body.message).to.equal('Keyhold does not support CreateGrant');
    });

    it('a Content-Type other than AWS JSON: SerializationException', async () => {
      for (const contentType of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
        const answer = await call('DescribeKey', { KeyId: keyId }, { contentType });
        expectAwsError(answer, 'SerializationException');
      }
    });

    it('a body that is not a JSON object (not JSON, an array, a string, a number, null): SerializationException', async () => {
      for (const body of ['{"KeyId":', 'not json', '[]', '[{"KeyId":"x"}]', '"text"', '42', 'null']) {
        const answer = await call('DescribeKey', Buffer.from(body));
        expectAwsError(answer, 'SerializationException');
      }
    });

    it('fields of the wrong types: ValidationException', async () => {
      const cases: [string, object][] = [
        ['DescribeKey', { KeyId: 5 }],
        ['ListKeys', { Limit: 'ten' }],
        ['Encrypt', { KeyId: keyId, Plaintext: 12 }],
        ['Encrypt', { KeyId: keyId, Plaintext: 'aGVsbG8=', EncryptionContext: { purpose: 1 } }],
        ['CreateKey', { Tags: 'team=orders' }],
        ['ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: '7' }],
        ['GenerateDataKey', { KeyId: keyId, NumberOfBytes: 1.5 }],
      ];
      for (const [action, body] of cases) {
        const answer = await call(action, body);
        expectAwsError(answer, 'ValidationException');
      }
      expect((await native.call('describekey', { KeyId: keyId })).KeyMetadata.KeyState).to.equal('Enabled');
    });

    it('a 70 KiB body: 413 RequestEntityTooLarge, and the connection is closed', async () => {
      const big = toBytes({ KeyId: keyId, Plaintext: 'A'.repeat(70 * 1024) });
      const answer = await send(await sign('TrentService.Encrypt', big), big, true);
      expectAwsError(answer, 'RequestEntityTooLarge', 413);
      expect(answer.headers.connection).to.equal('close');
    });

    it('deeply nested JSON, at the top and inside fields: typed 400s', async () => {
      const nested = (depth: number, open: string, inner: string, close: string) => open.repeat(depth) + inner + close.repeat(depth);
      const cases: [string, string, string][] = [
        ['DescribeKey', nested(30_000, '[', '', ']'), 'SerializationException'],
        ['DescribeKey', nested(10_000, '{"a":', '1', '}'), 'ValidationException'],
        ['DescribeKey', `{"KeyId":${nested(30_000, '[', '', ']')}}`, 'ValidationException'],
        ['Encrypt', `{"KeyId":"${keyId}","Plaintext":"aGk=","EncryptionContext":${nested(10_000, '{"a":', '"b"', '}')}}`, 'ValidationException'],
        ['CreateKey', `{"Tags":${nested(30_000, '[', '', ']')}}`, 'ValidationException'],
      ];
      for (const [action, body, type] of cases) {
        expect(body.length).to.be.below(64 * 1024);
        const answer = await call(action, Buffer.from(body));
        expectAwsError(answer, type);
      }
    });
  });

  describe('replay', () => {
    it('a signed CreateKey sent twice creates one key; the second is ReplayedRequestException', async () => {
      const before = await keyCount();
      const body = toBytes({ Description: 'sent twice' });
      const headers = await sign('TrentService.CreateKey', body);
      // Each on a new connection: with workers, the two may reach different processes.
      const first = await send(headers, body, true);
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      const second = await send(headers, body, true);
      expectAwsError(second, 'ReplayedRequestException');
      expect(await keyCount()).to.equal(before + 1);
      await expectAudited(second, admin.accessKeyId, 'ReplayedRequestException');
    });

    it('a signed ScheduleKeyDeletion sent twice changes the key once', async () => {
      const doomed = (await native.call('createkey', { Description: 'scheduled twice' })).KeyMetadata.KeyId;
      const body = toBytes({ KeyId: doomed, PendingWindowInDays: 7 });
      const headers = await sign('TrentService.ScheduleKeyDeletion', body);
      const first = await send(headers, body, true);
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      expectAwsError(await send(headers, body, true), 'ReplayedRequestException');
      const trail = await native.call('listauditevents', { KeyId: doomed, Action: 'ScheduleKeyDeletion', Limit: 1000 });
      expect(trail.Events.map((event: { Outcome: string }) => event.Outcome)).to.deep.equal(['Success', 'ReplayedRequestException']);
      expect((await native.call('describekey', { KeyId: doomed })).KeyMetadata.DeletionDate).to.equal(
        new Date(first.body.DeletionDate * 1000).toISOString(),
      );
    });

    async function keyCount(): Promise<number> {
      const page = await native.call('listkeys', { Limit: 1000 });
      expect(page.Truncated).to.equal(false);
      return page.Keys.length;
    }
  });

  describe('any signed body, for every action Keyhold answers through this door', function () {
    this.timeout(300_000);
    const supported = [...AWS_KMS_ACTIONS].filter((name) => actions.has(name.toLowerCase()));
    // Replaced by a key of the property's own at run time, so actions also reach an existing key.
    const keyIdPlaceholder = '@key';
    const fieldNames = fc.constantFrom(
      'KeyId', 'Plaintext', 'CiphertextBlob', 'EncryptionContext', 'NumberOfBytes', 'KeySpec', 'KeyUsage', 'Limit', 'Marker',
      'DestinationKeyId', 'SourceEncryptionContext', 'DestinationEncryptionContext', 'PendingWindowInDays', 'Tags', 'TagKeys',
      'Description', 'AliasName', 'TargetKeyId', 'Message', 'MessageType', 'Signature', 'SigningAlgorithm', 'Policy', 'PolicyName',
      'KeyPairSpec', 'Recipient',
      'Origin', 'WrappingAlgorithm', 'WrappingKeySpec', 'ImportToken', 'EncryptedKeyMaterial', 'ExpirationModel', 'ValidTo', 'ImportType',
    );
    const plausibleValue = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64')),
      fc.constant(keyIdPlaceholder),
      fc.constantFrom('alias/fuzz', 'alias/aws/fuzz', 'arn:aws:kms:us-east-1:111122223333:alias/fuzz', 'alias/', 'SYMMETRIC_DEFAULT', 'ECC_NIST_P256', 'RAW'),
      fc.array(fc.record({ TagKey: fc.string({ maxLength: 140 }), TagValue: fc.string({ maxLength: 300 }) }), { maxLength: 60 }),
      fc.integer({ min: -5, max: 5000 }),
      fc.constantFrom('EXTERNAL', 'RSAES_OAEP_SHA_256', 'RSA_2048', 'KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'),
    );
    const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fieldNames, plausibleValue, { maxKeys: 5 }));

    const authenticationErrors = ['InvalidSignatureException', 'IncompleteSignatureException', 'UnrecognizedClientException', 'MissingAuthenticationTokenException'];

    /** Whatever the answer, it is a typed AWS JSON answer below 500, past authentication (the body is signed). */
    function expectTyped(answer: Answer, what: string): void {
      expect(answer.status, what).to.be.below(500);
      expect(answer.headers['content-type'], what).to.equal(AWS_JSON);
      expect(answer.headers['x-amzn-requestid'], what).to.match(UUID);
      if (answer.status === 200) return;
      expect(answer.body.__type, what).to.be.a('string');
      expect(answer.body.__type, what).not.to.be.oneOf(authenticationErrors);
    }

    it('random JSON values: typed answers below 500', async () => {
      const fuzzKeyId = (await native.call('createkey', { Description: 'fuzzed' })).KeyMetadata.KeyId;
      const succeeded = new Set<string>();
      const withKey = (value: unknown): unknown =>
        value !== null && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).map(([name, field]) => [name, field === keyIdPlaceholder ? fuzzKeyId : field]))
          : value;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...supported), anyJson, async (action, generated) => {
          const body = withKey(generated);
          const answer = await call(action, toBytes(body));
          expectTyped(answer, JSON.stringify({ action, body, answer: answer.body }));
          if (answer.status === 200) succeeded.add(action);
        }),
        { numRuns: 400 },
      );
      // Some random bodies are valid requests: the property reached the actions themselves. Which
      // and how many actions succeed is chance: one run of 400 reached only two, so ask for one.
      expect(succeeded.size).to.be.at.least(1);
      // The check the property makes holds for answers that succeed, too (not only by chance above).
      for (const [action, body] of [['ListKeys', {}], ['GenerateRandom', { NumberOfBytes: 8 }], ['DescribeKey', { KeyId: fuzzKeyId }]] as const) {
        const answer = await call(action, toBytes(body));
        expect(answer.status, action).to.equal(200);
        expectTyped(answer, action);
      }
    });

    it('random bytes: typed answers below 500', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...supported), fc.uint8Array({ maxLength: 300 }), async (action, bytes) => {
          const answer = await call(action, Buffer.from(bytes));
          expectTyped(answer, JSON.stringify({ action, bytes: Buffer.from(bytes).toString('base64'), answer: answer.body }));
        }),
        { numRuns: 200 },
      );
    });
  });
});

/** A body as sent: bytes as given, anything else as its JSON. */
function toBytes(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body) ?? 'null', 'utf8');
}
