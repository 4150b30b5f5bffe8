import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { generateSelfSignedCertificate } from '../../src/runtime/self-signed.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { StoreChoice } from '../helpers/test-store.js';

const PASSPHRASE = 'process test passphrase, long enough';

/** The store's logical content: what "nothing in the store changed" compares. */
async function storeSnapshot(dataDir: string): Promise<string> {
  const store = await LevelDbStore.open(dataDir);
  try {
    return JSON.stringify({
      root: await store.getRootKeyRecord(),
      keys: await store.listKeys(undefined, 100_000),
      credentials: await store.listCredentials(),
      audit: await store.listAudit(),
    });
  } finally {
    await store.close();
  }
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

describe('the server process (npm start)', function () {
  this.timeout(60_000);
  const dirs: { remove(): void }[] = [];
  const running: ServerProcess[] = [];

  function tempDir() {
    const dir = makeTempDir('keyhold-process-');
    dirs.push(dir);
    return dir.path;
  }

  async function start(env: Record<string, string>, cwd: string, choice: StoreChoice = {}) {
    const server = await startServerProcess(env, cwd, choice);
    running.push(server);
    return server;
  }

  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
  });
  after(() => dirs.forEach((dir) => dir.remove()));

  it('starts on its embedded defaults, serves the client, stops on SIGTERM with 0, restarts and decrypts an old blob', async () => {
    const cwd = tempDir();
    const dataDir = path.join(cwd, 'data');
    const first = await start({ KEYHOLD_DATA_DIR: dataDir }, cwd);
    expect(first.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);

    // The generated files: a dev passphrase and an admin credential, both 0600.
    const devPassphrase = path.join(dataDir, 'dev-passphrase');
    const credentialsFile = path.join(dataDir, 'admin.credentials');
    expect(mode(devPassphrase)).to.equal(0o600);
    expect(mode(credentialsFile)).to.equal(0o600);
    expect(mode(path.join(dataDir, 'tls-key.pem'))).to.equal(0o600);
    rememberSecret(readFileSync(devPassphrase, 'utf8').trim());
    const credentials = JSON.parse(readFileSync(credentialsFile, 'utf8'));
    rememberSecret(Buffer.from(credentials.SecretKey, 'base64'));
    expect(credentials.AccessKeyId).to.match(/^KH[A-Z2-7]{18}$/);
    expect(Buffer.from(credentials.SecretKey, 'base64')).to.have.length(32);
    expect(credentials.Url).to.equal(first.url);
    expect(credentials.CertSha256).to.equal(first.certSha256).and.match(/^[0-9a-f]{64}$/);
    expect(first.stderr()).to.match(/DEVELOPMENT MODE/);
    expect(first.stdout()).to.contain(credentialsFile).and.not.contain(credentials.SecretKey);

    const client = KeyholdClient.fromCredentialsFile(credentialsFile);
    expect(await client.health()).to.deep.equal({ status: 'ok' });
    const key = await client.createKey({ description: 'survives restarts' });
    const plaintext = Buffer.from('a secret that outlives the process');
    rememberSecret(plaintext);
    const encrypted = await client.encrypt({ keyId: key.KeyId, plaintext, encryptionContext: { app: 'test' } });
    client.close();

    expect(await first.stop()).to.equal(0);
    running.splice(running.indexOf(first), 1);
    expect(first.stdout()).to.contain('"msg":"stopped"');

    const second = await start({ KEYHOLD_DATA_DIR: dataDir }, cwd);
    expect(second.certSha256, 'the self-signed certificate is reused').to.equal(first.certSha256);
    const again = KeyholdClient.fromCredentialsFile(credentialsFile, { url: second.url });
    const decrypted = await again.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: { app: 'test' } });
    expect(decrypted.plaintext).to.deep.equal(plaintext);
    expect(decrypted.keyId).to.equal(key.KeyId);
    again.close();
  });

  it('refuses a wrong passphrase with one line naming it, exits non-zero, and changes nothing in the store', async () => {
    const cwd = tempDir();
    const dataDir = path.join(cwd, 'data');
    rememberSecret(PASSPHRASE);
    // LevelDB in any run: storeSnapshot reads the store in-process, and only LevelDB opens here.
    const server = await start({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd, { store: 'leveldb' });
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    await client.createKey();
    client.close();
    await server.stop();
    running.splice(running.indexOf(server), 1);

    const before = await storeSnapshot(dataDir);
    const wrong = 'this is not the passphrase at all';
    rememberSecret(wrong);
    const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: wrong }, cwd);
    expect(result.code).to.equal(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^keyhold: KEYHOLD_PASSPHRASE: wrong passphrase/);
    expect(result.stderr + result.stdout).to.not.contain(wrong).and.not.contain(PASSPHRASE);
    expect(await storeSnapshot(dataDir)).to.equal(before);
  });

  it('argon2id: starts, and the store records its parameters', async () => {
    const cwd = tempDir();
    const dataDir = path.join(cwd, 'data');
    // LevelDB in any run: storeSnapshot reads the store in-process, and only LevelDB opens here.
    const server = await start({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'argon2id' }, cwd, { store: 'leveldb' });
    await server.stop();
    running.splice(running.indexOf(server), 1);
    const root = JSON.parse(await storeSnapshot(dataDir)).root;
    expect(root.master).to.include({ kind: 'passphrase', kdf: 'argon2id', memoryKiB: 65536, timeCost: 3 });
  });

  it('gives a second process on the same data dir a clear "store in use" error', async () => {
    const cwd = tempDir();
    const dataDir = path.join(cwd, 'data');
    // LevelDB's lock on its directory, in any run: nodes may share one PostgreSQL database.
    await start({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd, { store: 'leveldb' });
    const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    expect(result.code).to.equal(1);
    expect(result.stderr.trim()).to.match(/^keyhold: KEYHOLD_DATA_DIR: store in use/);
  });

  it('says in one line that the port is in use, naming KEYHOLD_PORT', async () => {
    const cwd = tempDir();
    const server = await start({ KEYHOLD_DATA_DIR: path.join(cwd, 'a'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    const result = await runServerToCompletion(
      { KEYHOLD_DATA_DIR: path.join(cwd, 'b'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_PORT: String(server.port) },
      cwd,
    );
    expect(result.code).to.equal(1);
    expect(result.stderr.trim()).to.equal(`keyhold: KEYHOLD_PORT: port ${server.port} on 127.0.0.1 is already in use`);
  });

  it('stops at start with one line naming the variable for a bad configuration value', async () => {
    const cwd = tempDir();
    for (const [variable, value] of [['KEYHOLD_PORT', 'abc'], ['KEYHOLD_KDF', 'scrypt'], ['KEYHOLD_MASTER', 'hsm']]) {
      const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), [variable!]: value! }, cwd);
      expect(result.code).to.equal(1);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
      expect(result.stderr).to.match(new RegExp(`^keyhold: ${variable}: `));
    }
  });

  it('refuses to start in production without a passphrase', async () => {
    const cwd = tempDir();
    const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), NODE_ENV: 'production' }, cwd);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^keyhold: KEYHOLD_PASSPHRASE: no passphrase/);
    expect(existsSync(path.join(cwd, 'data', 'store')), 'no empty store is left behind').to.equal(false);
  });

  it('serves KEYHOLD_TLS_CERT/KEY when given, and a client pinned to it connects', async () => {
    const cwd = tempDir();
    const certificate = await generateSelfSignedCertificate({ commonName: 'given' });
    writeFileSync(path.join(cwd, 'cert.pem'), certificate.certPem);
    writeFileSync(path.join(cwd, 'key.pem'), certificate.keyPem, { mode: 0o600 });
    const dataDir = path.join(cwd, 'data');
    const server = await start(
      { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_TLS_CERT: 'cert.pem', KEYHOLD_TLS_KEY: 'key.pem' },
      cwd,
    );
    expect(server.certSha256).to.equal(certificate.sha256);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    expect((await client.generateRandom(16)).length).to.equal(16);
    client.close();
  });

  it('loads settings from a .env file in the working directory', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, '.env'), `KEYHOLD_DATA_DIR=${path.join(cwd, 'from-dotenv')}\nKEYHOLD_PASSPHRASE=${PASSPHRASE}\n`);
    await start({}, cwd);
    expect(statSync(path.join(cwd, 'from-dotenv', 'admin.credentials')).isFile()).to.equal(true);
  });
});
