import { createPublicKey, verify as verifySignature } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { adminAwsCredentials, awsClientEnv, requireBoto3, runProcess } from '../helpers/aws-clients.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const SCRIPT = fileURLToPath(new URL('../fixtures/aws_door_boto3.py', import.meta.url));
const PLAINTEXT = '4111 1111 1111 1111 (boto3)';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * boto3, unchanged, against a real Keyhold server process: test/fixtures/aws_door_boto3.py runs
 * the scenario with `boto3.client('kms', endpoint_url=…, verify=<the server's cert>)` and prints
 * what it saw as one JSON line; the assertions are here.
 */
describe('the AWS door, with boto3 against a real server', function () {
  this.timeout(180_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let native: KeyholdClient;
  // What the script observed; each test below checks one part of it.
  let seen: Record<string, any>;
  const keyArn = (keyId: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;

  before(async function () {
    const python = requireBoto3(this);
    work = makeTempDir('keyhold-aws-boto3-');
    const dataDir = path.join(work.path, 'data');
    const passphrase = 'aws boto3 door passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: passphrase }, work.path);
    native = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    const caFile = path.join(dataDir, 'tls-cert.pem');
    const env = awsClientEnv(adminAwsCredentials(dataDir), caFile, path.join(work.path, 'home'));
    const run = await runProcess(python, [SCRIPT, server.url, caFile, PLAINTEXT], { env, cwd: work.path, timeoutMs: 120_000 });
    expect(run.code, `${python} ${SCRIPT}: ${run.stderr}`).to.equal(0);
    seen = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  });

  after(async () => {
    native?.close();
    await server?.stop();
    work?.remove();
  });

  it('creates a key and an alias; botocore parses CreationDate into a datetime of the right moment', async () => {
    const { created } = seen;
    expect(created.KeyId).to.match(UUID);
    expect(created).to.include({ Arn: keyArn(created.KeyId), AWSAccountId: ACCOUNT, KeyState: 'Enabled' });
    expect(created.CreationDate.type).to.equal('datetime');
    // A timezone-aware datetime (botocore's tzutc or tzlocal), the instant the server recorded.
    expect(created.CreationDate.iso).to.match(/[+-]\d{2}:\d{2}$/);
    const described = await native.call('describekey', { KeyId: created.KeyId });
    expect(Date.parse(created.CreationDate.iso)).to.equal(Date.parse(described.KeyMetadata.CreationDate));
    expect(seen.describedByAlias).to.equal(created.KeyId);
  });

  it('encrypts and decrypts with a context (bytes back), makes a data key, re-encrypts', () => {
    const arn = keyArn(seen.created.KeyId);
    expect(seen.encrypt).to.deep.equal({ KeyId: arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    expect(seen.decrypt).to.deep.equal({ KeyId: arn, Plaintext: Buffer.from(PLAINTEXT).toString('base64'), type: 'bytes' });
    expect(seen.dataKey).to.deep.equal({ length: 32, decryptsToIt: true });
    expect(seen.reEncrypt).to.deep.equal({
      SourceKeyId: arn,
      KeyId: keyArn(seen.reEncrypt.otherKeyId),
      Plaintext: Buffer.from(PLAINTEXT).toString('base64'),
      otherKeyId: seen.reEncrypt.otherKeyId,
    });
    expect(seen.reEncrypt.otherKeyId).to.match(UUID).and.not.equal(seen.created.KeyId);
  });

  it('rotates on demand (listed with a datetime) and turns on scheduled rotation', () => {
    expect(seen.rotationStatus).to.equal(true);
    if (seen.rotation === null) {
      // Debian bookworm's python3-boto3 (botocore 1.29) predates RotateKeyOnDemand (2024).
      console.log(`      botocore ${seen.botocore} has no RotateKeyOnDemand: rotation on demand not checked with it`);
      return;
    }
    expect(seen.rotation.KeyId).to.be.oneOf([seen.created.KeyId, keyArn(seen.created.KeyId)]);
    expect(seen.rotation.rotations).to.have.length(1);
    const [rotation] = seen.rotation.rotations;
    expect(rotation.RotationType).to.equal('ON_DEMAND');
    expect(rotation.RotationDate.type).to.equal('datetime');
    expect(Math.abs(Date.parse(rotation.RotationDate.iso) - Date.now())).to.be.below(120_000);
  });

  it('tags a key and lists its tags', () => {
    expect(seen.tags).to.deep.equal(['env=test', 'team=orders']);
  });

  it("lists every key with PageSize 1 through boto3's paginator, one page per key", () => {
    // The script listed once it had made two keys: the alias's and the re-encryption's.
    expect(seen.listKeys.keyIds).to.have.members([seen.created.KeyId, seen.reEncrypt.otherKeyId]);
    expect(seen.listKeys.pages).to.equal(2);
  });

  it('schedules a deletion seven days out, DeletionDate a datetime', () => {
    const { deletion } = seen;
    expect(deletion).to.include({ KeyId: keyArn(deletion.doomed), KeyState: 'PendingDeletion' });
    expect(deletion.DeletionDate.type).to.equal('datetime');
    expect(Date.parse(deletion.DeletionDate.iso) - Date.now()).to.be.within(6.9 * 86_400_000, 7.1 * 86_400_000);
  });

  it('signs and verifies with ECC_NIST_P256; the signature checks out against GetPublicKey; a tampered message raises KMSInvalidSignatureException', () => {
    const { sign } = seen;
    expect(sign.SignatureValid).to.equal(true);
    const publicKey = createPublicKey({ key: Buffer.from(sign.publicKey, 'base64'), format: 'der', type: 'spki' });
    expect(publicKey.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
    const valid = verifySignature('sha256', Buffer.from(sign.message, 'base64'), { key: publicKey, dsaEncoding: 'der' }, Buffer.from(sign.signature, 'base64'));
    expect(valid).to.equal(true);
    expect(sign.tampered).to.include({ caughtAs: 'modeled', class: 'KMSInvalidSignatureException', status: 400 });
  });

  it("raises botocore's modeled exceptions: NotFoundException, InvalidCiphertextException, DisabledException, each with a request id", () => {
    const expected = { unknownKey: 'NotFoundException', wrongContext: 'InvalidCiphertextException', disabledKey: 'DisabledException' };
    for (const [scenario, type] of Object.entries(expected)) {
      const error = seen.errors[scenario];
      expect(error, scenario).to.include({ caughtAs: 'modeled', class: type, code: type, status: 400 });
      expect(error.requestId, scenario).to.match(UUID);
    }
  });
});
