import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { expect } from 'chai';
import { PinnedAgent, signRequest } from '../../src/client/index.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'access cluster test passphrase, long enough';
type Signer = { accessKeyId: string; secretKey: Buffer };
interface Answer {
  status: number;
  worker: string;
  body: Record<string, unknown>;
}

/**
 * Revocation and replay with two HTTP workers (real server process, KEYHOLD_WORKERS=2): a
 * disabled credential fails on every worker as soon as the disable is answered, and a signed
 * state-changing request takes effect once, whichever worker it reaches.
 */
describe('credentials and replay across two workers', function () {
  this.timeout(180_000);
  let dir: { path: string; remove(): void };
  let server: ServerProcess;
  let admin: Signer;

  before(async () => {
    dir = makeTempDir('keyhold-access-');
    rememberSecret(PASSPHRASE);
    const dataDir = path.join(dir.path, 'data');
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2' }, dir.path);
    const file = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8'));
    admin = { accessKeyId: file.AccessKeyId, secretKey: Buffer.from(file.SecretKey, 'base64') };
    rememberSecret(admin.secretKey);
  });
  after(async () => {
    await server?.stop();
    dir?.remove();
  });

  /** One signed request on a new connection (node:cluster hands connections to the workers in turn). */
  function send(pathWithQuery: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
    const agent = new PinnedAgent({ certSha256: server.certSha256, keepAlive: false });
    return new Promise<Answer>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: pathWithQuery, headers: { 'Content-Type': 'application/json', ...headers }, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, worker: String(res.headers['x-keyhold-worker']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    }).finally(() => agent.destroy());
  }

  let nonce = 0;
  function call(signer: Signer, action: string, payload: object = {}): Promise<Answer> {
    const pathWithQuery = `/api/v1/kms/${action}?nonce=${nonce++}`;
    const body = Buffer.from(JSON.stringify(payload));
    return send(pathWithQuery, body, signRequest({ method: 'POST', pathWithQuery, body, ...signer }));
  }

  /** Sends `request` on new connections until both workers have answered one; every answer. */
  async function onBothWorkers(request: () => Promise<Answer>): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (let attempt = 0; attempt < 40 && new Set(answers.map((answer) => answer.worker)).size < 2; attempt++) answers.push(await request());
    expect(new Set(answers.map((answer) => answer.worker)).size, 'workers that answered').to.equal(2);
    return answers;
  }

  it('a disabled credential fails on both workers as soon as the disable is answered; enabled again, it works', async () => {
    const created = await call(admin, 'createcredential', {
      Description: 'app',
      Policy: { Statement: [{ Effect: 'Allow', Action: 'kms:GenerateRandom', Resource: '*' }] },
    });
    expect(created.status, JSON.stringify(created.body)).to.equal(200);
    const app: Signer = { accessKeyId: (created.body.Credential as { AccessKeyId: string }).AccessKeyId, secretKey: Buffer.from(created.body.SecretKey as string, 'base64') };
    rememberSecret(app.secretKey);
    expect((await onBothWorkers(() => call(app, 'generaterandom', { NumberOfBytes: 4 }))).every((answer) => answer.status === 200)).to.equal(true);

    expect((await call(admin, 'disablecredential', { AccessKeyId: app.accessKeyId })).status).to.equal(200);
    // Fired at once, in parallel, until both workers have answered (the kernel shares out the
    // connections, and may give one burst to one worker): not one may succeed.
    const burst: Answer[] = [];
    for (let round = 0; round < 10 && new Set(burst.map((answer) => answer.worker)).size < 2; round++) {
      burst.push(...(await Promise.all(Array.from({ length: 20 }, () => call(app, 'generaterandom', { NumberOfBytes: 4 })))));
    }
    expect(new Set(burst.map((answer) => answer.worker)).size, 'workers that answered the bursts').to.equal(2);
    expect(burst.map((answer) => answer.body.__type)).to.deep.equal(Array(burst.length).fill('UnrecognizedClientException'));

    expect((await call(admin, 'enablecredential', { AccessKeyId: app.accessKeyId })).status).to.equal(200);
    expect((await onBothWorkers(() => call(app, 'generaterandom', { NumberOfBytes: 4 }))).every((answer) => answer.status === 200)).to.equal(true);

    expect((await call(admin, 'deletecredential', { AccessKeyId: app.accessKeyId })).status).to.equal(200);
    const afterDelete = await onBothWorkers(() => call(app, 'generaterandom', { NumberOfBytes: 4 }));
    expect(afterDelete.map((answer) => answer.body.__type)).to.satisfy((types: unknown[]) => types.every((type) => type === 'UnrecognizedClientException'));
  });

  it('refuses to disable or delete the last enabled admin credential, saying so', async () => {
    for (const action of ['disablecredential', 'deletecredential']) {
      const answer = await call(admin, action, { AccessKeyId: admin.accessKeyId });
      expect(answer.status).to.equal(400);
      expect(answer.body.message).to.match(/last enabled admin credential/);
    }
  });

  it('takes a signed state-changing request once, whichever worker it reaches again', async () => {
    const before = (await call(admin, 'listkeys', { Limit: 1000 })).body.Keys as unknown[];
    const pathWithQuery = '/api/v1/kms/createkey';
    const body = Buffer.from(JSON.stringify({ Description: 'replayed?' }));
    const headers = signRequest({ method: 'POST', pathWithQuery, body, ...admin });
    const answers = await onBothWorkers(() => send(pathWithQuery, body, headers));
    expect(answers.filter((answer) => answer.status === 200)).to.have.length(1);
    for (const answer of answers.slice(1)) expect(answer.body.__type).to.equal('ReplayedRequestException');
    const after = (await call(admin, 'listkeys', { Limit: 1000 })).body.Keys as unknown[];
    expect(after.length - before.length).to.equal(1);
  });

  it('answers a replayed read again (only state-changing requests are taken once)', async () => {
    const pathWithQuery = '/api/v1/kms/generaterandom';
    const body = Buffer.from(JSON.stringify({ NumberOfBytes: 4 }));
    const headers = signRequest({ method: 'POST', pathWithQuery, body, ...admin });
    expect((await onBothWorkers(() => send(pathWithQuery, body, headers))).every((answer) => answer.status === 200)).to.equal(true);
  });
});
