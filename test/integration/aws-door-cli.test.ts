import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { adminAwsCredentials, awsClientEnv, requireAwsCli, runProcess, type ProcessResult } from '../helpers/aws-clients.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
/** What the aws CLI exits with when the service answers an error: 255 in version 1, 254 in version 2. */
const SERVICE_ERROR_EXIT_CODES = [254, 255];

/**
 * The real `aws` CLI (version 1 from pip, or Debian's version 2), unchanged, pointed at a real
 * Keyhold server process with --endpoint-url: only the endpoint, the CA bundle and the
 * credentials are ours. Nothing of the machine's AWS configuration reaches it.
 */
describe('the AWS door, with the aws CLI against a real server', function () {
  this.timeout(180_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let native: KeyholdClient;
  let env: NodeJS.ProcessEnv;
  let keyId: string;

  /** `aws kms <args>` against the server; what it printed on stdout and stderr, and its exit code. */
  function awsRun(args: string[]): Promise<ProcessResult> {
    return runProcess('aws', ['--endpoint-url', server.url, '--output', 'json', 'kms', ...args], { env, cwd: work.path });
  }

  /** `aws kms <args>` expected to succeed: its JSON output (undefined when it prints none). */
  async function aws(...args: string[]): Promise<Record<string, any>> {
    const run = await awsRun(args);
    expect(run.code, `aws kms ${args.join(' ')}: ${run.stderr}`).to.equal(0);
    return run.stdout.trim() === '' ? {} : JSON.parse(run.stdout);
  }

  /** `aws kms <args>` expected to fail with the AWS error `type`, as the CLI reports it. */
  async function awsFails(type: string, ...args: string[]): Promise<string> {
    const run = await awsRun(args);
    expect(run.code, `aws kms ${args.join(' ')}: ${run.stdout}${run.stderr}`).to.be.oneOf(SERVICE_ERROR_EXIT_CODES);
    expect(run.stderr).to.include(`(${type})`);
    return run.stderr;
  }

  /** Writes bytes to a file of the work dir, for a `fileb://` argument. */
  function fileb(name: string, bytes: Buffer | Uint8Array): string {
    const file = path.join(work.path, name);
    writeFileSync(file, bytes);
    return `fileb://${file}`;
  }

  before(async function () {
    requireAwsCli(this);
    work = makeTempDir('keyhold-aws-cli-');
    const dataDir = path.join(work.path, 'data');
    const passphrase = 'aws cli door passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: passphrase }, work.path);
    env = awsClientEnv(adminAwsCredentials(dataDir), path.join(dataDir, 'tls-cert.pem'), path.join(work.path, 'home'));
    native = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
  });

  after(async () => {
    native?.close();
    await server?.stop();
    work?.remove();
  });

  it('creates a key with a tag and an alias; describe-key answers the ARN, the account and the creation time', async () => {
    const created = await aws('create-key', '--description', 'cli orders', '--tags', 'TagKey=team,TagValue=orders');
    keyId = created.KeyMetadata.KeyId;
    expect(created.KeyMetadata).to.include({
      Arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`,
      AWSAccountId: ACCOUNT,
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: 'Enabled',
    });
    expect(Math.abs(epochMs(created.KeyMetadata.CreationDate) - Date.now())).to.be.below(60_000);
    expect(await aws('create-alias', '--alias-name', 'alias/cli-orders', '--target-key-id', keyId)).to.deep.equal({});
    const described = await aws('describe-key', '--key-id', 'alias/cli-orders');
    expect(described.KeyMetadata).to.include({ KeyId: keyId, Description: 'cli orders' });
  });

  it('encrypts a file with a context, decrypts it (--query Plaintext --output text), and re-encrypts it', async () => {
    const plaintext = Buffer.from('4111 1111 1111 1111 (aws cli)');
    const context = ['--encryption-context', 'table=orders,row=42'];
    const encrypted = await aws('encrypt', '--key-id', 'alias/cli-orders', '--plaintext', fileb('plain.bin', plaintext), ...context);
    expect(encrypted.KeyId).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    expect(encrypted.EncryptionAlgorithm).to.equal('SYMMETRIC_DEFAULT');
    const blob = fileb('cipher.bin', Buffer.from(encrypted.CiphertextBlob, 'base64'));

    const decrypted = await awsRun(['decrypt', '--ciphertext-blob', blob, ...context, '--query', 'Plaintext', '--output', 'text']);
    expect(decrypted.code, decrypted.stderr).to.equal(0);
    expect(Buffer.from(decrypted.stdout.trim(), 'base64').equals(plaintext)).to.equal(true);

    const other = (await aws('create-key', '--description', 'cli other')).KeyMetadata.KeyId;
    const reEncrypted = await aws(
      're-encrypt', '--ciphertext-blob', blob, '--source-encryption-context', 'table=orders,row=42',
      '--destination-key-id', other, '--destination-encryption-context', 'moved=yes',
    );
    expect(reEncrypted.SourceKeyId).to.equal(encrypted.KeyId);
    expect(reEncrypted.KeyId).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${other}`);
    const again = await aws('decrypt', '--ciphertext-blob', fileb('moved.bin', Buffer.from(reEncrypted.CiphertextBlob, 'base64')), '--encryption-context', 'moved=yes');
    expect(Buffer.from(again.Plaintext, 'base64').equals(plaintext)).to.equal(true);
    expect(again.KeyId).to.equal(reEncrypted.KeyId);
  });

  it('generates a data key whose ciphertext decrypts to its plaintext', async () => {
    const dataKey = await aws('generate-data-key', '--key-id', 'alias/cli-orders', '--key-spec', 'AES_256', '--encryption-context', 'purpose=files');
    const keyBytes = Buffer.from(dataKey.Plaintext, 'base64');
    rememberSecret(keyBytes);
    expect(keyBytes).to.have.length(32);
    const unwrapped = await aws('decrypt', '--ciphertext-blob', fileb('data-key.bin', Buffer.from(dataKey.CiphertextBlob, 'base64')), '--encryption-context', 'purpose=files');
    expect(Buffer.from(unwrapped.Plaintext, 'base64').equals(keyBytes)).to.equal(true);
  });

  it('rotates a key on demand (list-key-rotations lists it) and turns on scheduled rotation', async () => {
    const rotated = await awsRun(['rotate-key-on-demand', '--key-id', keyId]);
    if (unknownCommand(rotated)) {
      // Debian bookworm's awscli (2.9) predates RotateKeyOnDemand (2024): the CLI refuses it itself.
      console.log('      this aws CLI has no rotate-key-on-demand: rotation on demand not checked with it');
    } else {
      expect(rotated.code, rotated.stderr).to.equal(0);
      expect(JSON.parse(rotated.stdout).KeyId).to.be.oneOf([keyId, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`]);
      const rotations = await aws('list-key-rotations', '--key-id', keyId);
      expect(rotations.Rotations).to.have.length(1);
      expect(rotations.Rotations[0]).to.include({ KeyId: keyId, RotationType: 'ON_DEMAND' });
      expect(Math.abs(epochMs(rotations.Rotations[0].RotationDate) - Date.now())).to.be.below(60_000);
    }
    await aws('enable-key-rotation', '--key-id', keyId);
    expect(await aws('get-key-rotation-status', '--key-id', keyId)).to.include({ KeyRotationEnabled: true });
  });

  it('tags a key and lists its tags', async () => {
    expect(await aws('tag-resource', '--key-id', keyId, '--tags', 'TagKey=env,TagValue=test', 'TagKey=cost,TagValue=42')).to.deep.equal({});
    const tags = await aws('list-resource-tags', '--key-id', keyId);
    expect(tags.Tags.map((tag: { TagKey: string; TagValue: string }) => `${tag.TagKey}=${tag.TagValue}`)).to.deep.equal(['cost=42', 'env=test', 'team=orders']);
  });

  it('lists every key with --page-size 1, following NextMarker itself, and pages with --max-items', async () => {
    const everyKey = (await native.call('listkeys', { Limit: 1000 })).Keys.map((key: { KeyId: string }) => key.KeyId).sort();
    expect(everyKey.length).to.be.at.least(2);
    const before = await listKeysRequests();
    const listed = await aws('list-keys', '--page-size', '1');
    expect(listed.Keys.map((key: { KeyId: string }) => key.KeyId).sort()).to.deep.equal(everyKey);
    for (const key of listed.Keys) expect(key.KeyArn).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${key.KeyId}`);
    // One request per key (the last page answers Truncated false), each in the audit trail.
    expect((await listKeysRequests()) - before).to.equal(everyKey.length);

    const first = await aws('list-keys', '--page-size', '1', '--max-items', '1');
    expect(first.Keys).to.have.length(1);
    expect(first.NextToken).to.be.a('string');
    const rest = await aws('list-keys', '--page-size', '1', '--starting-token', first.NextToken);
    expect([...first.Keys, ...rest.Keys].map((key: { KeyId: string }) => key.KeyId).sort()).to.deep.equal(everyKey);
  });

  it('schedules a key deletion seven days out', async () => {
    const doomed = (await aws('create-key', '--description', 'cli doomed')).KeyMetadata.KeyId;
    const scheduled = await aws('schedule-key-deletion', '--key-id', doomed, '--pending-window-in-days', '7');
    expect(scheduled).to.include({ KeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${doomed}`, KeyState: 'PendingDeletion', PendingWindowInDays: 7 });
    expect(epochMs(scheduled.DeletionDate) - Date.now()).to.be.within(6.9 * 86_400_000, 7.1 * 86_400_000);
    expect((await aws('describe-key', '--key-id', doomed)).KeyMetadata.KeyState).to.equal('PendingDeletion');
  });

  it('signs and verifies with an ECC_NIST_P256 key; the signature checks out against get-public-key too', async () => {
    const created = await aws('create-key', '--description', 'cli signing', '--key-spec', 'ECC_NIST_P256', '--key-usage', 'SIGN_VERIFY');
    const signingKey = created.KeyMetadata.KeyId;
    expect(created.KeyMetadata.SigningAlgorithms).to.include('ECDSA_SHA_256');
    const message = Buffer.from('release v1.2.3');
    const algorithm = ['--signing-algorithm', 'ECDSA_SHA_256', '--message-type', 'RAW'];
    const signed = await aws('sign', '--key-id', signingKey, '--message', fileb('message.bin', message), ...algorithm);
    const signature = Buffer.from(signed.Signature, 'base64');
    const verified = await aws('verify', '--key-id', signingKey, '--message', fileb('message.bin', message), '--signature', fileb('signature.bin', signature), ...algorithm);
    expect(verified).to.include({ SignatureValid: true, SigningAlgorithm: 'ECDSA_SHA_256' });
    await awsFails('KMSInvalidSignatureException', 'verify', '--key-id', signingKey, '--message', fileb('other.bin', Buffer.from('release v1.2.4')), '--signature', fileb('signature.bin', signature), ...algorithm);

    const publicKey = await aws('get-public-key', '--key-id', signingKey);
    const spki = createPublicKey({ key: Buffer.from(publicKey.PublicKey, 'base64'), format: 'der', type: 'spki' });
    expect(verifySignature('sha256', message, { key: spki, dsaEncoding: 'der' }, signature)).to.equal(true);
  });

  it('reports the AWS errors: an unknown key, a wrong context, a disabled key', async () => {
    const unknown = await awsFails('NotFoundException', 'describe-key', '--key-id', '00000000-0000-4000-8000-000000000000');
    expect(unknown).to.include('DescribeKey');

    const encrypted = await aws('encrypt', '--key-id', keyId, '--plaintext', fileb('small.bin', Buffer.from('context bound')), '--encryption-context', 'a=b');
    await awsFails('InvalidCiphertextException', 'decrypt', '--ciphertext-blob', fileb('bound.bin', Buffer.from(encrypted.CiphertextBlob, 'base64')), '--encryption-context', 'a=c');

    const disabled = (await aws('create-key', '--description', 'cli disabled')).KeyMetadata.KeyId;
    await aws('disable-key', '--key-id', disabled);
    await awsFails('DisabledException', 'encrypt', '--key-id', disabled, '--plaintext', fileb('small.bin', Buffer.from('context bound')));
  });

  /** How many ListKeys requests the audit trail holds. */
  async function listKeysRequests(): Promise<number> {
    const trail = await native.call('listauditevents', { Action: 'ListKeys', Limit: 1000 });
    expect(trail.Truncated).to.equal(false);
    return trail.Events.length;
  }
});

/** A timestamp as the CLI prints it: epoch seconds (version 1 prints the wire value) or ISO 8601 (version 2). */
function epochMs(value: number | string): number {
  const ms = typeof value === 'number' ? value * 1000 : Date.parse(value);
  expect(Number.isNaN(ms), String(value)).to.equal(false);
  return ms;
}

/** Whether the CLI refused a command it does not know (exit 2 in version 1, 252 in version 2). */
function unknownCommand(run: ProcessResult): boolean {
  return (run.code === 2 || run.code === 252) && run.stderr.includes('Invalid choice');
}
