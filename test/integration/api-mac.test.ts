import { execFileSync } from 'node:child_process';
import { createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { openHarness, type Harness } from '../helpers/service-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** AWS KMS's HMAC specs: key material length, the one algorithm, its hash (node and openssl names). */
const SPECS = [
  { spec: 'HMAC_224', bytes: 28, algorithm: 'HMAC_SHA_224', node: 'sha224', openssl: 'SHA224' },
  { spec: 'HMAC_256', bytes: 32, algorithm: 'HMAC_SHA_256', node: 'sha256', openssl: 'SHA256' },
  { spec: 'HMAC_384', bytes: 48, algorithm: 'HMAC_SHA_384', node: 'sha384', openssl: 'SHA384' },
  { spec: 'HMAC_512', bytes: 64, algorithm: 'HMAC_SHA_512', node: 'sha512', openssl: 'SHA512' },
] as const;
const ALGORITHMS = SPECS.map((s) => s.algorithm);

/**
 * An HMAC key's secret, read the way an auditor with the root key would: the wrapped bytes from
 * the store, opened step by step with node:crypto (AES-256-GCM, iv(12) || ciphertext || tag(16),
 * AAD `keyhold:v1|<KeyId>|1|mac`), not through Keyhold's own unwrap. Only this test's store is read.
 */
async function secretOf(h: Harness, keyId: string): Promise<Buffer> {
  const wrapped = (await h.store.getVersion(keyId, 1))!;
  const decipher = createDecipheriv('aes-256-gcm', h.rootKey, wrapped.subarray(0, 12), { authTagLength: 16 });
  decipher.setAAD(Buffer.from(`keyhold:v1|${keyId}|1|mac`, 'utf8'));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
  return Buffer.concat([decipher.update(wrapped.subarray(12, wrapped.length - 16)), decipher.final()]);
}

/** `openssl mac` (OpenSSL 3), an implementation independent of node's binding. */
function opensslMac(digest: string, secret: Buffer, message: Buffer, dir: string): Buffer {
  const file = path.join(dir, `message-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, message);
  const hex = execFileSync('openssl', ['mac', '-digest', digest, '-macopt', `hexkey:${secret.toString('hex')}`, '-in', file, 'HMAC'], { encoding: 'utf8' });
  return Buffer.from(hex.trim(), 'hex');
}

describe('API: HMAC keys (generatemac, verifymac)', function () {
  this.timeout(60_000);
  let h: Harness;
  const keys = new Map<string, string>();
  let symmetric: string;
  let rsa: string;
  const tmp = makeTempDir();

  before(async () => {
    h = await openHarness();
    for (const { spec } of SPECS) {
      const res = await h.call('createkey', { KeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC', Description: spec }).expect(200);
      keys.set(spec, res.body.KeyMetadata.KeyId);
    }
    symmetric = (await h.call('createkey', {}).expect(200)).body.KeyMetadata.KeyId;
    rsa = (await h.call('createkey', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }).expect(200)).body.KeyMetadata.KeyId;
  });
  after(async () => {
    await h.close();
    tmp.remove();
  });

  const mac = (keyId: string, message: Buffer, algorithm: string) =>
    h.call('generatemac', { KeyId: keyId, Message: message.toString('base64'), MacAlgorithm: algorithm });
  const verifyMac = (keyId: string, message: Buffer, macBytes: Buffer, algorithm: string) =>
    h.call('verifymac', { KeyId: keyId, Message: message.toString('base64'), Mac: macBytes.toString('base64'), MacAlgorithm: algorithm });

  it('describekey shows spec, usage and MacAlgorithms, and no EncryptionAlgorithms or SigningAlgorithms (as AWS)', async () => {
    for (const { spec, algorithm } of SPECS) {
      const { KeyMetadata } = (await h.call('describekey', { KeyId: keys.get(spec) }).expect(200)).body;
      expect(KeyMetadata).to.include({ KeySpec: spec, CustomerMasterKeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC', Origin: 'KEYHOLD', Enabled: true, KeyRotationEnabled: false });
      expect(KeyMetadata.MacAlgorithms).to.deep.equal([algorithm]);
      expect(KeyMetadata).to.not.have.property('EncryptionAlgorithms');
      expect(KeyMetadata).to.not.have.property('SigningAlgorithms');
    }
    const { KeyMetadata } = (await h.call('describekey', { KeyId: symmetric }).expect(200)).body;
    expect(KeyMetadata).to.not.have.property('MacAlgorithms');
    expect(KeyMetadata.EncryptionAlgorithms).to.deep.equal(['SYMMETRIC_DEFAULT']);
  });

  it('createkey refuses an HMAC spec without KeyUsage or with another usage, and GENERATE_VERIFY_MAC with another spec', async () => {
    for (const body of [
      { KeySpec: 'HMAC_256' },
      { KeySpec: 'HMAC_256', KeyUsage: 'ENCRYPT_DECRYPT' },
      { KeySpec: 'HMAC_512', KeyUsage: 'SIGN_VERIFY' },
      { KeyUsage: 'GENERATE_VERIFY_MAC' },
      { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'GENERATE_VERIFY_MAC' },
      { KeySpec: 'ECC_NIST_P256', KeyUsage: 'GENERATE_VERIFY_MAC' },
      { KeySpec: 'HMAC_128', KeyUsage: 'GENERATE_VERIFY_MAC' },
    ]) {
      const res = await h.call('createkey', body).expect(400);
      expect(res.body.__type, JSON.stringify(body)).to.equal('ValidationException');
    }
  });

  it('keeps material of the spec length, and every MAC equals node:crypto and openssl mac over it', async () => {
    for (const { spec, bytes, algorithm, node, openssl } of SPECS) {
      const keyId = keys.get(spec)!;
      const secret = await secretOf(h, keyId);
      expect(secret.length, spec).to.equal(bytes);
      for (const message of [Buffer.from('a'), Buffer.from('The quick brown fox'), randomBytes(1000), randomBytes(4096)]) {
        const res = await mac(keyId, message, algorithm).expect(200);
        expect(res.body).to.include({ KeyId: keyId, MacAlgorithm: algorithm });
        const keyhold = Buffer.from(res.body.Mac, 'base64');
        const expected = createHmac(node, secret).update(message).digest();
        expect(keyhold.equals(expected), `${spec} node:crypto`).to.equal(true);
        const fromOpenssl = opensslMac(openssl, secret, message, tmp.path);
        expect(keyhold.equals(fromOpenssl), `${spec} openssl`).to.equal(true);
        // A MAC made outside Keyhold, by openssl, verifies in Keyhold.
        expect((await verifyMac(keyId, message, fromOpenssl, algorithm).expect(200)).body).to.deep.equal({ KeyId: keyId, MacValid: true, MacAlgorithm: algorithm });
      }
      secret.fill(0);
    }
  });

  it('verifymac refuses a changed MAC, a changed message and a truncated MAC with KMSInvalidMacException', async () => {
    for (const { spec, algorithm } of SPECS) {
      const keyId = keys.get(spec)!;
      const message = Buffer.from('pay 100 to alice');
      const good = Buffer.from((await mac(keyId, message, algorithm).expect(200)).body.Mac, 'base64');
      const flipped = Buffer.from(good);
      flipped[flipped.length - 1]! ^= 1;
      for (const [what, m, tag] of [
        ['flipped bit', message, flipped],
        ['other message', Buffer.from('pay 900 to alice'), good],
        ['truncated', message, good.subarray(0, 16)],
        ['extended', message, Buffer.concat([good, Buffer.from([0])])],
      ] as const) {
        const res = await verifyMac(keyId, m, tag, algorithm).expect(400);
        expect(res.body.__type, `${spec} ${what}`).to.equal('KMSInvalidMacException');
      }
    }
  });

  it('a MAC from one key does not verify under another key of the same spec', async () => {
    const other = (await h.call('createkey', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }).expect(200)).body.KeyMetadata.KeyId;
    const message = Buffer.from('same message');
    const fromFirst = Buffer.from((await mac(keys.get('HMAC_256')!, message, 'HMAC_SHA_256').expect(200)).body.Mac, 'base64');
    const fromOther = Buffer.from((await mac(other, message, 'HMAC_SHA_256').expect(200)).body.Mac, 'base64');
    expect(fromFirst.equals(fromOther)).to.equal(false);
    expect((await verifyMac(other, message, fromFirst, 'HMAC_SHA_256').expect(400)).body.__type).to.equal('KMSInvalidMacException');
  });

  it('the same key, message and algorithm always give the same MAC', async () => {
    const message = randomBytes(64);
    const first = (await mac(keys.get('HMAC_384')!, message, 'HMAC_SHA_384').expect(200)).body.Mac;
    expect((await mac(keys.get('HMAC_384')!, message, 'HMAC_SHA_384').expect(200)).body.Mac).to.equal(first);
  });

  it('refuses an algorithm that is not the key spec’s with InvalidKeyUsageException, an unknown one with ValidationException', async () => {
    for (const { spec, algorithm } of SPECS) {
      for (const other of ALGORITHMS.filter((a) => a !== algorithm)) {
        const res = await mac(keys.get(spec)!, Buffer.from('x'), other).expect(400);
        expect(res.body.__type, `${spec} ${other}`).to.equal('InvalidKeyUsageException');
        const verified = await verifyMac(keys.get(spec)!, Buffer.from('x'), randomBytes(32), other).expect(400);
        expect(verified.body.__type, `${spec} ${other}`).to.equal('InvalidKeyUsageException');
      }
    }
    for (const unknown of ['HMAC_SHA_1', 'hmac_sha_256', 'SYMMETRIC_DEFAULT']) {
      expect((await mac(keys.get('HMAC_256')!, Buffer.from('x'), unknown).expect(400)).body.__type).to.equal('ValidationException');
    }
  });

  it('refuses an empty message and a 4097-byte message, takes 4096 bytes', async () => {
    const keyId = keys.get('HMAC_256')!;
    for (const action of ['generatemac', 'verifymac']) {
      for (const message of [Buffer.alloc(0), Buffer.alloc(4097, 1)]) {
        const res = await h.call(action, { KeyId: keyId, Message: message.toString('base64'), Mac: 'AAAA', MacAlgorithm: 'HMAC_SHA_256' }).expect(400);
        expect(res.body.__type, `${action} ${message.length}`).to.equal('ValidationException');
      }
    }
    await mac(keyId, Buffer.alloc(4096, 1), 'HMAC_SHA_256').expect(200);
    for (const body of [{ KeyId: keyId, Message: 'aGk=' }, { KeyId: keyId, MacAlgorithm: 'HMAC_SHA_256' }, { Message: 'aGk=', MacAlgorithm: 'HMAC_SHA_256' }]) {
      expect((await h.call('generatemac', body).expect(400)).body.__type).to.equal('ValidationException');
    }
    expect((await h.call('verifymac', { KeyId: keyId, Message: 'aGk=', MacAlgorithm: 'HMAC_SHA_256' }).expect(400)).body.__type).to.equal('ValidationException');
  });

  it('ignores GrantTokens and DryRun, as every action ignores fields it has no use for', async () => {
    const res = await h.call('generatemac', { KeyId: keys.get('HMAC_256'), Message: 'aGk=', MacAlgorithm: 'HMAC_SHA_256', GrantTokens: ['t'], DryRun: false }).expect(200);
    expect(res.body.Mac).to.be.a('string');
  });

  it('refuses other keys for generatemac/verifymac and HMAC keys for everything else with InvalidKeyUsageException', async () => {
    for (const keyId of [symmetric, rsa]) {
      expect((await mac(keyId, Buffer.from('x'), 'HMAC_SHA_256').expect(400)).body.__type).to.equal('InvalidKeyUsageException');
      expect((await verifyMac(keyId, Buffer.from('x'), randomBytes(32), 'HMAC_SHA_256').expect(400)).body.__type).to.equal('InvalidKeyUsageException');
    }
    const hmacKey = keys.get('HMAC_256')!;
    const blob = (await h.call('encrypt', { KeyId: symmetric, Plaintext: 'aGk=' }).expect(200)).body.CiphertextBlob;
    for (const [action, body] of [
      ['encrypt', { KeyId: hmacKey, Plaintext: 'aGk=' }],
      ['encrypt', { KeyId: hmacKey, Plaintext: 'aGk=', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }],
      ['decrypt', { KeyId: hmacKey, CiphertextBlob: blob }],
      ['decrypt', { KeyId: hmacKey, CiphertextBlob: blob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }],
      ['generatedatakey', { KeyId: hmacKey, KeySpec: 'AES_256' }],
      ['generatedatakeywithoutplaintext', { KeyId: hmacKey, NumberOfBytes: 32 }],
      ['reencrypt', { CiphertextBlob: blob, DestinationKeyId: hmacKey }],
      ['sign', { KeyId: hmacKey, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }],
      ['verify', { KeyId: hmacKey, Message: 'aGk=', Signature: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }],
      ['getpublickey', { KeyId: hmacKey }],
    ] as const) {
      const res = await h.call(action, body).expect(400);
      expect(res.body.__type, `${action} ${JSON.stringify(body)}`).to.equal('InvalidKeyUsageException');
    }
  });

  it('does not rotate HMAC keys, automatically or on demand (as AWS): UnsupportedOperationException', async () => {
    const keyId = keys.get('HMAC_512')!;
    for (const action of ['rotatekeyondemand', 'enablekeyrotation', 'disablekeyrotation', 'getkeyrotationstatus', 'listkeyrotations']) {
      const res = await h.call(action, { KeyId: keyId }).expect(400);
      expect(res.body.__type, action).to.equal('UnsupportedOperationException');
    }
    expect((await h.call('describekey', { KeyId: keyId }).expect(200)).body.KeyMetadata.CurrentKeyVersion).to.equal(1);
  });

  it('follows the key state: Disabled and PendingDeletion refuse, re-enabled works again with the same MAC', async () => {
    const keyId = (await h.call('createkey', { KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' }).expect(200)).body.KeyMetadata.KeyId;
    const message = Buffer.from('state');
    const before = Buffer.from((await mac(keyId, message, 'HMAC_SHA_224').expect(200)).body.Mac, 'base64');
    await h.call('disablekey', { KeyId: keyId }).expect(200);
    expect((await mac(keyId, message, 'HMAC_SHA_224').expect(400)).body.__type).to.equal('DisabledException');
    expect((await verifyMac(keyId, message, before, 'HMAC_SHA_224').expect(400)).body.__type).to.equal('DisabledException');
    await h.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: 7 }).expect(200);
    expect((await mac(keyId, message, 'HMAC_SHA_224').expect(400)).body.__type).to.equal('KMSInvalidStateException');
    expect((await verifyMac(keyId, message, before, 'HMAC_SHA_224').expect(400)).body.__type).to.equal('KMSInvalidStateException');
    await h.call('cancelkeydeletion', { KeyId: keyId }).expect(200);
    await h.call('enablekey', { KeyId: keyId }).expect(200);
    await verifyMac(keyId, message, before, 'HMAC_SHA_224').expect(200);
  });

  it('works through an alias and answers NotFoundException for a key that does not exist', async () => {
    await h.call('createalias', { AliasName: 'alias/mac-test', TargetKeyId: keys.get('HMAC_256') }).expect(200);
    const res = await mac('alias/mac-test', Buffer.from('x'), 'HMAC_SHA_256').expect(200);
    expect(res.body.KeyId).to.equal(keys.get('HMAC_256'));
    expect((await mac('00000000-0000-4000-8000-000000000000', Buffer.from('x'), 'HMAC_SHA_256').expect(404)).body.__type).to.equal('NotFoundException');
  });

  it('records GenerateMac and VerifyMac in the audit trail, without the message or the MAC', async () => {
    const keyId = keys.get('HMAC_256')!;
    const message = Buffer.from('audited message');
    const tag = (await mac(keyId, message, 'HMAC_SHA_256').expect(200)).body.Mac;
    await verifyMac(keyId, message, Buffer.from(tag, 'base64'), 'HMAC_SHA_256').expect(200);
    await verifyMac(keyId, message, randomBytes(32), 'HMAC_SHA_256').expect(400);
    const generated = (await h.call('listauditevents', { KeyId: keyId, Action: 'GenerateMac', Limit: 1000 }).expect(200)).body.Events;
    const verified = (await h.call('listauditevents', { KeyId: keyId, Action: 'VerifyMac', Limit: 1000 }).expect(200)).body.Events;
    expect(generated.length).to.be.greaterThan(0);
    expect(verified.map((e: { Outcome: string }) => e.Outcome)).to.include.members(['Success', 'KMSInvalidMacException']);
    const trail = JSON.stringify([...generated, ...verified]);
    expect(trail).to.not.include(tag);
    expect(trail).to.not.include(message.toString('base64'));
  });

  it('a policy grants kms:GenerateMac and kms:VerifyMac separately', async () => {
    const created = (
      await h.call('createcredential', { Description: 'mac only', Policy: { Statement: [{ Effect: 'Allow', Action: 'kms:GenerateMac', Resource: '*' }] } }).expect(200)
    ).body;
    const credential = { accessKeyId: created.Credential.AccessKeyId as string, secretKey: Buffer.from(created.SecretKey as string, 'base64') };
    const body = { KeyId: keys.get('HMAC_256'), Message: 'aGk=', MacAlgorithm: 'HMAC_SHA_256' };
    const made = await h.post('/api/v1/kms/generatemac', body, { credential }).expect(200);
    const refused = await h.post('/api/v1/kms/verifymac', { ...body, Mac: made.body.Mac }, { credential }).expect(403);
    expect(refused.body.__type).to.equal('AccessDeniedException');
  });
});
