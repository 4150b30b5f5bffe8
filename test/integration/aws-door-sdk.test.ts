import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisabledException,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  GetPublicKeyCommand,
  InvalidCiphertextException,
  KMSClient,
  KMSServiceException,
  ListAliasesCommand,
  ListKeyPoliciesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  NotFoundException,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UnsupportedOperationException,
  UpdateKeyDescriptionCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';

/** @aws-sdk/client-kms, unchanged, pointed at a real Keyhold server process: only the endpoint, the CA and the credentials are ours. */
describe('the AWS door, with @aws-sdk/client-kms against a real server', function () {
  this.timeout(120_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let kms: KMSClient;
  let native: KeyholdClient;
  let admin: { AccessKeyId: string; SecretKey: string };

  function clientFor(credentials: { AccessKeyId: string; SecretKey: string }, region = REGION): KMSClient {
    const ca = readFileSync(path.join(work.path, 'data', 'tls-cert.pem'));
    return new KMSClient({
      endpoint: server.url,
      region,
      credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretKey },
      requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca }) }),
      maxAttempts: 1,
    });
  }

  before(async () => {
    work = makeTempDir('keyhold-aws-door-');
    const passphrase = 'aws door passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(work.path, 'data'), KEYHOLD_PASSPHRASE: passphrase }, work.path);
    admin = JSON.parse(readFileSync(path.join(work.path, 'data', 'admin.credentials'), 'utf8'));
    rememberSecret(admin.SecretKey);
    kms = clientFor(admin);
    native = KeyholdClient.fromCredentialsFile(path.join(work.path, 'data', 'admin.credentials'));
  });

  after(async () => {
    kms?.destroy();
    native?.close();
    await server?.stop();
    work?.remove();
  });

  it('creates a key and an alias; DescribeKey answers AWS ARNs, the account and Date timestamps', async () => {
    const created = await kms.send(new CreateKeyCommand({ Description: 'orders', Tags: [{ TagKey: 'team', TagValue: 'orders' }] }));
    const keyId = created.KeyMetadata!.KeyId!;
    expect(created.KeyMetadata!.Arn).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    expect(created.KeyMetadata!.AWSAccountId).to.equal(ACCOUNT);
    expect(created.KeyMetadata!.CreationDate).to.be.instanceOf(Date);
    expect(Math.abs(created.KeyMetadata!.CreationDate!.getTime() - Date.now())).to.be.below(60_000);
    expect(created.KeyMetadata).to.include({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', KeyState: 'Enabled', Enabled: true });
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: keyId }));
    for (const form of [keyId, 'alias/orders', `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/orders`]) {
      const described = await kms.send(new DescribeKeyCommand({ KeyId: form }));
      expect(described.KeyMetadata!.KeyId, form).to.equal(keyId);
    }
    const aliases = await kms.send(new ListAliasesCommand({ KeyId: keyId }));
    expect(aliases.Aliases!.map((alias) => [alias.AliasName, alias.AliasArn, alias.TargetKeyId])).to.deep.equal([
      ['alias/orders', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/orders`, keyId],
    ]);
    expect(aliases.Aliases![0]!.CreationDate).to.be.instanceOf(Date);
  });

  it('encrypts, decrypts and re-encrypts with a context, and makes data keys; KeyId comes back as the key ARN', async () => {
    const context = { table: 'orders', row: '42' };
    const plaintext = Buffer.from('4111 1111 1111 1111');
    const encrypted = await kms.send(new EncryptCommand({ KeyId: 'alias/orders', Plaintext: plaintext, EncryptionContext: context }));
    const keyArn = encrypted.KeyId!;
    expect(keyArn).to.match(new RegExp(`^arn:aws:kms:${REGION}:${ACCOUNT}:key/[0-9a-f-]{36}$`));
    expect(encrypted.EncryptionAlgorithm).to.equal('SYMMETRIC_DEFAULT');
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(decrypted.Plaintext!).equals(plaintext)).to.equal(true);
    expect(decrypted.KeyId).to.equal(keyArn);

    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const reEncrypted = await kms.send(new ReEncryptCommand({
      CiphertextBlob: encrypted.CiphertextBlob, SourceEncryptionContext: context, DestinationKeyId: other, DestinationEncryptionContext: { moved: 'yes' },
    }));
    expect(reEncrypted.SourceKeyId).to.equal(keyArn);
    expect(reEncrypted.KeyId).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${other}`);
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: reEncrypted.CiphertextBlob, EncryptionContext: { moved: 'yes' } }));
    expect(Buffer.from(again.Plaintext!).equals(plaintext)).to.equal(true);

    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/orders', KeySpec: 'AES_256' }));
    expect(dataKey.Plaintext).to.have.length(32);
    const unwrapped = await kms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }));
    expect(Buffer.from(unwrapped.Plaintext!).equals(Buffer.from(dataKey.Plaintext!))).to.equal(true);
    const withoutPlaintext = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyArn, NumberOfBytes: 16 }));
    expect((await kms.send(new DecryptCommand({ CiphertextBlob: withoutPlaintext.CiphertextBlob }))).Plaintext).to.have.length(16);
  });

  it('decrypts through either door what the other encrypted (one ciphertext format)', async () => {
    const plaintext = Buffer.from('both doors');
    const viaNative = await native.encrypt({ keyId: 'alias/orders', plaintext, encryptionContext: { door: 'native' } });
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: viaNative.ciphertextBlob, EncryptionContext: { door: 'native' } }));
    expect(Buffer.from(decrypted.Plaintext!).equals(plaintext)).to.equal(true);
    const viaAws = await kms.send(new EncryptCommand({ KeyId: 'alias/orders', Plaintext: plaintext, EncryptionContext: { door: 'aws' } }));
    const back = await native.decrypt({ ciphertextBlob: Buffer.from(viaAws.CiphertextBlob!), encryptionContext: { door: 'aws' } });
    expect(back.plaintext.equals(plaintext)).to.equal(true);
  });

  it('rotates, tags, updates the description and answers the fixed key policy', async () => {
    const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/orders' }))).KeyMetadata!.KeyId!;
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    expect(rotations.Rotations).to.have.length(1);
    expect(rotations.Rotations![0]!.RotationDate).to.be.instanceOf(Date);
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    expect(status.KeyRotationEnabled).to.equal(false);
    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'env', TagValue: 'test' }] }));
    const tags = await kms.send(new ListResourceTagsCommand({ KeyId: keyId }));
    expect(tags.Tags!.map((tag) => `${tag.TagKey}=${tag.TagValue}`)).to.deep.equal(['env=test', 'team=orders']);
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: keyId, Description: 'orders, renamed' }));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Description).to.equal('orders, renamed');
    const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId }));
    expect(JSON.parse(policy.Policy!).Statement[0].Principal.AWS).to.equal(`arn:aws:iam::${ACCOUNT}:root`);
    expect((await kms.send(new ListKeyPoliciesCommand({ KeyId: keyId }))).PolicyNames).to.deep.equal(['default']);
    const refused = await rejectionOf(kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: '{}' })), UnsupportedOperationException);
    expect(refused.message).to.include('credential');
  });

  it('accepts the ARN forms on the native API too; another account\'s ARN is NotFoundException there as well', async () => {
    const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/orders' }))).KeyMetadata!.KeyId!;
    for (const form of [`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/orders`]) {
      expect((await native.call('describekey', { KeyId: form })).KeyMetadata.KeyId, form).to.equal(keyId);
    }
    const refused = await native.call('describekey', { KeyId: `arn:aws:kms:${REGION}:999999999999:key/${keyId}` }).then(() => undefined, (error: { type?: string }) => error);
    expect(refused).to.include({ type: 'NotFoundException' });
  });

  it('makes a local key for Origin AWS_KMS, and refuses a key policy or a multi-Region key instead of ignoring it', async () => {
    const created = await kms.send(new CreateKeyCommand({ Origin: 'AWS_KMS' }));
    expect(created.KeyMetadata!.KeyState).to.equal('Enabled');
    const encrypted = await kms.send(new EncryptCommand({ KeyId: created.KeyMetadata!.KeyId, Plaintext: Buffer.from('local') }));
    expect(encrypted.CiphertextBlob!.length).to.be.above(5);
    const before = (await native.call('listkeys', { Limit: 1000 })).Keys.length;
    for (const request of [{ Policy: '{"Version":"2012-10-17","Statement":[]}' }, { MultiRegion: true }]) {
      const error = await rejectionOf(kms.send(new CreateKeyCommand(request)), UnsupportedOperationException);
      expect(error.message).to.match(/key policies|multi-Region/);
    }
    expect((await native.call('listkeys', { Limit: 1000 })).Keys.length).to.equal(before);
  });

  it('lists keys page by page with Limit and Marker', async () => {
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await kms.send(new ListKeysCommand({ Limit: 1, Marker: marker }));
      expect(page.Keys).to.have.length(1);
      expect(Object.keys(page.Keys![0]!).sort()).to.deep.equal(['KeyArn', 'KeyId']);
      expect(page.Keys![0]!.KeyArn).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${page.Keys![0]!.KeyId}`);
      seen.push(page.Keys![0]!.KeyId!);
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker !== undefined);
    expect(seen.length).to.be.at.least(2);
    expect(new Set(seen).size).to.equal(seen.length);
  });

  it('schedules a deletion and answers its date as a Date', async () => {
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    expect(scheduled.KeyState).to.equal('PendingDeletion');
    expect(scheduled.DeletionDate).to.be.instanceOf(Date);
    expect(scheduled.DeletionDate!.getTime() - Date.now()).to.be.within(6.9 * 86_400_000, 7.1 * 86_400_000);
  });

  it('signs and verifies with an asymmetric key, and gives its public key', async () => {
    const key = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
    const keyId = key.KeyMetadata!.KeyId!;
    const message = Buffer.from('sign me');
    const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const verified = await kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(verified.SignatureValid).to.equal(true);
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    expect(publicKey.KeySpec).to.equal('ECC_NIST_P256');
    expect(publicKey.PublicKey!.length).to.be.above(60);
  });

  it('raises the AWS error classes: unknown key, wrong context, disabled key, an action Keyhold lacks', async () => {
    await rejectionOf(kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })), NotFoundException);
    await rejectionOf(kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/orders` })), NotFoundException);
    const encrypted = await kms.send(new EncryptCommand({ KeyId: 'alias/orders', Plaintext: Buffer.from('x'), EncryptionContext: { a: 'b' } }));
    await rejectionOf(kms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: { a: 'c' } })), InvalidCiphertextException);
    const disabled = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new DisableKeyCommand({ KeyId: disabled }));
    const error = await rejectionOf(kms.send(new EncryptCommand({ KeyId: disabled, Plaintext: Buffer.from('x') })), DisabledException);
    expect(error.$metadata.httpStatusCode).to.equal(400);
    expect(error.$metadata.requestId).to.match(/^[0-9a-f-]{36}$/);
    const unsupported = await rejectionOf(kms.send(new CreateGrantCommand({ KeyId: disabled, GranteePrincipal: 'x', Operations: ['Decrypt'] })), UnsupportedOperationException);
    expect(unsupported.message).to.equal('Keyhold does not support CreateGrant');
  });

  it('gives a restricted credential AccessDeniedException through this door as through the native one, both in the audit trail', async () => {
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: 'alias/orders' }] };
    const created = await native.call('createcredential', { Description: 'orders app', Policy: policy });
    rememberSecret(created.SecretKey);
    const accessKeyId = created.Credential.AccessKeyId as string;
    const restricted = clientFor({ AccessKeyId: accessKeyId, SecretKey: created.SecretKey });
    try {
      const encrypted = await restricted.send(new EncryptCommand({ KeyId: 'alias/orders', Plaintext: Buffer.from('ok') }));
      expect(encrypted.CiphertextBlob).to.be.instanceOf(Uint8Array);
      // client-kms models no AccessDeniedException: it raises its base class with the AWS name, as against AWS.
      // One after the other: the trail's order below is the order they were answered in.
      for (const send of [() => restricted.send(new CreateKeyCommand({})), () => restricted.send(new ScheduleKeyDeletionCommand({ KeyId: 'alias/orders', PendingWindowInDays: 7 }))]) {
        const error = await rejectionOf(send(), KMSServiceException);
        expect(error.name).to.equal('AccessDeniedException');
        expect(error.$metadata.httpStatusCode).to.equal(400);
      }
      const nativeRestricted = new KeyholdClient({ url: server.url, accessKeyId, secretKey: Buffer.from(created.SecretKey, 'base64'), certSha256: server.certSha256 });
      try {
        const refused = await nativeRestricted.call('createkey', {}).then(() => undefined, (error: { type?: string; status?: number }) => error);
        expect(refused).to.include({ type: 'AccessDeniedException', status: 403 });
      } finally {
        nativeRestricted.close();
      }
      const trail = await native.call('listauditevents', { Principal: accessKeyId, Limit: 1000 });
      const denials = trail.Events.filter((event: { Outcome: string }) => event.Outcome === 'AccessDeniedException').map((event: { Action: string }) => event.Action);
      expect(denials).to.deep.equal(['CreateKey', 'ScheduleKeyDeletion', 'CreateKey']);
    } finally {
      restricted.destroy();
    }
  });
});
