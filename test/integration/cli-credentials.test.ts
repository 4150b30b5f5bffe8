import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';
import { rememberSecret } from '../helpers/secrets.js';

const ORDERS_POLICY = { Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: 'alias/orders' }] };
const OTHER_POLICY = { Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt'], Resource: 'alias/other' }] };

describe('keyhold credentials, against a real server', function () {
  this.timeout(120_000);
  let h: CliServer;
  /** Secrets of the credentials this suite made: they must show nowhere but where they are handed out. */
  const secrets: string[] = [];
  let ordersId: string;

  /** `keyhold` signing with the credentials file `file` (relative to the server's directory). */
  const as = (file: string, args: string[]) => h.keyhold(['--credentials', file, ...args]);
  const credentialCount = async () => (await h.admin.listCredentials({ limit: 1000 })).credentials.length;

  function expectApiError(result: { code: number | null; stderr: string }, type: string): void {
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.match(new RegExp(`^Error: ${type}: `));
  }

  before(async () => {
    h = await startCliServer('credentials cli suite passphrase');
    for (const name of ['orders', 'other']) {
      const key = await h.admin.createKey({ description: name });
      await h.admin.call('createalias', { AliasName: `alias/${name}`, TargetKeyId: key.KeyId });
    }
    writeFileSync(path.join(h.cwd, 'orders-policy.json'), JSON.stringify(ORDERS_POLICY));
    writeFileSync(path.join(h.cwd, 'other-policy.json'), JSON.stringify(OTHER_POLICY));
  });
  after(() => h.close());

  it('create --policy-file --out writes a 0600 credentials file naming the server in use, and never overwrites one', async () => {
    const created = await h.keyhold(['credentials', 'create', '--description', 'orders service', '--policy-file', 'orders-policy.json', '--out', 'orders.credentials']);
    expect(created.code, created.stderr).to.equal(0);
    const answer = JSON.parse(created.stdout.toString());
    expect(answer).to.have.all.keys('Credential');
    expect(answer.Credential).to.include({ Description: 'orders service', Admin: false, Enabled: true });
    expect(answer.Credential.Policy).to.deep.equal(ORDERS_POLICY);
    ordersId = answer.Credential.AccessKeyId;

    const file = path.join(h.cwd, 'orders.credentials');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    secrets.push(written.SecretKey);
    rememberSecret(written.SecretKey);
    expect(written).to.include({ AccessKeyId: ordersId, Url: h.adminCredentials.Url, CertSha256: h.adminCredentials.CertSha256 });
    expect(Buffer.from(written.SecretKey, 'base64')).to.have.length(32);
    expect(created.stdout.toString()).to.not.contain(written.SecretKey);

    const before = await credentialCount();
    const again = await h.keyhold(['credentials', 'create', '--policy-file', 'orders-policy.json', '--out', 'orders.credentials']);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/^Error: UsageError: orders.credentials exists/);
    expect(readFileSync(file, 'utf8')).to.equal(JSON.stringify(written, null, 2) + '\n');
    expect(await credentialCount(), 'no credential was made').to.equal(before);
  });

  it('the new credential encrypts under the allowed alias and gets AccessDeniedException elsewhere', async () => {
    const blob = await as('orders.credentials', ['encrypt', '--key-id', 'alias/orders', '--plaintext', 'order 17']);
    expect(blob.code, blob.stderr).to.equal(0);
    const plain = await h.keyhold(['--credentials', 'orders.credentials', 'decrypt'], { input: blob.stdout });
    expect(plain.stdout.toString()).to.equal('order 17');
    expectApiError(await as('orders.credentials', ['encrypt', '--key-id', 'alias/other', '--plaintext', 'x']), 'AccessDeniedException');
    expectApiError(await as('orders.credentials', ['keys', 'create']), 'AccessDeniedException');
    expectApiError(await as('orders.credentials', ['credentials', 'list']), 'AccessDeniedException');
  });

  it('create without --out prints the secret once; list and describe never show a secret', async () => {
    const created = await h.json(['credentials', 'create', '--description', 'inline', '--policy', JSON.stringify(OTHER_POLICY)]);
    secrets.push(created.SecretKey);
    rememberSecret(created.SecretKey);
    expect(Buffer.from(created.SecretKey, 'base64')).to.have.length(32);
    expect(created.Credential).to.include({ Description: 'inline', Admin: false });

    const list = await h.keyhold(['credentials', 'list', '--limit', '1000']);
    const ids = JSON.parse(list.stdout.toString()).Credentials.map((c: { AccessKeyId: string }) => c.AccessKeyId);
    expect(ids).to.include.members([ordersId, created.Credential.AccessKeyId, h.adminCredentials.AccessKeyId]);
    const described = await h.keyhold(['credentials', 'describe', ordersId]);
    expect(JSON.parse(described.stdout.toString()).Credential).to.include({ AccessKeyId: ordersId, Description: 'orders service' });
    const table = await h.keyhold(['--output', 'table', 'credentials', 'list']);
    expect(table.stdout.toString().split('\n')[0]).to.match(/^AccessKeyId\s+Enabled\s+Admin\s+Description/);
    for (const shown of [list, described, table]) {
      expect(shown.stdout.toString()).to.not.match(/SecretKey/);
      for (const secret of [...secrets, h.adminCredentials.SecretKey]) expect(shown.stdout.toString()).to.not.contain(secret);
    }
  });

  it('update-policy changes what the credential may do', async () => {
    await h.quiet(['credentials', 'update-policy', ordersId, '--policy-file', 'other-policy.json']);
    expect((await h.json(['credentials', 'describe', ordersId])).Credential.Policy).to.deep.equal(OTHER_POLICY);
    expect((await as('orders.credentials', ['encrypt', '--key-id', 'alias/other', '--plaintext', 'x'])).code).to.equal(0);
    expectApiError(await as('orders.credentials', ['encrypt', '--key-id', 'alias/orders', '--plaintext', 'x']), 'AccessDeniedException');
  });

  it('disable refuses its requests with UnrecognizedClientException, enable accepts them again, delete ends it', async () => {
    const encrypt = () => as('orders.credentials', ['encrypt', '--key-id', 'alias/other', '--plaintext', 'x']);
    await h.quiet(['credentials', 'disable', ordersId]);
    expectApiError(await encrypt(), 'UnrecognizedClientException');
    expect((await h.json(['credentials', 'describe', ordersId])).Credential.Enabled).to.equal(false);
    expect(await h.json(['--output', 'json', 'credentials', 'enable', ordersId])).to.deep.equal({});
    expect((await encrypt()).code).to.equal(0);
    await h.quiet(['credentials', 'delete', ordersId]);
    expectApiError(await encrypt(), 'UnrecognizedClientException');
    expectApiError(await h.keyhold(['credentials', 'describe', ordersId]), 'NotFoundException');
  });

  it('refuses a missing, doubled or malformed policy with exit 2 before anything is made', async () => {
    const before = await credentialCount();
    writeFileSync(path.join(h.cwd, 'broken.json'), '{"Statement": [');
    const cases: [string[], RegExp][] = [
      [['credentials', 'create'], /give --policy-file FILE or --policy JSON/],
      [['credentials', 'create', '--admin', '--policy-file', 'orders-policy.json'], /--admin takes no policy/],
      [['credentials', 'create', '--policy-file', 'orders-policy.json', '--policy', '{}'], /not both/],
      [['credentials', 'create', '--policy-file', 'broken.json'], /--policy-file broken.json is not valid JSON/],
      [['credentials', 'create', '--policy', '[]'], /must hold a JSON object/],
      [['credentials', 'create', '--policy-file', 'missing.json'], /ENOENT/],
      [['credentials', 'create', '--policy-file', 'orders-policy.json', '--out', 'no-such-dir/x.credentials'], /cannot write/],
      [['credentials', 'update-policy', h.adminCredentials.AccessKeyId], /give --policy-file FILE or --policy JSON/],
    ];
    for (const [args, message] of cases) {
      const result = await h.keyhold(args);
      expect(result.code, args.join(' ')).to.equal(2);
      expect(result.stderr, args.join(' ')).to.match(message);
    }
    expect(existsSync(path.join(h.cwd, 'no-such-dir'))).to.equal(false);
    expect(await credentialCount()).to.equal(before);
  });

  it('KeyholdClient manages credentials too: the secret comes back as 32 bytes, once', async () => {
    const { credential, secretKey } = await h.admin.createCredential({ description: 'from the client', policy: ORDERS_POLICY });
    rememberSecret(secretKey);
    secrets.push(secretKey.toString('base64'));
    expect(secretKey).to.have.length(32);
    const client = new KeyholdClient({ url: h.adminCredentials.Url, certSha256: h.adminCredentials.CertSha256, accessKeyId: credential.AccessKeyId, secretKey });
    try {
      expect((await client.encrypt({ keyId: 'alias/orders', plaintext: Buffer.from('x') })).keyId).to.be.a('string');
      expect((await h.admin.describeCredential(credential.AccessKeyId)).Description).to.equal('from the client');
      expect((await h.admin.updateCredentialPolicy(credential.AccessKeyId, JSON.stringify(OTHER_POLICY))).Policy).to.deep.equal(OTHER_POLICY);
      await h.admin.disableCredential(credential.AccessKeyId);
      expect((await h.admin.describeCredential(credential.AccessKeyId)).Enabled).to.equal(false);
      await h.admin.enableCredential(credential.AccessKeyId);
      expect((await client.encrypt({ keyId: 'alias/other', plaintext: Buffer.from('x') })).keyId).to.be.a('string');
      await h.admin.deleteCredential(credential.AccessKeyId);
      const gone = await h.admin.describeCredential(credential.AccessKeyId).catch((error: unknown) => error);
      expect(gone).to.be.instanceOf(KeyholdApiError).with.property('type', 'NotFoundException');
    } finally {
      client.close();
    }
  });

  it('no secret of a new credential appears on any stderr or in the server log', () => {
    const stderr = h.stderrs.join('');
    const log = h.server.stdout() + h.server.stderr();
    expect(secrets).to.have.length.above(2);
    expect(h.stderrs.length).to.be.above(20);
    for (const secret of secrets) {
      expect(stderr, 'stderr').to.not.contain(secret);
      expect(log, 'server log').to.not.contain(secret);
    }
  });
});
