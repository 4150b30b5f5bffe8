import path from 'node:path';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { rememberSecret } from '../helpers/secrets.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'remote providers unconfigured passphrase';

/**
 * A server with no AWS and no Google credentials at all (no environment, no files, no instance
 * metadata), as most servers are: a CreateKey naming a key in AWS KMS or Google Cloud KMS must be
 * a typed 4xx, and must not take the server down. Before, Google's client library left a rejected
 * promise that nobody awaited and the process died of it, so any credential allowed CreateKey
 * could stop the service; AWS answered a 500.
 */
describe('remote keys on a server without AWS or Google credentials', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let temp: ReturnType<typeof makeTempDir>;
  let kms: KeyholdClient;

  before(async () => {
    rememberSecret(PASSPHRASE);
    temp = makeTempDir('keyhold-remote-unconfigured-');
    const dataDir = path.join(temp.path, 'data');
    const nowhere = path.join(temp.path, 'no-such-file');
    server = await startServerProcess(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_PASSPHRASE: PASSPHRASE,
        KEYHOLD_PROVIDER_TIMEOUT_MS: '5000',
        // Whatever the machine running the tests has, the server finds no credentials.
        HOME: temp.path,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SESSION_TOKEN: '',
        AWS_PROFILE: '',
        AWS_SHARED_CREDENTIALS_FILE: nowhere,
        AWS_CONFIG_FILE: nowhere,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
        AWS_WEB_IDENTITY_TOKEN_FILE: '',
        GOOGLE_APPLICATION_CREDENTIALS: nowhere,
        METADATA_SERVER_DETECTION: 'none',
      },
      temp.path,
    );
    kms = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
  });
  after(async () => {
    kms?.close();
    await server?.stop();
    temp?.remove();
  });

  async function refusal(body: object): Promise<KeyholdApiError> {
    const error = await kms.call('createkey', body).then(
      () => {
        throw new Error('the key was created');
      },
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(KeyholdApiError);
    return error as KeyholdApiError;
  }

  it('answers CreateKey with Origin GCP_KMS with UnsupportedOperationException, again and again, and keeps serving', async () => {
    const name = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
    for (let attempt = 0; attempt < 3; attempt++) {
      const error = await refusal({ Origin: 'GCP_KMS', ProviderKeyId: name });
      expect(error.type).to.equal('UnsupportedOperationException');
      expect(error.status).to.equal(400);
      expect(error.message).to.contain('no Google credentials');
    }
    // Long enough for a stray rejection of Google's library to have ended the process.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(server.child.exitCode).to.equal(null);
    expect((await kms.createKey()).KeyState).to.equal('Enabled');
    expect(server.stdout() + server.stderr()).to.not.match(/worker (exited|died)|unhandled/i);
  });

  it('answers CreateKey with Origin AWS_KMS with UnsupportedOperationException, not a 500', async () => {
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const error = await refusal({ Origin: 'AWS_KMS', ProviderKeyId: arn });
    expect(error.type).to.equal('UnsupportedOperationException');
    expect(error.message).to.contain('no AWS credentials');
    expect(server.child.exitCode).to.equal(null);
  });
});
