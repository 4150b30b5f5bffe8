import path from 'node:path';
import { expect } from 'chai';
import { startFakeAwsKms, type FakeAwsKms } from '../fakes/aws-kms.js';
import { rememberSecret } from '../helpers/secrets.js';
import { serverClient } from '../helpers/server-client.js';
import { startServerProcess, TEST_WORKERS, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'request deadline test passphrase';
const AWS_SECRET = 'keyhold/deadline-test-secret+not-real/0123456789';
const REQUEST_TIMEOUT_MS = 1_000;
/** A loaded 2-core machine is slow; a request nobody answers waits for the client's patience. */
const SLACK_MS = 3_000;

describe(`the request deadline (KEYHOLD_REQUEST_TIMEOUT_MS), ${TEST_WORKERS} worker(s)`, function () {
  this.timeout(120_000);
  let aws: FakeAwsKms;
  let server: ServerProcess | undefined;
  const dir = makeTempDir('keyhold-deadline-');

  before(async () => {
    rememberSecret(PASSPHRASE);
    rememberSecret(AWS_SECRET);
    aws = await startFakeAwsKms();
  });

  after(async () => {
    await server?.stop();
    await aws?.close();
    dir.remove();
  });

  it('answers 503 ServiceUnavailableException once a request has run past it, and serves on', async () => {
    const dataDir = path.join(dir.path, 'data');
    // The provider's own deadline is far beyond the request's: only the request deadline can answer.
    server = await startServerProcess(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_PASSPHRASE: PASSPHRASE,
        KEYHOLD_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        KEYHOLD_PROVIDER_TIMEOUT_MS: '60000',
        KEYHOLD_PROVIDER_MAX_ATTEMPTS: '1',
        AWS_ENDPOINT_URL_KMS: aws.url,
        AWS_ACCESS_KEY_ID: 'AKIAKEYHOLDDEADLINETEST',
        AWS_SECRET_ACCESS_KEY: AWS_SECRET,
        AWS_REGION: 'eu-west-1',
        AWS_CONFIG_FILE: '/nonexistent/keyhold-test/aws-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/keyhold-test/aws-credentials',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      dir.path,
    );
    const client = serverClient(server, dataDir);
    const remote = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1');
    const created = await client.call('createkey', { Origin: 'AWS_KMS', ProviderKeyId: remote.arn });
    expect(created.status, JSON.stringify(created.body)).to.equal(200);
    const sign = () => client.call('sign', { KeyId: (created.body.KeyMetadata as { KeyId: string }).KeyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect((await sign()).status).to.equal(200);

    aws.failNext(1, 'hang');
    const late = await sign();
    expect(late).to.deep.include({
      status: 503,
      body: { __type: 'ServiceUnavailableException', message: `The request did not complete within ${REQUEST_TIMEOUT_MS} ms` },
    });
    expect(late.ms, 'ms until the 503').to.be.within(REQUEST_TIMEOUT_MS - 50, REQUEST_TIMEOUT_MS + SLACK_MS);
    expect(JSON.stringify(late.body)).to.not.include(AWS_SECRET);
    // The hung call is still open at AWS; the next request is served as usual.
    expect((await sign()).status).to.equal(200);
    expect((await client.get('/readyz')).status).to.equal(200);
  });
});
