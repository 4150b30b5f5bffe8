import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { generateSelfSignedCertificate, type SelfSignedCertificate } from '../../src/runtime/self-signed.js';

const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SPKI = publicKey.export({ type: 'spki', format: 'der' });

/** Canned answers per action; records each request body as JSON. */
class CannedKeyhold {
  readonly bodies: Array<{ action: string; body: Record<string, unknown> }> = [];
  answers = new Map<string, { status: number; body: unknown }>();
  server!: https.Server;

  async start(certificate: SelfSignedCertificate): Promise<string> {
    this.server = https.createServer({ cert: certificate.certPem, key: certificate.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const action = req.url!.split('?')[0]!.split('/').pop()!;
        this.bodies.push({ action, body: JSON.parse(Buffer.concat(chunks).toString()) });
        const answer = this.answers.get(action) ?? { status: 404, body: { __type: 'NotFoundException', message: 'no such key' } };
        const payload = JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(payload);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('KeyholdClient, asymmetric keys', () => {
  let certificate: SelfSignedCertificate;
  let fake: CannedKeyhold;
  let client: KeyholdClient;

  before(async () => {
    certificate = await generateSelfSignedCertificate({});
  });
  beforeEach(async () => {
    fake = new CannedKeyhold();
    const url = await fake.start(certificate);
    client = new KeyholdClient({ url, accessKeyId: 'KHTEST', secretKey: Buffer.alloc(32, 7), certSha256: certificate.sha256 });
  });
  afterEach(async () => {
    client.close();
    await fake.stop();
  });

  it('getPublicKey decodes the DER SubjectPublicKeyInfo and lists the algorithms', async () => {
    fake.answers.set('getpublickey', {
      status: 200,
      body: { KeyId: 'k-1', PublicKey: SPKI.toString('base64'), KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ['ECDSA_SHA_256'] },
    });
    const key = await client.getPublicKey('alias/k');
    expect(fake.bodies[0]).to.deep.equal({ action: 'getpublickey', body: { KeyId: 'alias/k' } });
    expect(createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }).equals(publicKey)).to.equal(true);
    expect(key).to.deep.include({ keyId: 'k-1', keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', signingAlgorithms: ['ECDSA_SHA_256'], encryptionAlgorithms: [] });
  });

  it('sign sends Message as base64 with MessageType RAW by default and decodes the Signature', async () => {
    fake.answers.set('sign', { status: 200, body: { KeyId: 'k-1', Signature: Buffer.from('sig').toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' } });
    const signed = await client.sign({ keyId: 'k-1', message: Buffer.from('hello'), signingAlgorithm: 'ECDSA_SHA_256' });
    expect(fake.bodies[0]!.body).to.deep.equal({ KeyId: 'k-1', Message: 'aGVsbG8=', MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect(signed).to.deep.equal({ keyId: 'k-1', signature: Buffer.from('sig'), signingAlgorithm: 'ECDSA_SHA_256' });
  });

  it('verify answers signatureValid true, and false for KMSInvalidSignatureException', async () => {
    fake.answers.set('verify', { status: 200, body: { KeyId: 'k-1', SignatureValid: true, SigningAlgorithm: 'ECDSA_SHA_256' } });
    const options = { keyId: 'k-1', message: Buffer.alloc(32), messageType: 'DIGEST' as const, signature: Buffer.from('sig'), signingAlgorithm: 'ECDSA_SHA_256' };
    expect(await client.verify(options)).to.deep.equal({ keyId: 'k-1', signatureValid: true, signingAlgorithm: 'ECDSA_SHA_256' });
    expect(fake.bodies[0]!.body).to.include({ MessageType: 'DIGEST', Signature: 'c2ln' });
    fake.answers.set('verify', { status: 400, body: { __type: 'KMSInvalidSignatureException', message: 'bad' } });
    expect(await client.verify(options)).to.deep.equal({ keyId: 'k-1', signatureValid: false, signingAlgorithm: 'ECDSA_SHA_256' });
  });

  it('verify throws every other error', async () => {
    fake.answers.set('verify', { status: 400, body: { __type: 'InvalidKeyUsageException', message: 'symmetric key' } });
    const error = await client
      .verify({ keyId: 'k-1', message: Buffer.from('m'), signature: Buffer.from('s'), signingAlgorithm: 'ECDSA_SHA_256' })
      .then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(KeyholdApiError);
    expect((error as KeyholdApiError).type).to.equal('InvalidKeyUsageException');
  });

  it('createKey sends Origin and ProviderKeyId; encrypt and decrypt send EncryptionAlgorithm', async () => {
    fake.answers.set('createkey', { status: 200, body: { KeyMetadata: { KeyId: 'k-2', Origin: 'GCP_KMS' } } });
    fake.answers.set('encrypt', { status: 200, body: { KeyId: 'k-2', CiphertextBlob: 'AAEC', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } });
    fake.answers.set('decrypt', { status: 200, body: { KeyId: 'k-2', Plaintext: 'aGk=', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } });
    const providerKeyId = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
    await client.createKey({ origin: 'GCP_KMS', providerKeyId });
    expect(fake.bodies[0]!.body).to.include({ Origin: 'GCP_KMS', ProviderKeyId: providerKeyId });
    const encrypted = await client.encrypt({ keyId: 'k-2', plaintext: Buffer.from('hi'), encryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(fake.bodies[1]!.body).to.include({ EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(encrypted).to.deep.equal({ ciphertextBlob: Buffer.from([0, 1, 2]), keyId: 'k-2', encryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    const decrypted = await client.decrypt({ keyId: 'k-2', ciphertextBlob: encrypted.ciphertextBlob, encryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(fake.bodies[2]!.body).to.include({ KeyId: 'k-2', CiphertextBlob: 'AAEC', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(decrypted.plaintext.toString()).to.equal('hi');
  });
});
