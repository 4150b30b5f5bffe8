import { spawnSync } from 'node:child_process';
import { createHmac, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { macKeyAad, unwrapKey, versionKeyAad, wrappingKeyAad } from '../../src/crypto/index.js';
import { verifyStoreRecords } from '../../src/kms/verify-store.js';
import { openHarness, storedRecords, type Harness } from '../helpers/service-harness.js';
import { openBlob, sealBlob, wrapMaterial, type Algorithm } from '../helpers/imported-material.js';
import { rememberSecret } from '../helpers/secrets.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HMAC_HASHES = { HMAC_224: 'SHA224', HMAC_256: 'SHA256', HMAC_384: 'SHA384', HMAC_512: 'SHA512' } as const;
type HmacSpec = keyof typeof HMAC_HASHES;

/** The HMAC `openssl mac` computes of `message` under `secret` (given as hex, as `-macopt hexkey:` takes it). */
function opensslMac(spec: HmacSpec, secret: Buffer, message: Buffer): Buffer {
  const run = spawnSync('openssl', ['mac', '-digest', HMAC_HASHES[spec], '-macopt', `hexkey:${secret.toString('hex')}`, 'HMAC'], { input: message, encoding: 'utf8' });
  expect(run.status, run.stderr).to.equal(0);
  return Buffer.from(run.stdout.trim(), 'hex');
}

/** Every file under a directory, read whole. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [readFileSync(file)];
  });
}

describe('importing key material (Origin EXTERNAL)', function () {
  this.timeout(60_000);
  let h: Harness;
  let now: number;

  before(async () => {
    now = Date.parse('2026-12-05T12:00:00Z');
    h = await openHarness({ clock: () => new Date(now) });
  });
  after(async () => {
    await h.close();
  });

  async function createExternalKey(): Promise<string> {
    const res = await h.call('createkey', { Origin: 'EXTERNAL', Description: 'byok' }).expect(200);
    return res.body.KeyMetadata.KeyId;
  }

  async function parameters(keyId: string, algorithm: Algorithm = 'RSAES_OAEP_SHA_256', spec = 'RSA_2048') {
    const res = await h.call('getparametersforimport', { KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: spec }).expect(200);
    return { token: res.body.ImportToken as string, publicKey: Buffer.from(res.body.PublicKey, 'base64'), validTo: res.body.ParametersValidTo as string, algorithm };
  }

  /** GetParametersForImport, then ImportKeyMaterial of `material`, answered with `status`. */
  async function importMaterial(keyId: string, material: Buffer, status: number, extra: object = {}, algorithm: Algorithm = 'RSAES_OAEP_SHA_256') {
    const p = await parameters(keyId, algorithm);
    return h.call('importkeymaterial', {
      KeyId: keyId,
      ImportToken: p.token,
      EncryptedKeyMaterial: wrapMaterial(p.publicKey, algorithm, material).toString('base64'),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      ...extra,
    }).expect(status);
  }

  function newMaterial(): Buffer {
    const material = randomBytes(32);
    rememberSecret(material);
    return material;
  }

  async function describe_(keyId: string) {
    return (await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata;
  }

  async function encrypt(keyId: string, text: string): Promise<string> {
    return (await h.call('encrypt', { KeyId: keyId, Plaintext: Buffer.from(text).toString('base64') }).expect(200)).body.CiphertextBlob;
  }

  async function decryptsTo(blob: string, text: string): Promise<void> {
    const res = await h.call('decrypt', { CiphertextBlob: blob }).expect(200);
    expect(Buffer.from(res.body.Plaintext, 'base64').toString()).to.equal(text);
  }

  async function errorOf(action: string, body: object): Promise<string> {
    return (await h.call(action, body).expect(400)).body.__type;
  }

  it('createkey with Origin EXTERNAL makes a PendingImport key without material, which encrypts nothing', async () => {
    const keyId = await createExternalKey();
    const metadata = await describe_(keyId);
    expect(metadata).to.include({ Origin: 'EXTERNAL', KeyState: 'PendingImport', Enabled: false, KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' });
    expect(metadata).not.to.have.property('ExpirationModel');
    expect(await h.store.getVersion(keyId, 1)).to.equal(undefined);
    expect(await errorOf('encrypt', { KeyId: keyId, Plaintext: 'aGk=' })).to.equal('KMSInvalidStateException');
    expect(await errorOf('generatedatakey', { KeyId: keyId, KeySpec: 'AES_256' })).to.equal('KMSInvalidStateException');
    expect(await errorOf('enablekey', { KeyId: keyId })).to.equal('KMSInvalidStateException');
    expect(await errorOf('createkey', { Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })).to.equal('ValidationException');
  });

  for (const [algorithm, spec] of [['RSAES_OAEP_SHA_256', 'RSA_2048'], ['RSAES_OAEP_SHA_1', 'RSA_3072'], ['RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096']] as const) {
    it(`imports material wrapped with ${algorithm} under ${spec}: Enabled, and it encrypts and decrypts`, async () => {
      const keyId = await createExternalKey();
      const p = await parameters(keyId, algorithm, spec);
      const publicKey = createPublicKey({ key: p.publicKey, format: 'der', type: 'spki' });
      expect(publicKey.asymmetricKeyDetails?.modulusLength).to.equal(Number(spec.slice(4)));
      expect(Date.parse(p.validTo)).to.equal(now + DAY);
      const res = await h.call('importkeymaterial', {
        KeyId: keyId,
        ImportToken: p.token,
        EncryptedKeyMaterial: wrapMaterial(p.publicKey, algorithm, newMaterial()).toString('base64'),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }).expect(200);
      expect(res.body.KeyId).to.equal(keyId);
      expect(res.body.KeyMaterialId).to.match(/^[0-9a-f]{64}$/);
      const metadata = await describe_(keyId);
      expect(metadata).to.include({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
      expect(metadata).not.to.have.property('ValidTo');
      await decryptsTo(await encrypt(keyId, `imported with ${algorithm}`), `imported with ${algorithm}`);
    });
  }

  it('known answer: a blob Keyhold makes opens with an independent format-2 implementation, and ones it makes in either format open in Keyhold', async () => {
    const material = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const keyId = await createExternalKey();
    await importMaterial(keyId, material, 200);
    const context = { tenant: 'acme', purpose: 'invoices' };
    const made = await h.call('encrypt', { KeyId: keyId, Plaintext: Buffer.from('made by keyhold').toString('base64'), EncryptionContext: context }).expect(200);
    expect(openBlob(material, Buffer.from(made.body.CiphertextBlob, 'base64'), context).toString()).to.equal('made by keyhold');
    for (const format of [1, 2] as const) {
      const outside = sealBlob(format, material, keyId, Buffer.from(`made outside keyhold in format ${format}`), context);
      const opened = await h.call('decrypt', { CiphertextBlob: outside.toString('base64'), EncryptionContext: context }).expect(200);
      expect(Buffer.from(opened.body.Plaintext, 'base64').toString()).to.equal(`made outside keyhold in format ${format}`);
    }
    const ours = sealBlob(2, material, keyId, Buffer.from('made outside keyhold'), context);
    // The same blob under another context is refused: the context is bound as docs/api.md says.
    expect(await errorOf('decrypt', { CiphertextBlob: ours.toString('base64'), EncryptionContext: { tenant: 'other' } })).to.equal('InvalidCiphertextException');
  });

  it('refuses a token of another key, a used token, an earlier token and an expired one', async () => {
    const keyId = await createExternalKey();
    const other = await createExternalKey();
    const material = newMaterial();
    const theirs = await parameters(other);
    const body = (p: { token: string; publicKey: Buffer }) => ({
      KeyId: keyId,
      ImportToken: p.token,
      EncryptedKeyMaterial: wrapMaterial(p.publicKey, 'RSAES_OAEP_SHA_256', material).toString('base64'),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    });
    // Another key's token (its own parameters exist too).
    await parameters(keyId);
    expect(await errorOf('importkeymaterial', body(theirs))).to.equal('InvalidImportTokenException');
    // An earlier token of this key: a new call replaced it.
    const earlier = await parameters(keyId);
    const newer = await parameters(keyId);
    expect(await errorOf('importkeymaterial', body(earlier))).to.equal('InvalidImportTokenException');
    await h.call('importkeymaterial', body(newer)).expect(200);
    // Used: the same token again, even with the same material.
    expect(await errorOf('importkeymaterial', body(newer))).to.equal('InvalidImportTokenException');
    // Expired: a second after its 24 hours, before and after the scheduler dropped its private key.
    const late = await parameters(keyId);
    now += DAY + 1000;
    try {
      expect(await errorOf('importkeymaterial', body(late))).to.equal('ExpiredImportTokenException');
      await h.keyService.runScheduledWork();
      expect((await h.store.getKey(keyId))!.importParameters).to.not.have.property('wrappedPrivateKey');
      expect(await errorOf('importkeymaterial', body(late))).to.equal('ExpiredImportTokenException');
    } finally {
      now -= DAY + 1000;
    }
  });

  it('refuses material of the wrong length, and EncryptedKeyMaterial that does not unwrap', async () => {
    const keyId = await createExternalKey();
    for (const length of [1, 16, 31, 33, 64]) {
      const res = await importMaterial(keyId, randomBytes(length), 400);
      expect(res.body.__type, `${length} bytes`).to.equal('IncorrectKeyMaterialException');
    }
    const p = await parameters(keyId);
    const wrapped = wrapMaterial(p.publicKey, 'RSAES_OAEP_SHA_256', newMaterial());
    wrapped[10]! ^= 1;
    const body = { KeyId: keyId, ImportToken: p.token, EncryptedKeyMaterial: wrapped.toString('base64'), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' };
    expect(await errorOf('importkeymaterial', body)).to.equal('InvalidCiphertextException');
    // Wrapped for another algorithm than the token's.
    const aesWrapped = wrapMaterial(p.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', newMaterial());
    expect(await errorOf('importkeymaterial', { ...body, EncryptedKeyMaterial: aesWrapped.toString('base64') })).to.equal('InvalidCiphertextException');
    expect((await describe_(keyId)).KeyState).to.equal('PendingImport');
  });

  it('a second import must bring the same material: while Enabled, and after deletion', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    const first = await importMaterial(keyId, material, 200);
    expect((await importMaterial(keyId, newMaterial(), 400)).body.__type).to.equal('IncorrectKeyMaterialException');
    // The same material again (here to change its expiry): the same KeyMaterialId.
    const again = await importMaterial(keyId, material, 200, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(now + 30 * DAY).toISOString() });
    expect(again.body.KeyMaterialId).to.equal(first.body.KeyMaterialId);
    expect(await describe_(keyId)).to.include({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(now + 30 * DAY).toISOString() });
    await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    expect((await importMaterial(keyId, newMaterial(), 400)).body.__type).to.equal('IncorrectKeyMaterialException');
    expect((await importMaterial(keyId, newMaterial(), 400, { ImportType: 'NEW_KEY_MATERIAL' })).body.__type).to.equal('UnsupportedOperationException');
    expect((await importMaterial(keyId, material, 400, { KeyMaterialId: '0'.repeat(64) })).body.__type).to.equal('IncorrectKeyMaterialException');
    await importMaterial(keyId, material, 200, { KeyMaterialId: first.body.KeyMaterialId });
  });

  it('deletion of the material: PendingImport, blobs refused with KMSInvalidStateException, then the same material brings them back', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    await importMaterial(keyId, material, 200);
    const blob = await encrypt(keyId, 'before deletion');
    const res = await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    expect(res.body.KeyId).to.equal(keyId);
    const metadata = await describe_(keyId);
    expect(metadata).to.include({ KeyState: 'PendingImport', Enabled: false });
    expect(metadata).not.to.have.property('ExpirationModel');
    expect(await h.store.getVersion(keyId, 1)).to.equal(undefined);
    expect(await errorOf('decrypt', { CiphertextBlob: blob })).to.equal('KMSInvalidStateException');
    // Deleting again changes nothing.
    await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    await importMaterial(keyId, material, 200);
    await decryptsTo(blob, 'before deletion');
  });

  it('expiry reached while blobs exist: the scheduler deletes the material, and reimport brings the blobs back', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    const validTo = new Date(now + HOUR).toISOString();
    await importMaterial(keyId, material, 200, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
    expect(await describe_(keyId)).to.include({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
    const blob = await encrypt(keyId, 'expiring');
    await decryptsTo(blob, 'expiring');
    expect((await h.keyService.runScheduledWork()).expired).to.not.include(keyId);
    now += 2 * HOUR;
    try {
      const { expired } = await h.keyService.runScheduledWork();
      expect(expired).to.include(keyId);
      expect((await describe_(keyId)).KeyState).to.equal('PendingImport');
      expect(await errorOf('decrypt', { CiphertextBlob: blob })).to.equal('KMSInvalidStateException');
      await importMaterial(keyId, material, 200);
      await decryptsTo(blob, 'expiring');
      const trail = await h.store.listAudit();
      expect(trail.some((event) => event.Action === 'DeleteExpiredKeyMaterial' && event.KeyId === keyId && event.Principal === 'system')).to.equal(true);
    } finally {
      now -= 2 * HOUR;
    }
  });

  it('takes ExpirationModel and ValidTo as AWS KMS does', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    const cases: [object, string][] = [
      [{ ExpirationModel: undefined }, 'ValidationException'],
      [{ ExpirationModel: 'KEY_MATERIAL_EXPIRES' }, 'ValidationException'],
      [{ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(now - 1000).toISOString() }, 'ValidationException'],
      [{ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(now + 366 * DAY).toISOString() }, 'ValidationException'],
      [{ ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ValidTo: new Date(now + DAY).toISOString() }, 'ValidationException'],
      [{ ExpirationModel: 'SOMETIMES' }, 'ValidationException'],
      [{ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: 'tomorrow' }, 'ValidationException'],
    ];
    for (const [extra, type] of cases) expect((await importMaterial(keyId, material, 400, extra)).body.__type, JSON.stringify(extra)).to.equal(type);
    // Epoch seconds, as the AWS SDKs send it.
    await importMaterial(keyId, material, 200, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: (now + 10 * DAY) / 1000 });
    expect((await describe_(keyId)).ValidTo).to.equal(new Date(now + 10 * DAY).toISOString());
  });

  it('refuses rotation of a key with imported material, and import actions on other keys', async () => {
    const keyId = await createExternalKey();
    await importMaterial(keyId, newMaterial(), 200);
    expect(await errorOf('rotatekeyondemand', { KeyId: keyId })).to.equal('UnsupportedOperationException');
    expect(await errorOf('enablekeyrotation', { KeyId: keyId })).to.equal('UnsupportedOperationException');
    expect(await errorOf('disablekeyrotation', { KeyId: keyId })).to.equal('UnsupportedOperationException');
    // Reading the status answers, as AWS KMS answers it for such a key: not rotating, no rotations.
    expect((await h.call('getkeyrotationstatus', { KeyId: keyId }).expect(200)).body).to.deep.equal({ KeyId: keyId, KeyRotationEnabled: false });
    expect((await h.call('listkeyrotations', { KeyId: keyId }).expect(200)).body).to.deep.equal({ Rotations: [], Truncated: false });
    const ordinary = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    expect(await errorOf('getparametersforimport', { KeyId: ordinary, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })).to.equal('UnsupportedOperationException');
    expect(await errorOf('deleteimportedkeymaterial', { KeyId: ordinary })).to.equal('UnsupportedOperationException');
    expect(await errorOf('getparametersforimport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_PKCS1_V1_5', WrappingKeySpec: 'RSA_2048' })).to.equal('ValidationException');
    expect(await errorOf('getparametersforimport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_1024' })).to.equal('ValidationException');
  });

  it('key states: disabled keys take no import, deletion can be scheduled and cancelled back to PendingImport', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    await importMaterial(keyId, material, 200);
    await h.call('disablekey', { KeyId: keyId }).expect(200);
    expect((await importMaterial(keyId, material, 400)).body.__type).to.equal('KMSInvalidStateException');
    await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    expect((await describe_(keyId)).KeyState).to.equal('PendingImport');
    await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
    expect(await errorOf('getparametersforimport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })).to.equal('KMSInvalidStateException');
    await h.call('cancelkeydeletion', { KeyId: keyId }).expect(200);
    expect((await describe_(keyId)).KeyState).to.equal('PendingImport');
    await importMaterial(keyId, material, 200);
    expect((await describe_(keyId)).KeyState).to.equal('Enabled');
  });

  it('audits each step by its AWS action name, without the material', async () => {
    const keyId = await createExternalKey();
    const material = newMaterial();
    await importMaterial(keyId, material, 200);
    await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    const actions = (await h.store.listAudit()).filter((event) => event.KeyId === keyId).map((event) => event.Action);
    expect(actions).to.include.members(['CreateKey', 'GetParametersForImport', 'ImportKeyMaterial', 'DeleteImportedKeyMaterial']);
    const text = JSON.stringify(await h.store.listAudit());
    for (const form of [material.toString('base64'), material.toString('hex')]) expect(text).not.to.include(form);
  });

  it('keeps the wrapping private key wrapped under the root key, and no plaintext material on disk', async () => {
    const keyId = await createExternalKey();
    const p = await parameters(keyId);
    const stored = (await h.store.getKey(keyId))!.importParameters!;
    const token = Buffer.from(p.token, 'base64');
    const der = unwrapKey(h.rootKey, Buffer.from(stored.wrappedPrivateKey!, 'base64'), wrappingKeyAad(keyId, token));
    const publicKey = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    der.fill(0);
    expect(publicKey.equals(p.publicKey)).to.equal(true);
    const material = newMaterial();
    await h.call('importkeymaterial', {
      KeyId: keyId,
      ImportToken: p.token,
      EncryptedKeyMaterial: wrapMaterial(p.publicKey, 'RSAES_OAEP_SHA_256', material).toString('base64'),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    }).expect(200);
    expect((await h.store.getKey(keyId))!).not.to.have.property('importParameters');
    for (const file of filesUnder(h.dataDir)) expect(file.includes(material), 'plaintext material on disk').to.equal(false);
    // The store may be a database elsewhere (KEYHOLD_TEST_STORE=postgres): its records, read back.
    const records = await storedRecords(h.store);
    // The search can succeed: the wrapped material is among the records.
    const wrapped = (await h.store.getVersion(keyId, 1))!;
    expect(records.some((record) => record.includes(wrapped))).to.equal(true);
    for (const record of records) expect(record.includes(material), 'plaintext material in a stored record').to.equal(false);
  });

  /* ------------------------------------------------------------ HMAC keys */

  async function createExternalHmacKey(keySpec: HmacSpec = 'HMAC_256'): Promise<string> {
    const res = await h.call('createkey', { Origin: 'EXTERNAL', KeySpec: keySpec, KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'byok hmac' }).expect(200);
    return res.body.KeyMetadata.KeyId;
  }

  function macAlgorithm(keySpec: HmacSpec): string {
    return keySpec.replace('HMAC_', 'HMAC_SHA_');
  }

  async function generateMac(keyId: string, keySpec: HmacSpec, message: Buffer): Promise<Buffer> {
    const res = await h.call('generatemac', { KeyId: keyId, Message: message.toString('base64'), MacAlgorithm: macAlgorithm(keySpec) }).expect(200);
    return Buffer.from(res.body.Mac, 'base64');
  }

  function verifyMac(keyId: string, keySpec: HmacSpec, message: Buffer, mac: Buffer) {
    return h.call('verifymac', { KeyId: keyId, Message: message.toString('base64'), Mac: mac.toString('base64'), MacAlgorithm: macAlgorithm(keySpec) });
  }

  function newSecret(length: number): Buffer {
    const secret = randomBytes(length);
    rememberSecret(secret);
    return secret;
  }

  it('HMAC: createkey with Origin EXTERNAL and an HMAC KeySpec makes a PendingImport HMAC key, which makes no MAC', async () => {
    const keyId = await createExternalHmacKey('HMAC_384');
    const metadata = await describe_(keyId);
    expect(metadata).to.include({ Origin: 'EXTERNAL', KeyState: 'PendingImport', Enabled: false, KeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC' });
    expect(metadata.MacAlgorithms).to.deep.equal(['HMAC_SHA_384']);
    expect(metadata).not.to.have.property('EncryptionAlgorithms');
    expect(await h.store.getVersion(keyId, 1)).to.equal(undefined);
    const message = Buffer.from('pending').toString('base64');
    expect(await errorOf('generatemac', { KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_384' })).to.equal('KMSInvalidStateException');
    expect(await errorOf('verifymac', { KeyId: keyId, Message: message, Mac: Buffer.alloc(48).toString('base64'), MacAlgorithm: 'HMAC_SHA_384' })).to.equal('KMSInvalidStateException');
    // KeyUsage is required for an HMAC key, as in AWS KMS (its default, ENCRYPT_DECRYPT, is an HMAC key's wrong usage).
    expect(await errorOf('createkey', { Origin: 'EXTERNAL', KeySpec: 'HMAC_256' })).to.equal('ValidationException');
    expect(await errorOf('createkey', { Origin: 'EXTERNAL', KeySpec: 'HMAC_256', KeyUsage: 'ENCRYPT_DECRYPT' })).to.equal('ValidationException');
    expect(await errorOf('createkey', { Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'GENERATE_VERIFY_MAC' })).to.equal('ValidationException');
    // HMAC keys do not rotate, imported or not: the rotation actions refuse as for every HMAC key.
    for (const action of ['rotatekeyondemand', 'enablekeyrotation', 'getkeyrotationstatus', 'listkeyrotations']) {
      expect(await errorOf(action, { KeyId: keyId }), action).to.equal('UnsupportedOperationException');
    }
  });

  // Each wrapping algorithm, each spec, and lengths from the spec's own to its hash's block size.
  const hmacCases = [
    ['HMAC_224', 64, 'RSAES_OAEP_SHA_256', 'RSA_2048'],
    ['HMAC_256', 32, 'RSAES_OAEP_SHA_1', 'RSA_2048'],
    ['HMAC_384', 100, 'RSAES_OAEP_SHA_1', 'RSA_3072'],
    ['HMAC_512', 128, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096'],
  ] as const;
  for (const [keySpec, length, algorithm, wrappingSpec] of hmacCases) {
    it(`HMAC known answer: ${length} bytes imported into ${keySpec} with ${algorithm}; Keyhold's MAC is node's createHmac and openssl mac of the secret`, async () => {
      const keyId = await createExternalHmacKey(keySpec);
      const secret = newSecret(length);
      const p = await parameters(keyId, algorithm, wrappingSpec);
      const res = await h.call('importkeymaterial', {
        KeyId: keyId,
        ImportToken: p.token,
        EncryptedKeyMaterial: wrapMaterial(p.publicKey, algorithm, secret).toString('base64'),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }).expect(200);
      expect(res.body.KeyMaterialId).to.match(/^[0-9a-f]{64}$/);
      expect(await describe_(keyId)).to.include({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
      for (const message of [Buffer.from('imported hmac'), randomBytes(4096)]) {
        const mac = await generateMac(keyId, keySpec, message);
        const expected = createHmac(HMAC_HASHES[keySpec].toLowerCase(), secret).update(message).digest();
        expect(mac.toString('hex')).to.equal(expected.toString('hex'));
        expect(mac.toString('hex')).to.equal(opensslMac(keySpec, secret, message).toString('hex'));
        expect((await verifyMac(keyId, keySpec, message, expected).expect(200)).body.MacValid).to.equal(true);
      }
      // A MAC made outside Keyhold under another secret of the same length does not verify.
      const forged = createHmac(HMAC_HASHES[keySpec].toLowerCase(), randomBytes(length)).update('imported hmac').digest();
      expect((await verifyMac(keyId, keySpec, Buffer.from('imported hmac'), forged).expect(400)).body.__type).to.equal('KMSInvalidMacException');
      // Stored as an HMAC secret (AAD …|1|mac), never as an envelope version key.
      const wrapped = (await h.store.getVersion(keyId, 1))!;
      const stored = unwrapKey(h.rootKey, wrapped, macKeyAad(keyId, 1));
      expect(stored.equals(secret)).to.equal(true);
      stored.fill(0);
      expect(() => unwrapKey(h.rootKey, wrapped, versionKeyAad(keyId, 1))).to.throw();
      expect(await errorOf('encrypt', { KeyId: keyId, Plaintext: 'aGk=' })).to.equal('InvalidKeyUsageException');
    });
  }

  it('HMAC: refuses material shorter than the spec or longer than its hash block, for every spec', async () => {
    const wrong: [HmacSpec, number[]][] = [
      ['HMAC_224', [1, 27, 65]],
      ['HMAC_256', [28, 31, 65]],
      ['HMAC_384', [32, 47, 129]],
      ['HMAC_512', [48, 63, 129]],
    ];
    for (const [keySpec, lengths] of wrong) {
      const keyId = await createExternalHmacKey(keySpec);
      for (const length of lengths) {
        const res = await importMaterial(keyId, randomBytes(length), 400);
        expect(res.body.__type, `${keySpec}: ${length} bytes`).to.equal('IncorrectKeyMaterialException');
        expect(res.body.message).to.include(`${keySpec} key`);
      }
      expect((await describe_(keyId)).KeyState, keySpec).to.equal('PendingImport');
    }
  });

  it('HMAC: a reimport must be the same secret; deletion makes MACs fail until it is imported again, then old MACs verify', async () => {
    const keyId = await createExternalHmacKey('HMAC_256');
    const secret = newSecret(48);
    const first = await importMaterial(keyId, secret, 200);
    const message = Buffer.from('kept across deletion');
    const mac = await generateMac(keyId, 'HMAC_256', message);
    // Other material of a valid length, while Enabled and after deletion.
    expect((await importMaterial(keyId, newSecret(48), 400)).body.__type).to.equal('IncorrectKeyMaterialException');
    expect((await importMaterial(keyId, newSecret(32), 400)).body.__type).to.equal('IncorrectKeyMaterialException');
    const again = await importMaterial(keyId, secret, 200, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(now + 30 * DAY).toISOString() });
    expect(again.body.KeyMaterialId).to.equal(first.body.KeyMaterialId);
    await h.call('deleteimportedkeymaterial', { KeyId: keyId }).expect(200);
    expect(await describe_(keyId)).to.include({ KeyState: 'PendingImport', Enabled: false });
    expect(await h.store.getVersion(keyId, 1)).to.equal(undefined);
    expect((await verifyMac(keyId, 'HMAC_256', message, mac).expect(400)).body.__type).to.equal('KMSInvalidStateException');
    expect(await errorOf('generatemac', { KeyId: keyId, Message: message.toString('base64'), MacAlgorithm: 'HMAC_SHA_256' })).to.equal('KMSInvalidStateException');
    expect((await importMaterial(keyId, newSecret(48), 400)).body.__type).to.equal('IncorrectKeyMaterialException');
    expect((await importMaterial(keyId, newSecret(48), 400, { ImportType: 'NEW_KEY_MATERIAL' })).body.__type).to.equal('UnsupportedOperationException');
    await importMaterial(keyId, secret, 200, { KeyMaterialId: first.body.KeyMaterialId });
    expect((await verifyMac(keyId, 'HMAC_256', message, mac).expect(200)).body.MacValid).to.equal(true);
    expect((await generateMac(keyId, 'HMAC_256', message)).equals(mac)).to.equal(true);
  });

  it('HMAC: expiry reached, the scheduler deletes the secret; the same secret brings the MACs back', async () => {
    const keyId = await createExternalHmacKey('HMAC_512');
    const secret = newSecret(64);
    const validTo = new Date(now + HOUR).toISOString();
    await importMaterial(keyId, secret, 200, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
    expect(await describe_(keyId)).to.include({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
    const message = Buffer.from('expiring hmac');
    const mac = await generateMac(keyId, 'HMAC_512', message);
    now += 2 * HOUR;
    try {
      expect((await h.keyService.runScheduledWork()).expired).to.include(keyId);
      expect((await describe_(keyId)).KeyState).to.equal('PendingImport');
      expect((await verifyMac(keyId, 'HMAC_512', message, mac).expect(400)).body.__type).to.equal('KMSInvalidStateException');
      await importMaterial(keyId, secret, 200);
      expect((await verifyMac(keyId, 'HMAC_512', message, mac).expect(200)).body.MacValid).to.equal(true);
    } finally {
      now -= 2 * HOUR;
    }
  });

  // Last: the store now holds keys in every import state (pending, imported, deleted, expired, with parameters).
  it('leaves a store that keyhold admin verify-store finds whole', async () => {
    const { problems, problemCount, counts } = await verifyStoreRecords(h.store, h.rootKey);
    expect(problems, JSON.stringify(problems.slice(0, 5))).to.deep.equal([]);
    expect(problemCount).to.equal(0);
    expect(counts.keys).to.be.above(20);
    expect(counts.schedule).to.be.above(0);
    // A wrapping key that no longer unwraps (here: bound to another token) is reported.
    const keyId = await createExternalKey();
    await parameters(keyId);
    const record = (await h.store.getKey(keyId))!;
    const damaged = { ...record, importParameters: { ...record.importParameters!, token: randomBytes(32).toString('base64') } };
    await h.store.write(h.store.batch().putKey(damaged));
    const after = await verifyStoreRecords(h.store, h.rootKey);
    expect(after.problems).to.deep.equal([{ record: `keys/${keyId}`, message: `keys/${keyId}: its import wrapping key does not unwrap under the root key` }]);
  });
});
