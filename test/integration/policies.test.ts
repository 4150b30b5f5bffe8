import { expect } from 'chai';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { formatKmsDate } from '../../src/protocol/signing.js';
import { actions } from '../../src/api/actions/index.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';

type Signer = { accessKeyId: string; secretKey: Buffer };

/**
 * Who may do what, through the real signed app: a table over every action, with an admin and
 * with credentials whose policies allow by alias, by key id, by `key/*`, with conditions and
 * with an explicit deny; the same through the go-kms prefix. A denial never says whether
 * the key exists.
 */
describe('policies', () => {
  let h: Harness;
  let orders: string; // alias/orders, tag env=dev
  let other: string; // alias/other, tag env=prod
  let blobOfOrders: string;
  let blobOfOther: string;

  before(async () => {
    h = await openHarness();
    orders = (await h.call('createkey', { Tags: [{ TagKey: 'env', TagValue: 'dev' }] }).expect(200)).body.KeyMetadata.KeyId;
    other = (await h.call('createkey', { Tags: [{ TagKey: 'env', TagValue: 'prod' }] }).expect(200)).body.KeyMetadata.KeyId;
    await h.call('createalias', { AliasName: 'alias/orders', TargetKeyId: orders }).expect(200);
    await h.call('createalias', { AliasName: 'alias/other', TargetKeyId: other }).expect(200);
    blobOfOrders = (await h.call('encrypt', { KeyId: orders, Plaintext: 'aGk=', EncryptionContext: { purpose: 'backup' } }).expect(200)).body.CiphertextBlob;
    blobOfOther = (await h.call('encrypt', { KeyId: other, Plaintext: 'aGk=', EncryptionContext: { purpose: 'backup' } }).expect(200)).body.CiphertextBlob;
  });
  after(async () => h.close());

  async function credentialWith(policy: object): Promise<Signer> {
    const { credential, secretKey } = await h.credentials.create({ description: 'policy test', policy }, { principal: 'test' });
    return { accessKeyId: credential.AccessKeyId, secretKey };
  }

  const call = (signer: Signer, action: string, body: object, prefix = 'kms') =>
    h.post(`/api/v1/${prefix}/${action}?nonce=${randomUUID()}`, body, { credential: signer });

  /** A request for every action, acting on `key` (the orders key unless said otherwise). */
  function requests(key: string, blob: string): Record<string, object> {
    return {
      createkey: {},
      describekey: { KeyId: key },
      updatekeydescription: { KeyId: key, Description: 'policy test' },
      getkeypolicy: { KeyId: key },
      listkeypolicies: { KeyId: key },
      putkeypolicy: { KeyId: key, Policy: '{}' },
      listkeys: {},
      enablekey: { KeyId: key },
      disablekey: { KeyId: key },
      schedulekeydeletion: { KeyId: key, PendingWindowInDays: 7 },
      cancelkeydeletion: { KeyId: key },
      encrypt: { KeyId: key, Plaintext: 'aGk=', EncryptionContext: { purpose: 'backup' } },
      decrypt: { CiphertextBlob: blob, EncryptionContext: { purpose: 'backup' } },
      reencrypt: { CiphertextBlob: blob, SourceEncryptionContext: { purpose: 'backup' }, DestinationKeyId: key },
      generatedatakey: { KeyId: key, KeySpec: 'AES_256', EncryptionContext: { purpose: 'backup' } },
      generatedatakeywithoutplaintext: { KeyId: key, KeySpec: 'AES_256', EncryptionContext: { purpose: 'backup' } },
      generaterandom: { NumberOfBytes: 8 },
      rotatekeyondemand: { KeyId: key },
      enablekeyrotation: { KeyId: key },
      disablekeyrotation: { KeyId: key },
      getkeyrotationstatus: { KeyId: key },
      listkeyrotations: { KeyId: key },
      createalias: { AliasName: `alias/new-${randomUUID()}`, TargetKeyId: key },
      updatealias: { AliasName: 'alias/nonexistent-for-policy-test', TargetKeyId: key },
      deletealias: { AliasName: 'alias/nonexistent-for-policy-test' },
      listaliases: {},
      tagresource: { KeyId: key, Tags: [{ TagKey: 'x', TagValue: 'y' }] },
      untagresource: { KeyId: key, TagKeys: ['x'] },
      listresourcetags: { KeyId: key },
      getpublickey: { KeyId: key },
      sign: { KeyId: key, Message: 'aGk=', SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
      verify: { KeyId: key, Message: 'aGk=', Signature: 'aGk=', SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
      createcredential: { Description: 'x', Admin: true },
      listcredentials: {},
      describecredential: { AccessKeyId: 'KHNOSUCHCREDENTIAL0' },
      updatecredentialpolicy: { AccessKeyId: 'KHNOSUCHCREDENTIAL0', Policy: { Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' }] } },
      enablecredential: { AccessKeyId: 'KHNOSUCHCREDENTIAL0' },
      disablecredential: { AccessKeyId: 'KHNOSUCHCREDENTIAL0' },
      deletecredential: { AccessKeyId: 'KHNOSUCHCREDENTIAL0' },
      listauditevents: { Limit: 1 },
      generatedatakeypair: { KeyId: key, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: { purpose: 'backup' } },
      generatedatakeypairwithoutplaintext: { KeyId: key, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: { purpose: 'backup' } },
      generatemac: { KeyId: key, Message: 'aGk=', MacAlgorithm: 'HMAC_SHA_256' },
      verifymac: { KeyId: key, Message: 'aGk=', Mac: 'aGk=', MacAlgorithm: 'HMAC_SHA_256' },
      getparametersforimport: { KeyId: key, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' },
      importkeymaterial: { KeyId: key, ImportToken: 'aGk=', EncryptedKeyMaterial: 'aGk=', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
      deleteimportedkeymaterial: { KeyId: key },
      // A batch needs exactly its items' permissions: one item each, denied in its slot.
      batchencrypt: { Items: [{ KeyId: key, Plaintext: 'aGk=', EncryptionContext: { purpose: 'backup' } }] },
      batchdecrypt: { Items: [{ CiphertextBlob: blob, EncryptionContext: { purpose: 'backup' } }] },
      batchreencrypt: { Items: [{ CiphertextBlob: blob, SourceEncryptionContext: { purpose: 'backup' }, DestinationKeyId: key }] },
      batchgeneratedatakey: { Items: [{ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { purpose: 'backup' } }] },
    };
  }

  it('covers every action in this table', () => {
    expect(Object.keys(requests(randomUUID(), 'x')).sort()).to.deep.equal([...actions.keys()].sort());
  });

  /** Runs every action; the set of actions not answered 403 (the others must be AccessDeniedException). */
  async function allowedActions(signer: Signer, key: string, blob: string, prefix = 'kms'): Promise<string[]> {
    const allowed: string[] = [];
    // State changes last, and the deletion cancelled, so the keys stay usable for the next rows.
    for (const [action, body] of Object.entries(requests(key, blob))) {
      const res = await call(signer, action, body, prefix);
      const itemError = action.startsWith('batch') && res.status === 200 ? res.body.Results[0].Error : undefined;
      if (res.status === 403) expect(res.body.__type, action).to.equal('AccessDeniedException');
      else if (itemError?.__type === 'AccessDeniedException') expect(res.body.Results).to.have.length(1);
      else allowed.push(action);
      if (action === 'schedulekeydeletion' && res.status === 200) await h.call('cancelkeydeletion', { KeyId: key }).expect(200);
      if (action === 'cancelkeydeletion' || action === 'disablekey') await h.call('enablekey', { KeyId: key }).expect(200);
    }
    return allowed.sort();
  }

  const admin = () => h.credential;
  // kms:GenerateDataKey* also names kms:GenerateDataKeyPair and kms:GenerateDataKeyPairWithoutPlaintext, as in AWS.
  const cryptoOnly = [
    'batchdecrypt',
    'batchencrypt',
    'batchgeneratedatakey',
    'decrypt',
    'encrypt',
    'generatedatakey',
    'generatedatakeypair',
    'generatedatakeypairwithoutplaintext',
    'generatedatakeywithoutplaintext',
  ];

  it('lets an admin call every action', async () => {
    expect(await allowedActions(admin(), orders, blobOfOrders)).to.deep.equal([...actions.keys()].sort());
  });

  it('by alias: allows only what the statement names, on the key that has the alias, and denies the other key', async () => {
    const signer = await credentialWith({
      Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*'], Resource: 'alias/orders' }],
    });
    expect(await allowedActions(signer, orders, blobOfOrders)).to.deep.equal(cryptoOnly);
    expect(await allowedActions(signer, other, blobOfOther)).to.deep.equal([]);
    // However the request names the key: by alias, by id, by resource name.
    for (const keyId of ['alias/orders', orders, `keyhold:key/${orders}`]) {
      await call(signer, 'encrypt', { KeyId: keyId, Plaintext: 'aGk=' }).expect(200);
    }
  });

  it('by key id, and through the go-kms prefix the same', async () => {
    const signer = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: `key/${orders}` }] });
    const onOrders = await allowedActions(signer, orders, blobOfOrders);
    expect(onOrders).to.include.members([...cryptoOnly, 'describekey', 'enablekey', 'tagresource', 'getkeyrotationstatus', 'reencrypt', 'batchreencrypt', 'createalias']);
    expect(onOrders).not.to.include.members(['createkey', 'listkeys', 'generaterandom', 'createcredential', 'listauditevents', 'listaliases']);
    expect(await allowedActions(signer, other, blobOfOther)).to.deep.equal([]);
    for (const action of ['encrypt', 'decrypt', 'describekey']) {
      const body = requests(other, blobOfOther)[action]!;
      const res = await call(signer, action, body, 'go-kms');
      expect(res.status, action).to.equal(403);
      await call(signer, action, requests(orders, blobOfOrders)[action]!, 'go-kms').expect(200);
    }
  });

  it('key/* with a tag condition, and an explicit Deny beating the Allow', async () => {
    const signer = await credentialWith({
      Statement: [
        { Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: 'key/*' },
        { Effect: 'Deny', Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } } },
      ],
    });
    expect(await allowedActions(signer, orders, blobOfOrders)).to.deep.equal(['batchdecrypt', 'batchencrypt', 'decrypt', 'describekey', 'encrypt']);
    expect(await allowedActions(signer, other, blobOfOther)).to.deep.equal([]);
  });

  it('an encryption-context condition: generatedatakey only with purpose=backup', async () => {
    const signer = await credentialWith({
      Statement: [{ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'backup' } } }],
    });
    await call(signer, 'generatedatakey', { KeyId: orders, KeySpec: 'AES_256', EncryptionContext: { purpose: 'backup' } }).expect(200);
    await call(signer, 'generatedatakey', { KeyId: orders, KeySpec: 'AES_256', EncryptionContext: { purpose: 'other' } }).expect(403);
    await call(signer, 'generatedatakey', { KeyId: orders, KeySpec: 'AES_256' }).expect(403);
    await call(signer, 'encrypt', { KeyId: orders, Plaintext: 'aGk=', EncryptionContext: { purpose: 'backup' } }).expect(403);
  });

  it('reencrypt needs ReEncryptFrom on the blob’s key and ReEncryptTo on the destination', async () => {
    const fromOnly = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'kms:ReEncryptFrom', Resource: 'alias/orders' }] });
    const both = await credentialWith({
      Statement: [
        { Effect: 'Allow', Action: 'kms:ReEncryptFrom', Resource: 'alias/orders' },
        { Effect: 'Allow', Action: 'kms:ReEncryptTo', Resource: 'alias/other' },
      ],
    });
    const body = { CiphertextBlob: blobOfOrders, SourceEncryptionContext: { purpose: 'backup' }, DestinationKeyId: 'alias/other' };
    await call(fromOnly, 'reencrypt', body).expect(403);
    await call(both, 'reencrypt', body).expect(200);
    await call(both, 'reencrypt', { ...body, CiphertextBlob: blobOfOther }).expect(403);
  });

  it('an auditor may read the trail and nothing else', async () => {
    const auditor = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'keyhold:ListAuditEvents', Resource: '*' }] });
    expect(await allowedActions(auditor, orders, blobOfOrders)).to.deep.equal(['listauditevents']);
  });

  it('answers a denial byte for byte the same for an existing key, a missing key and a missing alias', async () => {
    const signer = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: 'alias/orders' }] });
    const bodies: string[] = [];
    for (const keyId of [other, randomUUID(), 'alias/does-not-exist', `keyhold:key/${randomUUID()}`]) {
      const res = await call(signer, 'describekey', { KeyId: keyId }).expect(403);
      bodies.push(res.text);
      const decrypt = await call(signer, 'decrypt', { CiphertextBlob: keyId === other ? blobOfOther : randomBytes(120).toString('base64') });
      expect(decrypt.status).to.equal(403);
    }
    expect(new Set(bodies).size).to.equal(1);
  });

  it('records each denial in the audit trail', async () => {
    const signer = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: 'alias/orders' }] });
    await call(signer, 'disablekey', { KeyId: orders }).expect(403);
    const events = await h.store.listAudit();
    expect(events[events.length - 1]).to.include({ Principal: signer.accessKeyId, Action: 'DisableKey', Outcome: 'AccessDeniedException' });
  });

  it("shows a credential's LastUsedDate once it was used, and never its secret", async () => {
    const signer = await credentialWith({ Statement: [{ Effect: 'Allow', Action: 'kms:GenerateRandom', Resource: '*' }] });
    expect((await h.call('describecredential', { AccessKeyId: signer.accessKeyId }).expect(200)).body.Credential.LastUsedDate).to.equal(undefined);
    await call(signer, 'generaterandom', { NumberOfBytes: 4 }).expect(200);
    let described: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 50 && described.LastUsedDate === undefined; attempt++) {
      described = (await h.call('describecredential', { AccessKeyId: signer.accessKeyId }).expect(200)).body.Credential;
    }
    expect(described).to.include({ AccessKeyId: signer.accessKeyId, Admin: false, Enabled: true });
    expect(Date.parse(described.LastUsedDate as string)).to.be.closeTo(Date.now(), 60_000);
    expect(JSON.stringify(described)).not.to.include(signer.secretKey.toString('base64'));
  });

  it('refuses a malformed policy on write, naming the statement, and stores nothing', async () => {
    const before = (await h.call('listcredentials', {}).expect(200)).body.Credentials.length;
    for (const policy of [
      { Statement: [{ Effect: 'Allow', Action: 'kms:Encrpyt', Resource: '*' }] },
      { Statement: [] },
      { Statement: [{ Effect: 'Maybe', Action: 'kms:Encrypt', Resource: '*' }] },
      'not json',
    ]) {
      const res = await h.call('createcredential', { Description: 'bad', Policy: policy }).expect(400);
      expect(res.body.__type).to.equal('ValidationException');
      expect(res.body.message).to.match(/Statement|Policy/);
    }
    expect((await h.call('listcredentials', {}).expect(200)).body.Credentials.length).to.equal(before);
  });
});

describe("the go-kms legacy principal under KEYHOLD_GOKMS_POLICY_FILE's policy", () => {
  const GO_KMS_KEY = 'go-kms shared auth key for the policy test';
  let h: Harness;
  before(async () => {
    h = await openHarness({ goKmsAuthKey: GO_KMS_KEY, goKmsPolicy: { Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: 'alias/legacy' }] } });
  });
  after(async () => h.close());

  it('may do what the policy allows and nothing else', async () => {
    const allowed = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    const other = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    await h.call('createalias', { AliasName: 'alias/legacy', TargetKeyId: allowed }).expect(200);
    const legacyPath = '/api/v1/go-kms/encrypt';
    const send = (keyId: string, path = legacyPath) => {
      const date = formatKmsDate(new Date());
      const signature = createHmac('sha256', Buffer.from(GO_KMS_KEY)).update(`POST\n${date}\n${path}`).digest('base64');
      return request(h.app).post(path).set({ Authorization: signature, 'x-kms-date': date }).send(JSON.stringify({ KeyID: keyId, Plaintext: 'Z28=' }));
    };
    await send(allowed).expect(200);
    expect((await send(other).expect(403)).body.__type).to.equal('AccessDeniedException');
    expect((await send(allowed, '/api/v1/go-kms/createkey').expect(403)).body.__type).to.equal('AccessDeniedException');
  });
});
