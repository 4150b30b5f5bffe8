import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { ReplayMemory } from '../../src/auth/replay-guard.js';
import { createApp } from '../../src/api/app.js';
import { signRequest } from '../../src/protocol/signing.js';
import { createLogger } from '../../src/runtime/logger.js';
import { capturedLog } from '../helpers/log-capture.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';

// Headers every HTTP answer has whatever the application does, and the ones Keyhold sets itself.
const NOT_FROM_HELMET = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'transfer-encoding', 'x-request-id']);

function helmetPart(headers: http.IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !NOT_FROM_HELMET.has(name)));
}

/** Sends raw bytes to the app on a real socket and resolves with the status line and body. */
function rawExchange(app: http.RequestListener, head: string, body: string | Buffer[]): Promise<{ status: number; body: string }> {
  const server = http.createServer(app);
  return new Promise((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: head, headers: {} });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          server.close();
          resolve({ status: res.statusCode!, body: text });
        });
      });
      if (typeof body === 'string') req.end(body);
      else {
        for (const chunk of body) req.write(chunk);
        req.end();
      }
    });
  });
}

describe('the action route', () => {
  let h: Harness;

  before(async () => {
    h = await openHarness();
  });
  after(async () => {
    await h.close();
  });

  it("sends on every answer exactly the security headers of helmet's defaults", async () => {
    const reference = express().use(helmet()).get('/', (_req, res) => res.end());
    const expected = helmetPart((await request(reference).get('/').expect(200)).headers);
    expect(Object.keys(expected)).to.include.members(['content-security-policy', 'strict-transport-security', 'x-content-type-options']);
    const answers = [
      await h.call('generaterandom', { NumberOfBytes: 8 }).expect(200),
      await h.call('encrypt', { KeyId: 'alias/none', Plaintext: 'AAAA' }).expect(404),
      await request(h.app).post('/api/v1/kms/encrypt').send('{}').expect(401),
      await request(h.app).get('/api/v1/kms/encrypt').expect(404),
      await request(h.app).get('/healthz').expect(200),
    ];
    for (const answer of answers) {
      expect(helmetPart(answer.headers), `${answer.status}`).to.deep.equal(expected);
      expect(answer.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(answer.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
      expect(Number(answer.headers['content-length'])).to.equal(Buffer.byteLength(answer.text));
    }
  });

  it('matches the action path case-insensitively, with a trailing slash, a query or a percent-escape', async () => {
    for (const path of ['/API/V1/KMS/GenerateRandom', '/api/v1/kms/generaterandom/', '/api/v1/kms/generaterandom?x=1', '/api/v1/kms/generate%72andom']) {
      const res = await h.post(path, { NumberOfBytes: 4 });
      expect(res.status, path).to.equal(200);
      expect(Buffer.from(res.body.Plaintext, 'base64')).to.have.length(4);
    }
    const badEscape = await h.post('/api/v1/kms/generate%zzandom', { NumberOfBytes: 4 }).expect(400);
    expect(badEscape.body.__type).to.equal('UnknownOperationException');
    await h.post('/api/v1/kms/generaterandom/extra', { NumberOfBytes: 4 }).expect(404);
  });

  it('refuses a declared Content-Length over 64 KiB with 413 before any byte of the body arrives', async () => {
    const server = http.createServer(h.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/v1/kms/encrypt', headers: { 'Content-Length': '70000' } });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode!, body: text });
            req.destroy();
          });
        });
        req.flushHeaders(); // headers only: the body never comes
      });
      expect(answer.status).to.equal(413);
      expect(JSON.parse(answer.body).__type).to.equal('RequestEntityTooLarge');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a chunked body that grows past 64 KiB with 413', async () => {
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(4096, 0x41));
    const answer = await rawExchange(h.app, '/api/v1/kms/encrypt', chunks);
    expect(answer.status).to.equal(413);
    expect(JSON.parse(answer.body)).to.deep.equal({ __type: 'RequestEntityTooLarge', message: 'The request body is larger than 64 KiB' });
  });

  it('refuses a compressed body as ValidationException', async () => {
    const res = await h.post('/api/v1/kms/generaterandom', { NumberOfBytes: 4 }).set('Content-Encoding', 'gzip').expect(400);
    expect(res.body.__type).to.equal('ValidationException');
  });

  describe('access log', () => {
    function appLoggingAt(level: string, lines: string[]) {
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          capturedLog.push(String(chunk)); // also searched for secrets at the end of the run
          done();
        },
      });
      const app = createApp({
        keyService: h.keyService,
        credentials: h.credentials,
        audit: h.audit,
        replay: new ReplayMemory(),
        lookupCredential: (id) => (id === h.credential.accessKeyId ? { secretKey: h.credential.secretKey, principal: { accessKeyId: id, admin: true } } : undefined),
        logger: createLogger(level, sink),
        isHealthy: () => true,
      });
      const post = (path: string, body: string) =>
        request(app)
          .post(path)
          .set(signRequest({ method: 'POST', pathWithQuery: path, body: Buffer.from(body), ...h.credential }))
          .set('Content-Type', 'application/octet-stream')
          .send(Buffer.from(body));
      return { app, post };
    }

    it('writes one line per request at info, with the fields of the access log and nothing of the body', async () => {
      const lines: string[] = [];
      const { app, post } = appLoggingAt('info', lines);
      const ok = await post('/api/v1/kms/generaterandom?q=secret-query', '{"NumberOfBytes":16}').expect(200);
      await post('/api/v1/kms/launchmissiles', '{}').expect(400);
      await request(app).get('/healthz').expect(200);
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
      expect(entries).to.have.length(3);
      expect(entries[0]).to.include({
        requestId: ok.headers['x-request-id'],
        method: 'POST',
        path: '/api/v1/kms/generaterandom',
        status: 200,
        action: 'generaterandom',
        accessKeyId: h.credential.accessKeyId,
        level: 30,
      });
      expect(entries[0]!.durationMs).to.be.a('number');
      expect(entries[1]).to.include({ status: 400, errorType: 'UnknownOperationException' });
      expect(entries[2]).to.include({ method: 'GET', path: '/healthz', status: 200 });
      expect(lines.join('')).to.not.contain(ok.body.Plaintext).and.not.contain('secret-query');
    });

    it('sets nothing up and writes nothing when info lines are dropped', async () => {
      const lines: string[] = [];
      const { post } = appLoggingAt('warn', lines);
      await post('/api/v1/kms/generaterandom', '{"NumberOfBytes":16}').expect(200);
      await post('/api/v1/kms/launchmissiles', '{}').expect(400);
      expect(lines).to.deep.equal([]);
    });
  });
});
