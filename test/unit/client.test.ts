import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { expect } from 'chai';
import type { Principal } from '../../src/auth/principal.js';
import { verifyRequestSignature } from '../../src/auth/verify-signature.js';
import { KeyholdApiError, KeyholdClient, KeyholdConnectionError } from '../../src/client/index.js';
import { KmsError } from '../../src/errors.js';
import { certificateSha256, generateSelfSignedCertificate, type SelfSignedCertificate } from '../../src/runtime/self-signed.js';

const ACCESS_KEY_ID = 'KHCLIENTTEST';
const SECRET = randomBytes(32);
const PRINCIPAL: Principal = { accessKeyId: ACCESS_KEY_ID, admin: true };

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** The query string the client signed (its nonce). */
  query: string | undefined;
  principal?: Principal;
}

/** A stand-in Keyhold server: verifies each signature with the real verifier, then answers per action. */
class FakeKeyhold {
  readonly requests: SeenRequest[] = [];
  tlsConnections = 0;
  server!: https.Server;
  port = 0;

  constructor(private readonly certificate: SelfSignedCertificate) {}

  async start(): Promise<void> {
    this.server = https.createServer({ cert: this.certificate.certPem, key: this.certificate.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res));
    });
    this.server.on('secureConnection', () => this.tlsConnections++);
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    // The client signs a nonce in each call's query: the fake routes by path, and checks the nonce is there.
    const [route, query] = req.url!.split('?') as [string, string | undefined];
    const seen: SeenRequest = { method: req.method!, url: route, headers: req.headers, body, query };
    this.requests.push(seen);
    res.setHeader('X-Request-Id', 'req-0001');
    if (req.url === '/healthz') return json(res, 200, { status: 'ok' });
    try {
      seen.principal = verifyRequestSignature(
        { method: req.method!, pathWithQuery: req.url!, headers: req.headers, body },
        {
          lookupCredential: (id) => (id === ACCESS_KEY_ID ? { secretKey: SECRET, principal: PRINCIPAL } : undefined),
          now: new Date(),
        },
      );
    } catch (err) {
      if (err instanceof KmsError) return json(res, err.status, { __type: err.type, message: err.message });
      throw err;
    }
    const input = JSON.parse(body.toString()) as Record<string, string>;
    switch (route) {
      case '/api/v1/kms/describekey':
        return json(res, 200, { KeyMetadata: { KeyId: input.KeyId, KeyState: 'Enabled' } });
      case '/api/v1/kms/encrypt': {
        // Reverses the plaintext bytes so the test sees both base64 directions.
        const blob = Buffer.from(input.Plaintext!, 'base64').reverse().toString('base64');
        // KeyId `unpadded` gets the blob without its padding, which the client must refuse.
        return json(res, 200, { CiphertextBlob: input.KeyId === 'unpadded' ? blob.replace(/=+$/, '') : blob, KeyId: input.KeyId });
      }
      case '/api/v1/kms/generaterandom':
        return json(res, 200, { Plaintext: Buffer.alloc(Number(input.NumberOfBytes), 0xab).toString('base64') });
      case '/api/v1/kms/notjson':
        res.writeHead(502, { 'Content-Type': 'text/html' });
        return void res.end('<html>bad gateway</html>');
      default:
        return json(res, 404, { __type: 'NotFoundException', message: `Key 'missing' does not exist` });
    }
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const payload = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Waits until `condition` holds, for at most `ms`. */
async function eventually(condition: () => boolean, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('KeyholdClient', () => {
  let certificate: SelfSignedCertificate;
  let server: FakeKeyhold;
  const clients: KeyholdClient[] = [];

  function client(options: Partial<ConstructorParameters<typeof KeyholdClient>[0]> = {}): KeyholdClient {
    const made = new KeyholdClient({
      url: server.url,
      accessKeyId: ACCESS_KEY_ID,
      secretKey: SECRET.toString('base64'),
      certSha256: certificate.sha256,
      ...options,
    });
    clients.push(made);
    return made;
  }

  before(async () => {
    certificate = await generateSelfSignedCertificate({});
  });

  beforeEach(async () => {
    server = new FakeKeyhold(certificate);
    await server.start();
  });

  afterEach(async () => {
    for (const made of clients.splice(0)) made.close();
    await server.stop();
  });

  describe('signing', () => {
    it('sends a request that verifyRequestSignature accepts on the server', async () => {
      const answer = await client().call('describekey', { KeyId: 'k-1' });
      expect(answer).to.deep.equal({ KeyMetadata: { KeyId: 'k-1', KeyState: 'Enabled' } });
      expect(server.requests).to.have.length(1);
      const seen = server.requests[0]!;
      expect(seen.principal).to.deep.equal(PRINCIPAL);
      expect(seen.method).to.equal('POST');
      expect(seen.url).to.equal('/api/v1/kms/describekey');
      expect(seen.headers['content-type']).to.equal('application/json');
    });

    it('signs a fresh nonce into the query of every call, so equal calls are distinct requests', async () => {
      await client().call('describekey', { KeyId: 'k-1' });
      await client().call('describekey', { KeyId: 'k-1' });
      const [first, second] = server.requests.map((seen) => seen.query);
      expect(first).to.match(/^nonce=[A-Za-z0-9_-]{16}$/);
      expect(second).to.match(/^nonce=[A-Za-z0-9_-]{16}$/);
      expect(first).not.to.equal(second);
    });

    it('is refused by the server under a wrong secret', async () => {
      const err = await rejectionOf(client({ secretKey: randomBytes(32) }).describeKey('k-1'));
      expect(err).to.be.instanceOf(KeyholdApiError);
      expect((err as KeyholdApiError).type).to.equal('InvalidSignatureException');
      expect((err as KeyholdApiError).status).to.equal(401);
    });

    it('sends GET /healthz unsigned', async () => {
      expect(await client().health()).to.deep.equal({ status: 'ok' });
      expect(server.requests[0]!.method).to.equal('GET');
      expect(server.requests[0]!.headers.authorization).to.equal(undefined);
    });
  });

  describe('certificate pinning', () => {
    it('accepts the pinned fingerprint, also in upper case with colons', async () => {
      const colons = certificate.sha256.toUpperCase().match(/../g)!.join(':');
      expect((await client({ certSha256: colons }).describeKey('k-2')).KeyId).to.equal('k-2');
      expect(certificateSha256(certificate.certPem)).to.equal(certificate.sha256);
    });

    it('reuses one pinned connection for several calls', async () => {
      const kms = client();
      await kms.describeKey('a');
      await kms.describeKey('b');
      expect(server.tlsConnections).to.equal(1);
    });

    it('sends no request at all to a server whose certificate does not match the pin', async () => {
      const wrongPin = 'ab'.repeat(32);
      const err = await rejectionOf(client({ certSha256: wrongPin }).call('describekey', { KeyId: 'k-3' }));
      expect(err).to.be.instanceOf(KeyholdConnectionError);
      const error = err as KeyholdConnectionError;
      expect(error.code).to.equal('CERT_PIN_MISMATCH');
      expect(error.message).to.include(wrongPin).and.to.include(certificate.sha256);
      // The TLS handshake completed on the server, yet its request handler never ran.
      await eventually(() => server.tlsConnections > 0);
      expect(server.tlsConnections).to.be.greaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server.requests).to.have.length(0);
    });

    it('writes not one byte of application data before the pin is checked', async () => {
      // A bare TLS server, to see every byte the client writes after the handshake.
      let applicationBytes = 0;
      let handshakes = 0;
      let closed = 0;
      const raw = tls.createServer({ cert: certificate.certPem, key: certificate.keyPem }, (socket) => {
        handshakes++;
        socket.on('data', (chunk: Buffer) => (applicationBytes += chunk.length));
        socket.on('error', () => {});
        socket.on('close', () => closed++);
      });
      await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
      try {
        const url = `https://127.0.0.1:${(raw.address() as AddressInfo).port}`;
        const kms = client({ url, certSha256: 'cd'.repeat(32) });
        const err = await rejectionOf(kms.call('encrypt', { KeyId: 'k', Plaintext: 'AA==' }));
        expect(err).to.be.instanceOf(KeyholdConnectionError);
        // The client completes the handshake and closes: the server saw a whole TLS session
        // that carried no application data.
        await eventually(() => closed > 0);
        expect(handshakes).to.equal(1);
        expect(closed).to.equal(1);
        expect(applicationBytes).to.equal(0);
      } finally {
        await new Promise<void>((resolve) => raw.close(() => resolve()));
      }
    });

    it('without a pin, refuses the self-signed certificate before sending the request', async () => {
      const err = await rejectionOf(client({ certSha256: undefined }).describeKey('k-4'));
      expect(err).to.be.instanceOf(KeyholdConnectionError);
      expect(server.requests).to.have.length(0);
    });

    it('without a pin, trusts the certificate given as ca', async () => {
      const kms = client({ certSha256: undefined, ca: certificate.certPem });
      expect((await kms.describeKey('k-5')).KeyId).to.equal('k-5');
    });
  });

  describe('answers', () => {
    it('turns an error body into KeyholdApiError with type, status, message and request id', async () => {
      const err = await rejectionOf(client().call('unknownaction', {}));
      expect(err).to.be.instanceOf(KeyholdApiError);
      const error = err as KeyholdApiError;
      expect(error.type).to.equal('NotFoundException');
      expect(error.status).to.equal(404);
      expect(error.message).to.equal(`Key 'missing' does not exist`);
      expect(error.requestId).to.equal('req-0001');
    });

    it('turns a non-JSON error body into KeyholdApiError UnexpectedResponse', async () => {
      const err = await rejectionOf(client().call('notjson', {}));
      expect(err).to.be.instanceOf(KeyholdApiError);
      expect((err as KeyholdApiError).type).to.equal('UnexpectedResponse');
      expect((err as KeyholdApiError).status).to.equal(502);
    });

    it('sends Buffers as base64 and decodes base64 answers to Buffers', async () => {
      const kms = client();
      const { ciphertextBlob, keyId } = await kms.encrypt({ keyId: 'k-6', plaintext: Buffer.from([1, 2, 3]) });
      expect(keyId).to.equal('k-6');
      expect(ciphertextBlob).to.deep.equal(Buffer.from([3, 2, 1]));
      expect(JSON.parse(server.requests[0]!.body.toString())).to.deep.equal({ KeyId: 'k-6', Plaintext: 'AQID' });
      expect(await kms.generateRandom(4)).to.deep.equal(Buffer.alloc(4, 0xab));
    });

    it('refuses an answer byte field that is not standard padded base64', async () => {
      const err = await rejectionOf(client().encrypt({ keyId: 'unpadded', plaintext: Buffer.from([1, 2, 3, 4]) }));
      expect(err).to.be.instanceOf(KeyholdApiError);
      expect((err as KeyholdApiError).type).to.equal('UnexpectedResponse');
      expect((err as KeyholdApiError).message).to.match(/CiphertextBlob is missing or not base64/);
    });
  });

  describe('connection failures', () => {
    it('reports a refused connection as KeyholdConnectionError', async () => {
      const port = server.port;
      await server.stop();
      server = new FakeKeyhold(certificate);
      await server.start();
      const err = await rejectionOf(client({ url: `https://127.0.0.1:${port}` }).describeKey('k'));
      expect(err).to.be.instanceOf(KeyholdConnectionError);
      expect((err as KeyholdConnectionError).code).to.equal('ECONNREFUSED');
    });

    it('reports a server that never answers as KeyholdConnectionError ETIMEDOUT', async () => {
      const silent = https.createServer({ cert: certificate.certPem, key: certificate.keyPem }, () => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
        const err = await rejectionOf(client({ url, timeoutMs: 200 }).describeKey('k'));
        expect(err).to.be.instanceOf(KeyholdConnectionError);
        expect((err as KeyholdConnectionError).code).to.equal('ETIMEDOUT');
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  });

  describe('construction', () => {
    it('refuses a secret that is not 32 bytes, without echoing it', () => {
      const short = randomBytes(16).toString('base64');
      expect(() => client({ secretKey: short })).to.throw(TypeError).that.satisfies((e: Error) => !e.message.includes(short));
      expect(() => client({ secretKey: 'not base64!' })).to.throw(TypeError);
    });

    it('refuses a plain http URL and a malformed pin', () => {
      expect(() => client({ url: 'http://127.0.0.1:8443' })).to.throw(TypeError, /https/);
      expect(() => client({ certSha256: 'abc' })).to.throw(TypeError, /certSha256/);
    });
  });

  describe('fromCredentialsFile', () => {
    let directory: string;
    beforeEach(() => {
      directory = mkdtempSync(join(tmpdir(), 'keyhold-client-'));
    });
    afterEach(() => rmSync(directory, { recursive: true, force: true }));

    it('reads AccessKeyId, SecretKey, Url and CertSha256, and the client works', async () => {
      const path = join(directory, 'admin.credentials');
      writeFileSync(path, JSON.stringify({
        AccessKeyId: ACCESS_KEY_ID,
        SecretKey: SECRET.toString('base64'),
        Url: server.url,
        CertSha256: certificate.sha256,
      }));
      chmodSync(path, 0o600);
      const kms = KeyholdClient.fromCredentialsFile(path);
      clients.push(kms);
      expect((await kms.describeKey('k-7')).KeyId).to.equal('k-7');
      expect(server.requests[0]!.principal).to.deep.equal(PRINCIPAL);
    });

    it('applies overrides over the file', async () => {
      const path = join(directory, 'admin.credentials');
      writeFileSync(path, JSON.stringify({
        AccessKeyId: 'KHOTHER',
        SecretKey: SECRET.toString('base64'),
        Url: server.url,
        CertSha256: certificate.sha256,
      }));
      const kms = KeyholdClient.fromCredentialsFile(path, { accessKeyId: ACCESS_KEY_ID });
      clients.push(kms);
      expect((await kms.describeKey('k-8')).KeyId).to.equal('k-8');
    });

    it('reports a broken file without quoting its content', () => {
      const path = join(directory, 'admin.credentials');
      const secret = SECRET.toString('base64');
      writeFileSync(path, `{ "AccessKeyId": "x", "SecretKey": "${secret}" `);
      expect(() => KeyholdClient.fromCredentialsFile(path))
        .to.throw(Error, /not valid JSON/)
        .that.satisfies((e: Error) => !e.message.includes(secret));
      writeFileSync(path, JSON.stringify({ AccessKeyId: 'x', SecretKey: secret }));
      expect(() => KeyholdClient.fromCredentialsFile(path)).to.throw(Error, /Url/);
      expect(() => KeyholdClient.fromCredentialsFile(join(directory, 'missing'))).to.throw(Error, /ENOENT/);
    });

    it('refuses a file whose Url is not https or whose CertSha256 is no fingerprint, naming the field', () => {
      const path = join(directory, 'admin.credentials');
      const fields = { AccessKeyId: 'x', SecretKey: SECRET.toString('base64'), Url: server.url, CertSha256: certificate.sha256 };
      writeFileSync(path, JSON.stringify({ ...fields, Url: server.url.replace('https:', 'http:') }));
      expect(() => KeyholdClient.fromCredentialsFile(path)).to.throw(Error, /: Url is not an https URL$/);
      writeFileSync(path, JSON.stringify({ ...fields, Url: 'not a url' }));
      expect(() => KeyholdClient.fromCredentialsFile(path)).to.throw(Error, /: Url is not an https URL$/);
      writeFileSync(path, JSON.stringify({ ...fields, CertSha256: 'ab'.repeat(31) }));
      expect(() => KeyholdClient.fromCredentialsFile(path)).to.throw(Error, /: CertSha256 is not a hex SHA-256 fingerprint$/);
    });
  });
});
