import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const PASSPHRASE = 'disk full test passphrase, long enough';

/** Polls `probe` until it returns true, for at most `ms`. */
async function waitFor(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

async function healthStatus(url: string): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a full disk', function () {
  this.timeout(120_000);
  let tmpfs: Tmpfs | undefined;
  let server: ServerProcess | undefined;

  before(function () {
    const mounted = mountTmpfs(16);
    if (typeof mounted === 'string') {
      console.log(`      (skipped: ${mounted})`);
      this.skip();
    }
    tmpfs = mounted;
  });
  afterEach(async () => {
    tmpfs?.free();
    await server?.stop();
    server = undefined;
  });
  after(() => tmpfs?.unmount());

  it('answers 503 naming the cause while full, recovers once freed without a restart, and loses no acknowledged write', async () => {
    const dataDir = path.join(tmpfs!.path, 'data');
    const env = { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE };
    rememberSecret(PASSPHRASE);
    server = await startServerProcess(env, tmpfs!.path);
    const credentialsFile = path.join(dataDir, 'admin.credentials');
    const credentialsBefore = readFileSync(credentialsFile);
    let client = KeyholdClient.fromCredentialsFile(credentialsFile);

    // What was acknowledged: keys, and blobs made under them.
    const acknowledged: { keyId: string; blob: Buffer; plaintext: Buffer }[] = [];
    const acknowledge = async (label: string) => {
      const { KeyId } = await client.createKey({ description: label });
      const plaintext = Buffer.from(`plaintext under ${label}`);
      const { ciphertextBlob } = await client.encrypt({ keyId: KeyId, plaintext });
      acknowledged.push({ keyId: KeyId, blob: ciphertextBlob, plaintext });
    };
    for (let index = 0; index < 10; index++) await acknowledge(`before ${index}`);

    tmpfs!.fill();
    // Writes fail with 503 naming the cause, not 500; the first ones may still fit in LevelDB's buffers.
    let refused: KeyholdApiError | undefined;
    for (let attempt = 0; attempt < 2000 && !refused; attempt++) {
      try {
        await acknowledge(`while full ${attempt}`);
      } catch (error) {
        if (!(error instanceof KeyholdApiError)) throw error;
        refused = error;
      }
    }
    expect(refused, 'a write on a full disk is refused').to.not.equal(undefined);
    expect(refused!.status).to.equal(503);
    expect(refused!.type).to.equal('ServiceUnavailableException');
    expect(refused!.message).to.match(/no space left on device/);
    expect(await healthStatus(server.url)).to.equal(503);

    // Later writes are refused too; and every request fails closed, since its audit record
    // cannot be written: a decrypt answers 503 and no plaintext.
    const again = await rejectionOf(client.createKey({ description: 'still full' }), KeyholdApiError);
    expect(again.status).to.equal(503);
    const cached = acknowledged[0]!;
    // With two workers, a decrypt's record goes to its worker's journal, whose last page may
    // still hold a few: those decrypts are answered, and their records must not be lost.
    let unaudited: KeyholdApiError | undefined;
    let answeredWhileFull = 0;
    for (let attempt = 0; attempt < 2000 && !unaudited; attempt++) {
      try {
        await client.decrypt({ ciphertextBlob: cached.blob });
        answeredWhileFull++;
      } catch (error) {
        if (!(error instanceof KeyholdApiError)) throw error;
        unaudited = error;
      }
    }
    expect(unaudited, 'a decrypt on a full disk is refused').to.not.equal(undefined);
    expect(unaudited!.status).to.equal(503);
    expect(unaudited!.message).to.match(/audit trail cannot be written; nothing was done/);
    expect(server.stdout()).to.match(/the audit record of a request could not be written/);

    // Space comes back: the store reopens by itself and takes writes again.
    tmpfs!.free();
    const healthy = await waitFor(async () => (await healthStatus(server!.url)) === 200, 30_000);
    if (!healthy) console.log(server.stdout().split("\n").filter((line) => /store/.test(line)).slice(-8).join("\n"));
    expect(healthy, "/healthz ok again").to.equal(true);
    for (let index = 0; index < 10; index++) await acknowledge(`after ${index}`);

    // A restart finds every acknowledged key, and every acknowledged blob decrypts.
    expect(await server.stop()).to.equal(0);
    server = await startServerProcess(env, tmpfs!.path);
    client = KeyholdClient.fromCredentialsFile(credentialsFile, { url: server.url });
    for (const { keyId, blob, plaintext } of acknowledged) {
      expect((await client.describeKey(keyId)).KeyState).to.equal('Enabled');
      expect((await client.decrypt({ ciphertextBlob: blob })).plaintext).to.deep.equal(plaintext);
    }
    // Every decrypt answered while the disk was full has its record in the trail, and the one just made.
    const decrypts = await client.listAuditEvents({ keyId: cached.keyId, action: 'Decrypt', outcome: 'Success', limit: 1000 });
    expect(decrypts.events).to.have.length(answeredWhileFull + 1);
    expect(readFileSync(credentialsFile).equals(credentialsBefore), 'admin.credentials is unchanged').to.equal(true);
    expect(server.stdout()).to.not.contain(PASSPHRASE);
  });
});
