import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  DecryptCommand,
  DisableKeyCommand,
  DisabledException,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  InvalidKeyUsageException,
  KMSClient,
  KMSServiceException,
  UnsupportedOperationException,
} from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { expect } from 'chai';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';

/** node:crypto signs with the private key and verifies with the public key. */
function signsAndVerifies(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const message = Buffer.from('signed outside Keyhold');
  return verify('sha256', message, publicKey, sign('sha256', message, privateKey));
}

/** Data key pairs through a real server process: the unchanged AWS SDK, and the `keyhold datakey-pair` command. */
describe('data key pairs through the AWS SDK and the command line, against a real server', function () {
  this.timeout(120_000);
  let cli: CliServer;
  let kms: KMSClient;
  let symmetric: string;

  before(async () => {
    cli = await startCliServer('data key pair doors passphrase (test)');
    kms = new KMSClient({
      endpoint: cli.server.url,
      region: REGION,
      credentials: { accessKeyId: cli.adminCredentials.AccessKeyId, secretAccessKey: cli.adminCredentials.SecretKey },
      requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(path.join(cli.cwd, 'data', 'tls-cert.pem')) }) }),
      maxAttempts: 1,
    });
    symmetric = (await cli.admin.createKey({ description: 'wraps data key pairs' })).KeyId;
    await cli.admin.call('createalias', { AliasName: 'alias/pairs', TargetKeyId: symmetric });
  });
  after(async () => {
    kms?.destroy();
    await cli?.close();
  });

  const file = (name: string) => path.join(cli.cwd, name);

  function openssl(args: string[], input?: Buffer): string {
    const result = spawnSync('openssl', args, { cwd: cli.cwd, input, encoding: 'utf8' });
    expect(result.status, `openssl ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  }

  describe('@aws-sdk/client-kms', () => {
    for (const spec of ['ECC_SECG_P256K1', 'RSA_2048'] as const) {
      it(`GenerateDataKeyPairCommand (${spec}): DER keys of one pair, the key ARN, and DecryptCommand gives the private key back`, async () => {
        const context = { door: 'aws', spec };
        const answer = await kms.send(new GenerateDataKeyPairCommand({ KeyId: 'alias/pairs', KeyPairSpec: spec, EncryptionContext: context }));
        rememberSecret(Buffer.from(answer.PrivateKeyPlaintext!));
        expect(answer.KeyId).to.equal(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${symmetric}`);
        expect(answer.KeyPairSpec).to.equal(spec);
        const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: answer.PrivateKeyCiphertextBlob, EncryptionContext: context }));
        expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(answer.PrivateKeyPlaintext!))).to.equal(true);
        const privateKey = createPrivateKey({ key: Buffer.from(answer.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
        const publicKey = createPublicKey({ key: Buffer.from(answer.PublicKey!), format: 'der', type: 'spki' });
        expect(signsAndVerifies(privateKey, publicKey)).to.equal(true);
        // The native client decrypts it too: one ciphertext format.
        const native = await cli.admin.decrypt({ ciphertextBlob: Buffer.from(answer.PrivateKeyCiphertextBlob!), encryptionContext: context });
        expect(native.plaintext.equals(Buffer.from(answer.PrivateKeyPlaintext!))).to.equal(true);
      });
    }

    it('GenerateDataKeyPairWithoutPlaintextCommand: no PrivateKeyPlaintext', async () => {
      const answer = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P521' }));
      expect(answer).not.to.have.property('PrivateKeyPlaintext');
      expect(answer).to.include({ KeyPairSpec: 'ECC_NIST_P521', KeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${symmetric}` });
      const der = Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: answer.PrivateKeyCiphertextBlob }))).Plaintext!);
      rememberSecret(der);
      const publicKey = createPublicKey({ key: Buffer.from(answer.PublicKey!), format: 'der', type: 'spki' });
      expect(signsAndVerifies(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), publicKey)).to.equal(true);
    });

    it('raises the AWS error classes: Recipient, an asymmetric key, a disabled key, a spec Keyhold lacks', async () => {
      const recipient = { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const, AttestationDocument: Buffer.from('not an attestation') };
      const refused = await rejectionOf(kms.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256', Recipient: recipient })), UnsupportedOperationException);
      expect(refused.message).to.include('Recipient');
      const signing = (await cli.admin.createKey({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' })).KeyId;
      await rejectionOf(kms.send(new GenerateDataKeyPairCommand({ KeyId: signing, KeyPairSpec: 'ECC_NIST_P256' })), InvalidKeyUsageException);
      const badSpec = await rejectionOf(kms.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'SM2' })), KMSServiceException);
      expect(badSpec.name).to.equal('ValidationException');
      const disabled = (await cli.admin.createKey({})).KeyId;
      await kms.send(new DisableKeyCommand({ KeyId: disabled }));
      await rejectionOf(kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: disabled, KeyPairSpec: 'RSA_2048' })), DisabledException);
    });
  });

  describe('KeyholdClient', () => {
    it('generateDataKeyPair and generateDataKeyPairWithoutPlaintext answer Buffers; decrypt gives the private key back', async () => {
      const context = { door: 'client' };
      const pair = await cli.admin.generateDataKeyPair({ keyId: 'alias/pairs', keyPairSpec: 'ECC_NIST_P384', encryptionContext: context });
      rememberSecret(pair.privateKeyPlaintext);
      expect(pair).to.include({ keyId: symmetric, keyPairSpec: 'ECC_NIST_P384' });
      expect((await cli.admin.decrypt({ ciphertextBlob: pair.privateKeyCiphertextBlob, encryptionContext: context })).plaintext.equals(pair.privateKeyPlaintext)).to.equal(true);
      const publicKey = createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' });
      expect(signsAndVerifies(createPrivateKey({ key: pair.privateKeyPlaintext, format: 'der', type: 'pkcs8' }), publicKey)).to.equal(true);

      const later = await cli.admin.generateDataKeyPairWithoutPlaintext({ keyId: symmetric, keyPairSpec: 'RSA_2048' });
      expect(Object.keys(later).sort()).to.deep.equal(['keyId', 'keyPairSpec', 'privateKeyCiphertextBlob', 'publicKey']);
      const der = (await cli.admin.decrypt({ ciphertextBlob: later.privateKeyCiphertextBlob })).plaintext;
      rememberSecret(der);
      expect(createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' }).equals(later.publicKey)).to.equal(true);
    });
  });

  describe('keyhold datakey-pair', () => {
    it('writes PEM files: the private key (mode 0600) and the public key of one pair; keyhold decrypt of the encrypted one gives its DER', async () => {
      const printed = await cli.json([
        'datakey-pair', '--key-id', 'alias/pairs', '--spec', 'ECC_NIST_P256', '--context', 'app=signer',
        '--private-key-out', 'signer.pem', '--public-key-out', 'signer.pub.pem', '--encrypted-private-key-out', 'signer.key.blob',
      ]);
      expect(printed).to.deep.equal({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256' });
      const privatePem = readFileSync(file('signer.pem'), 'utf8');
      expect(privatePem).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(statSync(file('signer.pem')).mode & 0o777).to.equal(0o600);
      const privateKey = createPrivateKey(privatePem);
      rememberSecret(privateKey.export({ format: 'der', type: 'pkcs8' }));
      const publicKey = createPublicKey(readFileSync(file('signer.pub.pem'), 'utf8'));
      expect(signsAndVerifies(privateKey, publicKey)).to.equal(true);

      const decrypted = await cli.keyhold(['decrypt', '--in', 'signer.key.blob', '--context', 'app=signer']);
      expect(decrypted.code, decrypted.stderr).to.equal(0);
      expect(decrypted.stdout.equals(privateKey.export({ format: 'der', type: 'pkcs8' }))).to.equal(true);
      for (const [args, text] of [[['-in', 'signer.pem'], /ASN1 OID: prime256v1/], [['-pubin', '-in', 'signer.pub.pem'], /ASN1 OID: prime256v1/]] as const) {
        expect(openssl(['pkey', ...args, '-noout', '-text'])).to.match(text);
      }
      // The example of docs/cli.md: openssl signs with the PEM and verifies with the public PEM, and the
      // decrypted blob, through `openssl pkey -inform DER`, is the same PEM again.
      writeFileSync(file('invoice.pdf'), 'an invoice');
      openssl(['dgst', '-sha256', '-sign', 'signer.pem', '-out', 'invoice.sig', 'invoice.pdf']);
      expect(openssl(['dgst', '-sha256', '-verify', 'signer.pub.pem', '-signature', 'invoice.sig', 'invoice.pdf'])).to.equal('Verified OK\n');
      expect(openssl(['pkey', '-inform', 'DER'], decrypted.stdout)).to.equal(privatePem);
    });

    it('--der writes DER; --without-plaintext writes no private key', async () => {
      await cli.json(['datakey-pair', '--key-id', symmetric, '--spec', 'RSA_2048', '--der', '--private-key-out', 'rsa.der', '--public-key-out', 'rsa.pub.der', '--encrypted-private-key-out', 'rsa.blob']);
      const der = readFileSync(file('rsa.der'));
      rememberSecret(der);
      const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      const publicKey = createPublicKey({ key: readFileSync(file('rsa.pub.der')), format: 'der', type: 'spki' });
      expect(signsAndVerifies(privateKey, publicKey)).to.equal(true);
      expect((await cli.admin.decrypt({ ciphertextBlob: readFileSync(file('rsa.blob')) })).plaintext.equals(der)).to.equal(true);

      const printed = await cli.json(['datakey-pair', '--key-id', symmetric, '--spec', 'ECC_NIST_P384', '--without-plaintext', '--public-key-out', 'later.pub.pem', '--encrypted-private-key-out', 'later.blob']);
      expect(printed).to.deep.equal({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P384' });
      const later = (await cli.admin.decrypt({ ciphertextBlob: readFileSync(file('later.blob')) })).plaintext;
      rememberSecret(later);
      expect(signsAndVerifies(createPrivateKey({ key: later, format: 'der', type: 'pkcs8' }), createPublicKey(readFileSync(file('later.pub.pem'), 'utf8')))).to.equal(true);
    });

    it('refuses bad arguments with exit 2 before asking the server, and a server error with exit 1', async () => {
      const base = ['datakey-pair', '--key-id', symmetric, '--spec', 'ECC_NIST_P256', '--public-key-out', 'x.pub', '--encrypted-private-key-out', 'x.blob'];
      writeFileSync(file('x.pub'), 'untouched');
      for (const [extra, stderr] of [
        [[], /give --private-key-out FILE, or --without-plaintext/],
        [['--private-key-out', 'x.pem', '--without-plaintext'], /not both/],
        [['--private-key-out', 'x.pub'], /a file of its own/],
        [['--private-key-out', '.'], /--private-key-out \. exists and is a directory/],
      ] as const) {
        const result = await cli.keyhold([...base, ...extra]);
        expect(result.code, `${extra.join(' ')}: ${result.stderr}`).to.equal(2);
        expect(result.stderr).to.match(stderr);
      }
      const badSpec = await cli.keyhold(['datakey-pair', '--key-id', symmetric, '--spec', 'SM2', '--without-plaintext', '--public-key-out', 'y.pub', '--encrypted-private-key-out', 'y.blob']);
      expect(badSpec.code).to.equal(2);
      expect(readFileSync(file('x.pub'), 'utf8')).to.equal('untouched');

      const signing = (await cli.admin.createKey({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' })).KeyId;
      const refused = await cli.keyhold(['datakey-pair', '--key-id', signing, '--spec', 'ECC_NIST_P256', '--without-plaintext', '--public-key-out', 'z.pub', '--encrypted-private-key-out', 'z.blob']);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/^Error: InvalidKeyUsageException: /);
    });
  });
});
