import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { rememberSecret } from '../helpers/secrets.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function b64(bytes: Buffer | string): string {
  return Buffer.from(bytes).toString('base64');
}

function secretPlaintext(text: string): Buffer {
  rememberSecret(text);
  return Buffer.from(text);
}

describe('API actions (through the signed app, a real store)', () => {
  let h: Harness;

  before(async () => {
    h = await openHarness();
  });
  after(async () => {
    await h.close();
  });

  async function createKey(body: object = {}): Promise<string> {
    const res = await h.call('createkey', body).expect(200);
    return res.body.KeyMetadata.KeyId;
  }

  describe('createkey', () => {
    it('returns KeyMetadata with AWS field names', async () => {
      const res = await h.call('createkey', { Description: 'payments' }).expect(200);
      const m = res.body.KeyMetadata;
      expect(m.KeyId).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(m.Arn).to.equal(`keyhold:key/${m.KeyId}`);
      expect(m.Description).to.equal('payments');
      expect(m.CreationDate).to.match(RFC3339);
      expect(m).to.include({ Enabled: true, KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', Origin: 'KEYHOLD' });
      expect(m).to.not.have.property('DeletionDate');
    });

    it('refuses an unsupported KeySpec or KeyUsage without storing anything', async () => {
      const before = (await h.store.listKeys(undefined, 10_000)).length;
      for (const body of [{ KeySpec: 'NOPE' }, { KeyUsage: 'SIGN_VERIFY' }, { Description: 5 }, { Tags: 'x' }]) {
        const res = await h.call('createkey', body).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
      expect((await h.store.listKeys(undefined, 10_000)).length).to.equal(before);
    });

    it('refuses more than 50 tags (LimitExceededException) and oversized tag keys (TagException), storing nothing', async () => {
      const before = (await h.store.listKeys(undefined, 10_000)).length;
      const tags = Array.from({ length: 51 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' }));
      expect((await h.call('createkey', { Tags: tags }).expect(400)).body.__type).to.equal('LimitExceededException');
      const long = [{ TagKey: 'k'.repeat(129), TagValue: '' }];
      expect((await h.call('createkey', { Tags: long }).expect(400)).body.__type).to.equal('TagException');
      expect((await h.store.listKeys(undefined, 10_000)).length).to.equal(before);
    });
  });

  describe('describekey', () => {
    it('accepts the UUID, the resource name, and any case of field names', async () => {
      const keyId = await createKey();
      for (const body of [{ KeyId: keyId }, { KeyID: keyId }, { keyid: `keyhold:key/${keyId}` }, { KEYID: keyId.toUpperCase() }]) {
        const res = await h.call('describekey', body).expect(200);
        expect(res.body.KeyMetadata.KeyId).to.equal(keyId);
      }
    });

    it('answers NotFoundException for an unknown key and ValidationException for a malformed one', async () => {
      expect((await h.call('describekey', { KeyId: randomUUID() }).expect(404)).body.__type).to.equal('NotFoundException');
      expect((await h.call('describekey', { KeyId: 'not-a-key' }).expect(400)).body.__type).to.equal('ValidationException');
      expect((await h.call('describekey', { KeyId: 'alias/none' }).expect(404)).body.__type).to.equal('NotFoundException');
      expect((await h.call('describekey', {}).expect(400)).body.message).to.match(/KeyId is required/);
      expect((await h.call('describekey', { KeyId: 'x'.repeat(3000) }).expect(400)).body.__type).to.equal('ValidationException');
    });

    it('refuses the same field given twice in different case', async () => {
      const keyId = await createKey();
      const res = await h.call('describekey', `{"KeyId":"${keyId}","keyid":"${keyId}"}`).expect(400);
      expect(res.body.__type).to.equal('ValidationException');
    });
  });

  describe('listkeys', () => {
    it('pages through every key with an opaque marker', async () => {
      for (let i = 0; i < 5; i++) await createKey();
      const all = (await h.call('listkeys', { Limit: 1000 }).expect(200)).body;
      expect(all.Truncated).to.equal(false);
      expect(all).to.not.have.property('NextMarker');
      const seen: string[] = [];
      let marker: string | undefined;
      do {
        const page = (await h.call('listkeys', marker ? { Limit: 2, Marker: marker } : { Limit: 2 }).expect(200)).body;
        expect(page.Keys.length).to.be.at.most(2);
        seen.push(...page.Keys.map((k: { KeyId: string }) => k.KeyId));
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
      expect(seen).to.deep.equal(all.Keys.map((k: { KeyId: string }) => k.KeyId));
      expect(all.Keys[0]).to.include.keys('KeyId', 'Arn', 'KeyState');
    });

    it('refuses Limit outside 1..1000 and a forged Marker', async () => {
      for (const body of [{ Limit: 0 }, { Limit: 1001 }, { Limit: 1.5 }, { Limit: '5' }, { Marker: 'garbage!' }]) {
        expect((await h.call('listkeys', body).expect(400)).body.__type).to.equal('ValidationException');
      }
    });

    it('also answers under KeyMetadata on the go-kms prefix', async () => {
      const res = await h.post('/api/v1/go-kms/listkeys', {}).expect(200);
      expect(res.body.KeyMetadata).to.deep.equal(res.body.Keys);
      const canonical = await h.call('listkeys', {}).expect(200);
      expect(canonical.body).to.not.have.property('KeyMetadata');
    });
  });

  describe('key states', () => {
    it('a disabled key refuses encrypt and decrypt with DisabledException, and works again once enabled', async () => {
      const keyId = await createKey();
      const blob = (await h.call('encrypt', { KeyId: keyId, Plaintext: b64('abc') }).expect(200)).body.CiphertextBlob;
      const disabled = await h.call('disablekey', { KeyId: keyId }).expect(200);
      expect(disabled.body.KeyMetadata).to.include({ KeyState: 'Disabled', Enabled: false });
      expect((await h.call('encrypt', { KeyId: keyId, Plaintext: b64('abc') }).expect(400)).body.__type).to.equal('DisabledException');
      expect((await h.call('decrypt', { CiphertextBlob: blob }).expect(400)).body.__type).to.equal('DisabledException');
      expect((await h.call('generatedatakey', { KeyId: keyId, KeySpec: 'AES_256' }).expect(400)).body.__type).to.equal('DisabledException');
      await h.call('enablekey', { KeyId: keyId }).expect(200);
      const res = await h.call('decrypt', { CiphertextBlob: blob }).expect(200);
      expect(Buffer.from(res.body.Plaintext, 'base64').toString()).to.equal('abc');
    });

    it('schedulekeydeletion sets PendingDeletion and a DeletionDate; the key cannot be used; cancel restores it Disabled', async () => {
      const keyId = await createKey();
      const started = Date.now();
      const res = await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
      expect(res.body.KeyId).to.equal(keyId);
      expect(res.body.DeletionDate).to.match(RFC3339);
      const delay = Date.parse(res.body.DeletionDate) - started;
      expect(delay).to.be.within(7 * 86_400_000 - 5_000, 7 * 86_400_000 + 5_000);
      const described = (await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata;
      expect(described).to.include({ KeyState: 'PendingDeletion', Enabled: false, DeletionDate: res.body.DeletionDate });
      expect((await h.call('encrypt', { KeyId: keyId, Plaintext: b64('x') }).expect(400)).body.__type).to.equal('KMSInvalidStateException');
      expect((await h.call('enablekey', { KeyId: keyId }).expect(400)).body.__type).to.equal('KMSInvalidStateException');
      expect((await h.call('schedulekeydeletion', { KeyId: keyId }).expect(400)).body.__type).to.equal('KMSInvalidStateException');
      const cancelled = await h.call('cancelkeydeletion', { KeyId: keyId }).expect(200);
      expect(cancelled.body.KeyMetadata).to.include({ KeyState: 'Disabled' });
      expect(cancelled.body.KeyMetadata).to.not.have.property('DeletionDate');
      expect((await h.call('cancelkeydeletion', { KeyId: keyId }).expect(400)).body.__type).to.equal('KMSInvalidStateException');
    });

    it('defaults the pending window to 30 days and refuses 6 or 31', async () => {
      const keyId = await createKey();
      for (const days of [6, 31, 0, -1, 7.5]) {
        const res = await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: days }).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
      const res = await h.call('schedulekeydeletion', { KeyId: keyId }).expect(200);
      expect(Date.parse(res.body.DeletionDate) - Date.now()).to.be.within(30 * 86_400_000 - 10_000, 30 * 86_400_000 + 1_000);
    });

    it('records every change in the audit trail', async () => {
      const keyId = await createKey();
      await h.call('disablekey', { KeyId: keyId }).expect(200);
      const audit = (await h.store.listAudit()).filter((entry) => entry.KeyId === keyId);
      expect(audit.map((entry) => entry.Action)).to.deep.equal(['CreateKey', 'DisableKey']);
      expect(audit[0]!.Principal).to.equal(h.credential.accessKeyId);
    });
  });

  describe('encrypt and decrypt', () => {
    it('round-trips with an encryption context, and the blob has format 2 with the KeyId inside', async () => {
      const keyId = await createKey();
      const plaintext = secretPlaintext('the launch codes are 0000');
      const context = { tenant: 'acme', purpose: 'test' };
      const enc = await h.call('encrypt', { KeyId: keyId, Plaintext: b64(plaintext), EncryptionContext: context }).expect(200);
      expect(enc.body.KeyId).to.equal(keyId);
      const blob = Buffer.from(enc.body.CiphertextBlob, 'base64');
      expect(blob[0]).to.equal(2);
      expect(blob.subarray(1, 17).toString('hex')).to.equal(keyId.replaceAll('-', ''));
      expect(blob.readUInt32BE(17)).to.equal(1);
      expect(blob.length).to.equal(53 + plaintext.length + 16);
      const dec = await h.call('decrypt', { CiphertextBlob: enc.body.CiphertextBlob, EncryptionContext: { purpose: 'test', tenant: 'acme' } }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64')).to.deep.equal(plaintext);
      expect(dec.body.KeyId).to.equal(keyId);
    });

    it('refuses a missing, changed or extra context pair with InvalidCiphertextException', async () => {
      const keyId = await createKey();
      const blob = (await h.call('encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: { a: '1' } }).expect(200)).body.CiphertextBlob;
      for (const context of [undefined, {}, { a: '2' }, { a: '1', b: '2' }, { A: '1' }]) {
        const res = await h.call('decrypt', { CiphertextBlob: blob, EncryptionContext: context }).expect(400);
        expect(res.body.__type).to.equal('InvalidCiphertextException');
      }
    });

    it('binds a __proto__ context pair like any other pair', async () => {
      const keyId = await createKey();
      const body = `{"KeyId":"${keyId}","Plaintext":"${b64('x')}","EncryptionContext":{"__proto__":"p"}}`;
      const blob = (await h.call('encrypt', body).expect(200)).body.CiphertextBlob;
      expect((await h.call('decrypt', { CiphertextBlob: blob }).expect(400)).body.__type).to.equal('InvalidCiphertextException');
      await h.call('decrypt', `{"CiphertextBlob":"${blob}","EncryptionContext":{"__proto__":"p"}}`).expect(200);
    });

    it('refuses contexts that are not objects of strings, or have a lone surrogate', async () => {
      const keyId = await createKey();
      for (const context of [[], 'a', { a: 1 }, { '': 'x' }, { a: null }]) {
        const res = await h.call('encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: context }).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
      const lone = `{"KeyId":"${keyId}","Plaintext":"eA==","EncryptionContext":{"\\ud800":"x"}}`;
      expect((await h.call('encrypt', lone).expect(400)).body.__type).to.equal('ValidationException');
    });

    it('accepts 1 and 4096 bytes and refuses 0 and 4097 bytes of plaintext', async () => {
      const keyId = await createKey();
      await h.call('encrypt', { KeyId: keyId, Plaintext: b64(randomBytes(1)) }).expect(200);
      await h.call('encrypt', { KeyId: keyId, Plaintext: b64(randomBytes(4096)) }).expect(200);
      for (const plaintext of ['', b64(randomBytes(4097))]) {
        const res = await h.call('encrypt', { KeyId: keyId, Plaintext: plaintext }).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
    });

    it('refuses invalid base64 and wrongly typed fields', async () => {
      const keyId = await createKey();
      for (const plaintext of ['not base64!', 'YQ', 'YQ=', 12, ['YQ=='], { a: 1 }, true]) {
        const res = await h.call('encrypt', { KeyId: keyId, Plaintext: plaintext }).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
      for (const blob of ['###', 5]) {
        expect((await h.call('decrypt', { CiphertextBlob: blob }).expect(400)).body.__type).to.equal('ValidationException');
      }
      expect((await h.call('encrypt', { KeyId: 7, Plaintext: 'YQ==' }).expect(400)).body.__type).to.equal('ValidationException');
    });

    it('answers IncorrectKeyException when decrypt names another key, and accepts the right one by resource name', async () => {
      const keyA = await createKey();
      const keyB = await createKey();
      const blob = (await h.call('encrypt', { KeyId: keyA, Plaintext: b64('x') }).expect(200)).body.CiphertextBlob;
      expect((await h.call('decrypt', { CiphertextBlob: blob, KeyId: keyB }).expect(400)).body.__type).to.equal('IncorrectKeyException');
      await h.call('decrypt', { CiphertextBlob: blob, KeyId: `keyhold:key/${keyA}` }).expect(200);
    });

    it('refuses truncated, tampered and unknown-format blobs with InvalidCiphertextException, never a 500', async () => {
      const keyId = await createKey();
      const blob = Buffer.from((await h.call('encrypt', { KeyId: keyId, Plaintext: b64('hello') }).expect(200)).body.CiphertextBlob, 'base64');
      const bad: Buffer[] = [];
      for (const length of [1, 20, 52, 68, blob.length - 1]) bad.push(blob.subarray(0, length));
      for (const position of [0, 17, 20, 21, 52, 53, blob.length - 1]) {
        const flipped = Buffer.from(blob);
        flipped[position]! ^= 0x01;
        bad.push(flipped);
      }
      const versionZero = Buffer.from(blob);
      versionZero.writeUInt32BE(0, 17);
      const versionTwo = Buffer.from(blob);
      versionTwo.writeUInt32BE(2, 17);
      // Format 3 does not exist; a format-2 blob relabelled as format 1 fails its tag.
      bad.push(versionZero, versionTwo, Buffer.concat([Buffer.from([3]), blob.subarray(1)]), Buffer.concat([Buffer.from([1]), blob.subarray(1)]));
      for (const candidate of bad) {
        const res = await h.call('decrypt', { CiphertextBlob: b64(candidate) });
        // Byte 1..16 flips name another (unknown) key: NotFound is the honest answer there.
        expect(res.status, `blob ${candidate.toString('hex')}`).to.be.oneOf([400, 404]);
        expect(res.body.__type).to.be.oneOf(['InvalidCiphertextException', 'NotFoundException']);
      }
    });

    it('answers NotFoundException for a well-formed blob of a key that does not exist', async () => {
      const keyId = await createKey();
      const blob = Buffer.from((await h.call('encrypt', { KeyId: keyId, Plaintext: b64('hello') }).expect(200)).body.CiphertextBlob, 'base64');
      Buffer.from(randomUUID().replaceAll('-', ''), 'hex').copy(blob, 1);
      expect((await h.call('decrypt', { CiphertextBlob: b64(blob) }).expect(404)).body.__type).to.equal('NotFoundException');
    });
  });

  describe('reencrypt', () => {
    it('moves a blob to another key and context', async () => {
      const source = await createKey();
      const destination = await createKey();
      const plaintext = secretPlaintext('reencrypt me please');
      const blob = (await h.call('encrypt', { KeyId: source, Plaintext: b64(plaintext), EncryptionContext: { s: '1' } }).expect(200)).body.CiphertextBlob;
      const res = await h
        .call('reencrypt', { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: destination, DestinationEncryptionContext: { d: '2' } })
        .expect(200);
      expect(res.body).to.include({ KeyId: destination, SourceKeyId: source });
      expect(res.body).to.not.have.property('Plaintext');
      const dec = await h.call('decrypt', { CiphertextBlob: res.body.CiphertextBlob, EncryptionContext: { d: '2' } }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64')).to.deep.equal(plaintext);
      expect(dec.body.KeyId).to.equal(destination);
    });

    it('refuses a wrong source context, a wrong SourceKeyId and a disabled destination', async () => {
      const source = await createKey();
      const destination = await createKey();
      const blob = (await h.call('encrypt', { KeyId: source, Plaintext: b64('x'), EncryptionContext: { s: '1' } }).expect(200)).body.CiphertextBlob;
      expect((await h.call('reencrypt', { CiphertextBlob: blob, DestinationKeyId: destination }).expect(400)).body.__type).to.equal('InvalidCiphertextException');
      expect(
        (await h.call('reencrypt', { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, SourceKeyId: destination, DestinationKeyId: destination }).expect(400)).body.__type,
      ).to.equal('IncorrectKeyException');
      await h.call('disablekey', { KeyId: destination }).expect(200);
      expect(
        (await h.call('reencrypt', { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: destination }).expect(400)).body.__type,
      ).to.equal('DisabledException');
      expect((await h.call('reencrypt', { CiphertextBlob: blob }).expect(400)).body.__type).to.equal('ValidationException');
    });
  });

  describe('generatedatakey and generatedatakeywithoutplaintext', () => {
    it('makes AES_256, AES_128 and NumberOfBytes keys whose blob decrypts to the plaintext', async () => {
      const keyId = await createKey();
      for (const [body, length] of [[{ KeySpec: 'AES_256' }, 32], [{ KeySpec: 'AES_128' }, 16], [{ NumberOfBytes: 1 }, 1], [{ NumberOfBytes: 1024 }, 1024]] as const) {
        const res = await h.call('generatedatakey', { KeyId: keyId, EncryptionContext: { f: 'x' }, ...body }).expect(200);
        const plaintext = Buffer.from(res.body.Plaintext, 'base64');
        rememberSecret(plaintext);
        expect(plaintext.length).to.equal(length);
        expect(res.body.KeyId).to.equal(keyId);
        const dec = await h.call('decrypt', { CiphertextBlob: res.body.CiphertextBlob, EncryptionContext: { f: 'x' } }).expect(200);
        expect(dec.body.Plaintext).to.equal(res.body.Plaintext);
      }
    });

    it('without plaintext returns only the blob', async () => {
      const keyId = await createKey();
      const res = await h.call('generatedatakeywithoutplaintext', { KeyId: keyId, KeySpec: 'AES_256' }).expect(200);
      expect(res.body).to.have.all.keys('CiphertextBlob', 'KeyId');
      const dec = await h.call('decrypt', { CiphertextBlob: res.body.CiphertextBlob }).expect(200);
      expect(Buffer.from(dec.body.Plaintext, 'base64').length).to.equal(32);
    });

    it('refuses both or neither of KeySpec and NumberOfBytes, and NumberOfBytes outside 1..1024', async () => {
      const keyId = await createKey();
      for (const body of [{}, { KeySpec: 'AES_256', NumberOfBytes: 32 }, { NumberOfBytes: 0 }, { NumberOfBytes: 1025 }, { KeySpec: 'AES_512' }]) {
        const res = await h.call('generatedatakey', { KeyId: keyId, ...body }).expect(400);
        expect(res.body.__type).to.equal('ValidationException');
      }
    });

    it('makes a 256-bit key from KeyID alone on the go-kms prefix, as go-kms did', async () => {
      const keyId = await createKey();
      const res = await h.post('/api/v1/go-kms/generatedatakey', { KeyID: keyId }).expect(200);
      expect(Buffer.from(res.body.Plaintext, 'base64').length).to.equal(32);
    });
  });

  describe('generaterandom', () => {
    it('returns NumberOfBytes random bytes and refuses 0 and 1025', async () => {
      const res = await h.call('generaterandom', { NumberOfBytes: 64 }).expect(200);
      expect(Buffer.from(res.body.Plaintext, 'base64').length).to.equal(64);
      for (const n of [0, 1025, '8', undefined]) {
        expect((await h.call('generaterandom', { NumberOfBytes: n }).expect(400)).body.__type).to.equal('ValidationException');
      }
    });
  });
});
