import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { verifyAuditTrail } from '../../src/audit/verify-trail.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { rememberSecret } from '../helpers/secrets.js';

type Signer = { accessKeyId: string; secretKey: Buffer };

/** A plaintext the test suite's leak checks look for: it must never reach a log or a record. */
function secret(text: string): string {
  rememberSecret(text);
  return Buffer.from(text).toString('base64');
}

/**
 * The batch actions through the real signed app on a real store: per-item answers and errors
 * in the items' order, the envelope's own refusals, the body limits, per-item policy and one
 * audit record per request that lists its items.
 */
describe('batch actions', function () {
  this.timeout(180_000);
  let h: Harness;
  let keyA: string;
  let keyB: string;
  let disabled: string;

  before(async () => {
    h = await openHarness();
    keyA = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    keyB = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    disabled = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    await h.call('createalias', { AliasName: 'alias/batch-b', TargetKeyId: keyB }).expect(200);
    await h.call('disablekey', { KeyId: disabled }).expect(200);
  });
  after(async () => h.close());

  const call = (signer: Signer, action: string, body: unknown) => h.post(`/api/v1/kms/${action}?nonce=${randomUUID()}`, body, { credential: signer });

  async function credentialWith(policy: object): Promise<Signer> {
    const { credential, secretKey } = await h.credentials.create({ description: 'batch test', policy }, { principal: 'test' });
    return { accessKeyId: credential.AccessKeyId, secretKey };
  }

  it('batchencrypt and batchdecrypt round-trip every item, in order, each with its own key and context', async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({
      KeyId: i % 2 === 0 ? keyA : 'alias/batch-b',
      Plaintext: secret(`batch item ${i} ${randomUUID()}`),
      EncryptionContext: { item: String(i) },
    }));
    const encrypted = (await h.call('batchencrypt', { Items: items }).expect(200)).body.Results;
    expect(encrypted).to.have.length(20);
    encrypted.forEach((result: Record<string, string>, i: number) => {
      expect(result, `item ${i}`).to.have.keys('CiphertextBlob', 'KeyId', 'EncryptionAlgorithm');
      expect(result.KeyId).to.equal(i % 2 === 0 ? keyA : keyB);
    });
    const decryptItems = encrypted.map((result: Record<string, string>, i: number) => ({ CiphertextBlob: result.CiphertextBlob, EncryptionContext: { item: String(i) } }));
    const decrypted = (await h.call('batchdecrypt', { Items: decryptItems }).expect(200)).body.Results;
    decrypted.forEach((result: Record<string, string>, i: number) => {
      expect(result.Plaintext, `item ${i}`).to.equal(items[i]!.Plaintext);
      expect(result.KeyId).to.equal(i % 2 === 0 ? keyA : keyB);
    });
  });

  it('batchreencrypt moves each blob to its destination key; batchgeneratedatakey answers what generatedatakey answers', async () => {
    const plaintext = secret(`reencrypt me ${randomUUID()}`);
    const blob = (await h.call('encrypt', { KeyId: keyA, Plaintext: plaintext, EncryptionContext: { a: '1' } }).expect(200)).body.CiphertextBlob;
    const moved = (
      await h.call('batchreencrypt', {
        Items: [
          { CiphertextBlob: blob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: keyB, DestinationEncryptionContext: { b: '2' } },
          { CiphertextBlob: blob, SourceEncryptionContext: { a: 'wrong' }, DestinationKeyId: keyB },
        ],
      }).expect(200)
    ).body.Results;
    expect(moved[0]).to.include({ KeyId: keyB, SourceKeyId: keyA });
    expect(moved[1].Error.__type).to.equal('InvalidCiphertextException');
    const back = (await h.call('decrypt', { CiphertextBlob: moved[0].CiphertextBlob, EncryptionContext: { b: '2' } }).expect(200)).body;
    expect(back).to.include({ Plaintext: plaintext, KeyId: keyB });

    const keys = (
      await h.call('batchgeneratedatakey', {
        Items: [
          { KeyId: keyA, KeySpec: 'AES_256', EncryptionContext: { d: '1' } },
          { KeyId: keyB, NumberOfBytes: 16 },
          { KeyId: keyB },
        ],
      }).expect(200)
    ).body.Results;
    expect(Buffer.from(keys[0].Plaintext, 'base64')).to.have.length(32);
    expect(Buffer.from(keys[1].Plaintext, 'base64')).to.have.length(16);
    expect(keys[2].Error.__type).to.equal('ValidationException');
    for (const [i, context] of [[0, { d: '1' }], [1, undefined]] as const) {
      const opened = (await h.call('decrypt', { CiphertextBlob: keys[i].CiphertextBlob, EncryptionContext: context }).expect(200)).body;
      expect(opened.Plaintext).to.equal(keys[i].Plaintext);
    }
  });

  it('answers a bad item in its own slot and every other item as if it were alone', async () => {
    const good = secret(`good ${randomUUID()}`);
    const items = [
      { KeyId: keyA, Plaintext: good },
      { KeyId: randomUUID(), Plaintext: good },
      { KeyId: disabled, Plaintext: good },
      { KeyId: 'alias/none', Plaintext: good },
      { KeyId: keyA, Plaintext: 'not base64!' },
      { KeyId: keyA },
      'not an object',
      null,
      [],
      { KeyId: keyA, Plaintext: good, Surprise: 1, surprise: 2 },
      { KeyId: keyB, Plaintext: good },
    ];
    const results = (await h.call('batchencrypt', { Items: items }).expect(200)).body.Results;
    expect(results.map((result: { Error?: { __type: string } }) => result.Error?.__type ?? 'ok')).to.deep.equal([
      'ok',
      'NotFoundException',
      'DisabledException',
      'NotFoundException',
      'ValidationException',
      'ValidationException',
      'ValidationException',
      'ValidationException',
      'ValidationException',
      'ValidationException',
      'ok',
    ]);
    expect(results[5].Error.message).to.match(/Plaintext is required/);
    expect(JSON.stringify(results)).not.to.include(good);

    const blob = results[0].CiphertextBlob;
    const decrypted = (
      await h.call('batchdecrypt', {
        Items: [
          { CiphertextBlob: blob },
          { CiphertextBlob: blob, EncryptionContext: { wrong: 'context' } },
          { CiphertextBlob: randomBytes(120).toString('base64') },
          { CiphertextBlob: blob },
        ],
      }).expect(200)
    ).body.Results;
    expect(decrypted.map((result: { Error?: { __type: string } }) => result.Error?.__type ?? 'ok')).to.deep.equal(['ok', 'InvalidCiphertextException', 'InvalidCiphertextException', 'ok']);
    expect(decrypted[0].Plaintext).to.equal(good);
  });

  it('checks each item as its single action on its own key, and a denial says nothing of whether the key exists', async () => {
    // Exactly the single actions' permissions: no kms:Batch… name is needed.
    const signer = await credentialWith({ Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: 'alias/batch-b' }] });
    const plaintext = secret(`policy ${randomUUID()}`);
    const results = (
      await call(signer, 'batchencrypt', {
        Items: [
          { KeyId: keyB, Plaintext: plaintext },
          { KeyId: keyA, Plaintext: plaintext },
          { KeyId: randomUUID(), Plaintext: plaintext },
          { KeyId: 'alias/does-not-exist', Plaintext: plaintext },
          { KeyId: 'alias/batch-b', Plaintext: plaintext },
        ],
      }).expect(200)
    ).body.Results;
    expect(results[0].KeyId).to.equal(keyB);
    expect(results[4].KeyId).to.equal(keyB);
    const denials = [results[1], results[2], results[3]];
    for (const denial of denials) expect(denial.Error.__type).to.equal('AccessDeniedException');
    expect(new Set(denials.map((denial) => JSON.stringify(denial))).size).to.equal(1);
    expect(denials[0].Error.message).to.include('kms:Encrypt');

    // Decrypt is allowed on B only; GenerateDataKey on nothing.
    const blobOfA = (await h.call('encrypt', { KeyId: keyA, Plaintext: plaintext }).expect(200)).body.CiphertextBlob;
    const decrypted = (await call(signer, 'batchdecrypt', { Items: [{ CiphertextBlob: results[0].CiphertextBlob }, { CiphertextBlob: blobOfA }] }).expect(200)).body.Results;
    expect(decrypted[0].Plaintext).to.equal(plaintext);
    expect(decrypted[1].Error.__type).to.equal('AccessDeniedException');
    const dataKeys = (await call(signer, 'batchgeneratedatakey', { Items: [{ KeyId: keyB, KeySpec: 'AES_256' }] }).expect(200)).body.Results;
    expect(dataKeys[0].Error.__type).to.equal('AccessDeniedException');

    // ReEncryptFrom on the blob's key and ReEncryptTo on the destination, item by item.
    const mover = await credentialWith({
      Statement: [
        { Effect: 'Allow', Action: 'kms:ReEncryptFrom', Resource: `key/${keyA}` },
        { Effect: 'Allow', Action: 'kms:ReEncryptTo', Resource: 'alias/batch-b' },
      ],
    });
    const moved = (
      await call(mover, 'batchreencrypt', {
        Items: [
          { CiphertextBlob: blobOfA, DestinationKeyId: keyB },
          { CiphertextBlob: blobOfA, DestinationKeyId: keyA },
          { CiphertextBlob: results[0].CiphertextBlob, DestinationKeyId: keyB },
        ],
      }).expect(200)
    ).body.Results;
    expect(moved[0]).to.include({ KeyId: keyB, SourceKeyId: keyA });
    expect(moved[1].Error.__type).to.equal('AccessDeniedException');
    expect(moved[2].Error.__type).to.equal('AccessDeniedException');
  });

  it('takes 1,000 items and refuses 1,001, and refuses malformed envelopes with a typed 400', async () => {
    const item = { KeyId: keyA, Plaintext: 'aGk=' };
    const thousand = (await h.call('batchencrypt', { Items: Array.from({ length: 1000 }, () => item) }).expect(200)).body.Results;
    expect(thousand).to.have.length(1000);
    expect(thousand.every((result: { CiphertextBlob?: string }) => typeof result.CiphertextBlob === 'string')).to.equal(true);
    const tooMany = await h.call('batchencrypt', { Items: Array.from({ length: 1001 }, () => item) }).expect(400);
    expect(tooMany.body.__type).to.equal('ValidationException');
    expect(tooMany.body.message).to.match(/Items/);

    for (const body of [{}, { Items: [] }, { Items: {} }, { Items: 'x' }, { Items: null }, [], 'null', '{', '{"Items":[1],"items":[2]}']) {
      for (const action of ['batchencrypt', 'batchdecrypt', 'batchreencrypt', 'batchgeneratedatakey']) {
        const res = await h.call(action, body);
        expect(res.status, `${action} ${JSON.stringify(body)}`).to.equal(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
    }
  });

  it('takes a body of up to 1 MiB for the batch actions only; just over answers 413', async () => {
    const padded = (bytes: number) => {
      const head = `{"Items":[{"KeyId":"${keyA}","Plaintext":"aGk="}],"Pad":"`;
      return Buffer.from(head + 'x'.repeat(bytes - head.length - 2) + '"}');
    };
    // Unknown fields are ignored, as in every action: exactly 1 MiB is read and answered.
    expect((await h.call('batchencrypt', padded(1024 * 1024)).expect(200)).body.Results[0]).to.have.property('CiphertextBlob');
    expect((await h.call('batchencrypt', padded(1024 * 1024 + 1)).expect(413)).body.__type).to.equal('RequestEntityTooLarge');
    const nearlyMiB = Array.from({ length: 180 }, () => ({ KeyId: keyA, Plaintext: randomBytes(4096).toString('base64') }));
    const body = Buffer.from(JSON.stringify({ Items: nearlyMiB }));
    expect(body.length).to.be.within(900 * 1024, 1024 * 1024);
    const results = (await h.call('batchencrypt', body).expect(200)).body.Results;
    expect(results).to.have.length(180);
    // Every other action keeps 64 KiB.
    const big = { KeyId: keyA, Plaintext: 'a'.repeat(64 * 1024) };
    expect((await h.call('encrypt', big).expect(413)).body.__type).to.equal('RequestEntityTooLarge');
    expect((await h.call('decrypt', { CiphertextBlob: 'a'.repeat(64 * 1024) }).expect(413)).body.__type).to.equal('RequestEntityTooLarge');
  });

  it('writes one audit record per request listing the key, outcome and context of each item, found by the key or outcome of any item', async () => {
    const own = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    const unknown = randomUUID();
    const plaintext = secret(`audited ${randomUUID()}`);
    const before = (await h.store.listAudit()).length;
    const res = await h
      .call('batchencrypt', {
        Items: [
          { KeyId: own, Plaintext: plaintext, EncryptionContext: { order: '1' } },
          { KeyId: unknown, Plaintext: plaintext },
          { KeyId: keyB, Plaintext: plaintext },
        ],
      })
      .expect(200);
    const requestId = res.headers['x-request-id'];
    expect((await h.store.listAudit()).length - before, 'records written by the batch').to.equal(1);
    const byKey = async (keyId: string) => (await h.call('listauditevents', { KeyId: keyId, Action: 'BatchEncrypt', Limit: 1000 }).expect(200)).body.Events;
    const [event] = await byKey(own);
    expect(event).to.include({ Action: 'BatchEncrypt', RequestId: requestId, KeyId: null, Outcome: 'Success' });
    expect(event).not.to.have.property('EncryptionContext');
    expect(event.Items).to.deep.equal([
      { KeyId: own, Outcome: 'Success', EncryptionContext: { order: '1' } },
      { KeyId: unknown, Outcome: 'NotFoundException' },
      { KeyId: keyB, Outcome: 'Success' },
    ]);
    expect(await byKey(unknown)).to.deep.equal([event]);
    expect((await byKey(keyB)).at(-1)).to.deep.equal(event);
    expect((await byKey(randomUUID())).length, 'a key no item used').to.equal(0);
    const failures = (await h.call('listauditevents', { Outcome: 'NotFoundException', Action: 'BatchEncrypt', Limit: 1000 }).expect(200)).body.Events;
    expect(failures.map((failure: { RequestId: string }) => failure.RequestId)).to.include(requestId);
    const accessDenied = (await h.call('listauditevents', { Outcome: 'AccessDeniedException', KeyId: own }).expect(200)).body.Events;
    expect(accessDenied).to.have.length(0);
    // Key and outcome together: one item must have both (the unknown key's item failed; others succeeded).
    expect((await h.call('listauditevents', { KeyId: unknown, Outcome: 'Success', Action: 'BatchEncrypt' }).expect(200)).body.Events).to.have.length(0);
    expect((await h.call('listauditevents', { KeyId: own, Outcome: 'NotFoundException', Action: 'BatchEncrypt' }).expect(200)).body.Events).to.have.length(0);
    expect((await h.call('listauditevents', { KeyId: unknown, Outcome: 'NotFoundException', Action: 'BatchEncrypt' }).expect(200)).body.Events).to.deep.equal([event]);

    // Items that all used one key name it as the record's KeyId too.
    await h.call('batchencrypt', { Items: [{ KeyId: own, Plaintext: plaintext }, { KeyId: own, Plaintext: plaintext }] }).expect(200);
    expect((await byKey(own)).at(-1)).to.include({ KeyId: own });

    const all = await h.store.listAudit();
    expect(JSON.stringify(all)).not.to.include(plaintext);
    const verdict = await verifyAuditTrail(h.store, h.rootKey);
    expect(verdict.problem, verdict.problem).to.equal(undefined);
    expect(verdict.checked).to.be.at.least(all.length);
  });

  it('splits the record of a batch whose contexts say much into parts that fit a stored entry and a backup line, and pages them by size', async () => {
    const plaintext = secret(`large contexts ${randomUUID()}`);
    const items = Array.from({ length: 120 }, (_, i) => ({ KeyId: keyA, Plaintext: plaintext, EncryptionContext: { n: String(i), pad: 'x'.repeat(7000) } }));
    const before = (await h.store.listAudit()).length;
    const res = await h.call('batchencrypt', { Items: items }).expect(200);
    const records = (await h.store.listAudit()).slice(before);
    expect(records.length, 'records of one batch').to.be.greaterThan(1);
    records.forEach((record, index) => {
      expect(record).to.include({ Action: 'BatchEncrypt', RequestId: res.headers['x-request-id'], KeyId: keyA, Outcome: 'Success' });
      expect(record.Detail).to.deep.include({ Part: index + 1, Parts: records.length });
      expect(JSON.stringify(record).length, `record ${index + 1}`).to.be.below(64 * 1024);
    });
    const listed = records.flatMap((record) => record.Items!);
    expect(listed.map((item) => item.EncryptionContext?.n)).to.deep.equal(items.map((_, i) => String(i)));
    expect(records.map((record) => record.Detail!.FirstItem)).to.deep.equal(records.map((_, index) => records.slice(0, index).reduce((sum, record) => sum + record.Items!.length, 0)));
    // Every stored entry fits a backup's line (base64 of the value, at most 1 MiB).
    for await (const { key, value } of h.store.scanRecords('audit')) expect(Math.ceil(value.length / 3) * 4, key).to.be.below(1024 * 1024);
    const verdict = await verifyAuditTrail(h.store, h.rootKey);
    expect(verdict.problem, verdict.problem).to.equal(undefined);

    // Five such batches are more than 4 MiB of records: a page of up to 1,000 stops short, and the next page goes on.
    for (let i = 0; i < 4; i++) await h.call('batchencrypt', { Items: items }).expect(200);
    const all = (await h.store.listAudit()).filter((record) => record.Action === 'BatchEncrypt' && record.Items?.[0]?.EncryptionContext?.pad);
    const first = (await h.call('listauditevents', { Action: 'BatchEncrypt', Limit: 1000 }).expect(200)).body;
    expect(first.Truncated).to.equal(true);
    expect(JSON.stringify(first.Events).length).to.be.below(4 * 1024 * 1024 + 64 * 1024);
    let seen = first.Events.length;
    for (let marker = first.NextMarker; marker; ) {
      const page = (await h.call('listauditevents', { Action: 'BatchEncrypt', Limit: 1000, Marker: marker }).expect(200)).body;
      seen += page.Events.length;
      marker = page.Truncated ? page.NextMarker : undefined;
    }
    const batchRecords = (await h.store.listAudit()).filter((record) => record.Action === 'BatchEncrypt').length;
    expect(seen).to.equal(batchRecords);
    expect(all.length).to.equal(records.length * 5);
  });

  it('records a refused envelope once, without items', async () => {
    await h.call('batchdecrypt', { Items: [] }).expect(400);
    const events = await h.store.listAudit();
    expect(events.at(-1)).to.include({ Action: 'BatchDecrypt', KeyId: null, Outcome: 'ValidationException' });
  });
});
