import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Level } from 'level';
import { KeyholdClient } from '../../src/client/index.js';
import { openRootKey } from '../../src/kms/root-key.js';
import { PassphraseMasterKey } from '../../src/providers/master-keys/passphrase.js';
import { SEAL_FILE } from '../../src/store/commit-seal.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { runCli } from '../helpers/cli.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'store creation test passphrase, long enough';
const passphrase = () => new PassphraseMasterKey({ value: PASSPHRASE, source: 'KEYHOLD_PASSPHRASE' }, 'pbkdf2');

/** A store is created exactly once; admin.credentials is written once and never overwritten. */
describe('creating a store', function () {
  this.timeout(60_000);
  const dirs: { remove(): void }[] = [];
  const tempDir = () => {
    const dir = makeTempDir('keyhold-create-');
    dirs.push(dir);
    return dir.path;
  };
  before(() => rememberSecret(PASSPHRASE));

  /** A data directory whose store has a root key and no credential yet, as a first start leaves it before the credential. */
  async function storeWithRootKeyOnly(): Promise<string> {
    const dataDir = tempDir();
    const store = await LevelDbStore.open(dataDir);
    (await openRootKey(store, passphrase())).rootKey.fill(0);
    await store.close();
    return dataDir;
  }
  after(() => dirs.forEach((dir) => dir.remove()));

  it('gives a store made before seals existed a seal and an identity, keeping its records', async () => {
    const dataDir = tempDir();
    // A store as an earlier Keyhold left it: records, no identity, no seal.
    const db = new Level<string, unknown>(path.join(dataDir, 'store'), { valueEncoding: 'json' });
    await db.open();
    await db.sublevel<string, unknown>('keys', { valueEncoding: 'json' }).put('k1', { keyId: 'k1' });
    await db.close();
    const store = await LevelDbStore.open(dataDir);
    try {
      expect(existsSync(path.join(dataDir, SEAL_FILE))).to.equal(true);
      expect(store.storeId).to.match(/^[0-9a-f]{32}$/);
      expect(await store.getKey('k1')).to.deep.equal({ keyId: 'k1' });
    } finally {
      await store.close();
    }
    // And it opens again, the seal and the store agreeing.
    await (await LevelDbStore.open(dataDir)).close();
  });

  it('refuses an empty store beside an admin.credentials file, and writes nothing', async () => {
    const dataDir = tempDir();
    writeFileSync(path.join(dataDir, 'admin.credentials'), '{}');
    const error = await rejectionOf(LevelDbStore.open(dataDir), Error);
    expect(error.message).to.match(/KEYHOLD_DATA_DIR: .*this data directory held one \(found admin\.credentials\)/);
    expect(existsSync(path.join(dataDir, SEAL_FILE))).to.equal(false);
  });

  it('makes no new root key where keys exist without one', async () => {
    const dataDir = tempDir();
    const store = await LevelDbStore.open(dataDir);
    try {
      await store.write(store.batch().putKey({ keyId: 'orphan' } as never));
      const error = await rejectionOf(openRootKey(store, passphrase()), Error);
      expect(error.message).to.match(/has no root key, but it holds keys .*never makes a new root key over an old store/);
      expect(await store.getRootKeyRecord()).to.equal(undefined);
    } finally {
      await store.close();
    }
  });

  it('commits the credential of an admin.credentials file that an interrupted first start wrote', async () => {
    // The first start got as far as the root key and the file, not the credential.
    const dataDir = await storeWithRootKeyOnly();
    const secret = randomBytes(32);
    rememberSecret(secret);
    const file = path.join(dataDir, 'admin.credentials');
    const contents = JSON.stringify({ AccessKeyId: 'KHAAAAAAAAAAAAAAAAAA', SecretKey: secret.toString('base64'), Url: 'https://127.0.0.1:1', CertSha256: '00'.repeat(32) });
    writeFileSync(file, contents, { mode: 0o600 });

    const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, dataDir);
    try {
      const client = KeyholdClient.fromCredentialsFile(file, { url: server.url, certSha256: server.certSha256 });
      expect((await client.createKey({ description: 'through the adopted credential' })).KeyState).to.equal('Enabled');
      client.close();
      expect(readFileSync(file, 'utf8')).to.equal(contents);
    } finally {
      await server.stop();
    }
  });

  it('never overwrites an admin.credentials file it cannot use, and says so in one line', async () => {
    const dataDir = await storeWithRootKeyOnly();
    const file = path.join(dataDir, 'admin.credentials');
    writeFileSync(file, 'not a credential');
    const exited = await runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, dataDir, 30_000);
    expect(exited.code).to.equal(1);
    expect(exited.stderr.trim().split('\n')).to.have.length(1);
    expect(exited.stderr).to.match(/admin\.credentials exists.*never overwritten/);
    expect(readFileSync(file, 'utf8')).to.equal('not a credential');
  });

  it('keyhold admin init makes a store a server then serves, and refuses where a store exists', async () => {
    const cwd = tempDir();
    const env = { KEYHOLD_DATA_DIR: 'data', KEYHOLD_PASSPHRASE: PASSPHRASE };
    const made = await runCli(['admin', 'init'], { cwd, env });
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stdout.toString()).to.match(/^initialised store [0-9a-f]{32}; admin credential KH[A-Z2-7]{18} in \/.*\/data\/admin\.credentials \(mode 0600\)\n$/);
    const file = path.join(cwd, 'data', 'admin.credentials');
    const contents = readFileSync(file);
    rememberSecret(Buffer.from(JSON.parse(contents.toString()).SecretKey, 'base64'));
    expect(statSync(file).mode & 0o777).to.equal(0o600);

    const again = await runCli(['admin', 'init'], { cwd, env });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/already holds a store \(found admin\.credentials, store\.seal/);
    expect(readFileSync(file).equals(contents)).to.equal(true);

    const server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    try {
      const client = KeyholdClient.fromCredentialsFile(file, { url: server.url });
      expect((await client.createKey({ description: 'after admin init' })).KeyState).to.equal('Enabled');
      client.close();
      expect(readFileSync(file).equals(contents), 'the server leaves admin.credentials as init wrote it').to.equal(true);
    } finally {
      await server.stop();
    }
  });
});
