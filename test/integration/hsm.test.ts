import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { Pkcs11MasterKey } from '../../src/providers/master-keys/pkcs11.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeToken, requireSoftHsm, softHsmLibrary, type TestToken } from '../helpers/softhsm.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'hsm suite passphrase, long enough';

describe('PKCS#11 master key on a real SoftHSM2 token', function () {
  this.timeout(60_000);
  const cleanups: (() => void)[] = [];
  const running: ServerProcess[] = [];

  before(function () {
    requireSoftHsm(this);
    rememberSecret(PASSPHRASE);
  });

  function token(label?: string): TestToken {
    const made = makeToken(label);
    cleanups.push(() => made.remove());
    return made;
  }

  function workDir(): string {
    const dir = makeTempDir('keyhold-hsm-');
    cleanups.push(() => dir.remove());
    return dir.path;
  }

  async function start(env: Record<string, string>, cwd: string): Promise<ServerProcess> {
    const server = await startServerProcess(env, cwd);
    running.push(server);
    return server;
  }

  async function stop(server: ServerProcess): Promise<void> {
    running.splice(running.indexOf(server), 1);
    expect(await server.stop()).to.equal(0);
  }

  /** Expects a start to fail with exit 1 and exactly one stderr line matching `pattern`. */
  async function expectStartFailure(env: Record<string, string>, cwd: string, pattern: RegExp, secrets: string[] = []) {
    const result = await runServerToCompletion(env, cwd);
    expect(result.code, result.stderr).to.equal(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).to.have.length(1);
    expect(lines[0]).to.match(pattern);
    expect(result.stderr).to.not.match(/\bat .*\.(js|ts):\d+/); // no stack trace
    for (const secret of secrets) expect(result.stderr + result.stdout).to.not.contain(secret);
    return result;
  }

  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
  });
  after(() => cleanups.forEach((cleanup) => cleanup()));

  it('starts on pkcs11, encrypts, restarts and decrypts', async () => {
    const hsm = token();
    const cwd = workDir();
    const dataDir = path.join(cwd, 'data');
    const first = await start({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    const key = await client.createKey();
    const plaintext = Buffer.from('sealed under a key in the token');
    rememberSecret(plaintext);
    const { ciphertextBlob } = await client.encrypt({ keyId: key.KeyId, plaintext });
    client.close();
    await stop(first);

    const second = await start({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd);
    const again = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'), { url: second.url });
    expect((await again.decrypt({ ciphertextBlob })).plaintext).to.deep.equal(plaintext);
    again.close();
  });

  it('records the wrapping mechanism and key label in the store', async () => {
    const hsm = token();
    const previous = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = hsm.conf;
    try {
      const provider = Pkcs11MasterKey.open({ library: softHsmLibrary, tokenLabel: hsm.label, pin: hsm.pin, keyLabel: 'keyhold-master' });
      const rootKey = Buffer.alloc(32, 7);
      const { master, wrappedRootKey } = await provider.wrapRootKey(rootKey);
      expect(master).to.deep.equal({ kind: 'pkcs11', keyLabel: 'keyhold-master', mechanism: 'CKM_AES_GCM' });
      expect(wrappedRootKey.length).to.equal(12 + 32 + 16);
      expect(await provider.unwrapRootKey(master, wrappedRootKey)).to.deep.equal(rootKey);
      const tampered = Buffer.from(wrappedRootKey);
      tampered[20]! ^= 1;
      await provider.unwrapRootKey(master, tampered).then(
        () => expect.fail('a tampered wrapped root key must not unwrap'),
        (error: Error) => expect(error.message).to.match(/does not unwrap/),
      );
      await provider.close();
    } finally {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
    }
  });

  it('wraps with CKM_AES_KEY_WRAP_PAD when that mechanism is used (tokens without GCM)', async () => {
    const hsm = token();
    const previous = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = hsm.conf;
    try {
      const options = { library: softHsmLibrary, tokenLabel: hsm.label, pin: hsm.pin, keyLabel: 'keyhold-master' };
      const rootKey = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
      const provider = Pkcs11MasterKey.open({ ...options, mechanism: 'CKM_AES_KEY_WRAP_PAD' });
      const { master, wrappedRootKey } = await provider.wrapRootKey(rootKey).finally(() => provider.close());
      expect(master).to.deep.equal({ kind: 'pkcs11', keyLabel: 'keyhold-master', mechanism: 'CKM_AES_KEY_WRAP_PAD' });
      expect(wrappedRootKey.length).to.equal(40);
      // The mechanism recorded in the store decides how it is unwrapped, whatever the default.
      const reopened = Pkcs11MasterKey.open(options);
      try {
        expect(await reopened.unwrapRootKey(master, wrappedRootKey)).to.deep.equal(rootKey);
        const tampered = Buffer.from(wrappedRootKey);
        tampered[3]! ^= 1;
        await reopened.unwrapRootKey(master, tampered).then(
          () => expect.fail('a tampered wrapped root key must not unwrap'),
          (error: Error) => expect(error.message).to.match(/does not unwrap/),
        );
      } finally {
        await reopened.close();
      }
    } finally {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
    }
  });

  describe('refuses to start, in one line naming the setting, with nothing written', () => {
    it('when the library cannot be loaded', async () => {
      const hsm = token();
      const cwd = workDir();
      await expectStartFailure({ ...hsm.env(), KEYHOLD_PKCS11_LIB: '/nonexistent/libpkcs11.so', KEYHOLD_DATA_DIR: path.join(cwd, 'd') }, cwd, /^keyhold: KEYHOLD_PKCS11_LIB: cannot load/);
    });

    it('when no token has the label, listing the labels that exist', async () => {
      const hsm = token('present-token');
      const cwd = workDir();
      await expectStartFailure(
        { ...hsm.env(), KEYHOLD_PKCS11_TOKEN_LABEL: 'absent', KEYHOLD_DATA_DIR: path.join(cwd, 'd') },
        cwd,
        /^keyhold: KEYHOLD_PKCS11_TOKEN_LABEL: no token labelled 'absent' \(tokens present: 'present-token'\)$/,
      );
    });

    it('when the PIN is wrong, without printing it', async () => {
      const hsm = token();
      const cwd = workDir();
      const wrong = 'wrong-pin-9876';
      await expectStartFailure({ ...hsm.env(), KEYHOLD_PKCS11_PIN: wrong, KEYHOLD_DATA_DIR: path.join(cwd, 'd') }, cwd, /^keyhold: KEYHOLD_PKCS11_PIN: wrong PIN/, [wrong, hsm.pin]);
    });

    it('when the user PIN is locked', async () => {
      const hsm = token();
      hsm.lockUserPin();
      const cwd = workDir();
      await expectStartFailure({ ...hsm.env(), KEYHOLD_DATA_DIR: path.join(cwd, 'd') }, cwd, /^keyhold: KEYHOLD_PKCS11_PIN: the token user PIN is locked/, [hsm.pin]);
    });

    it('when the master key label is absent', async () => {
      const hsm = token();
      const cwd = workDir();
      await expectStartFailure(
        { ...hsm.env('no-such-key'), KEYHOLD_DATA_DIR: path.join(cwd, 'd') },
        cwd,
        /^keyhold: KEYHOLD_PKCS11_KEY_LABEL: no secret key labelled 'no-such-key'/,
      );
    });

    it('when another token key is configured than the one that wrapped the store', async () => {
      const hsm = token();
      hsm.addMasterKey('other-master');
      const cwd = workDir();
      const dataDir = path.join(cwd, 'data');
      await stop(await start({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd));
      await expectStartFailure({ ...hsm.env('other-master'), KEYHOLD_DATA_DIR: dataDir }, cwd, /^keyhold: KEYHOLD_PKCS11_KEY_LABEL: the token key 'other-master' does not unwrap/);
      await stop(await start({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd));
    });

    it('when the store was made with another master kind, saying which', async () => {
      const hsm = token();
      const cwd = workDir();
      const hsmStore = path.join(cwd, 'hsm-store');
      const passphraseStore = path.join(cwd, 'passphrase-store');
      await stop(await start({ ...hsm.env(), KEYHOLD_DATA_DIR: hsmStore }, cwd));
      await stop(await start({ KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_DATA_DIR: passphraseStore }, cwd));
      await expectStartFailure(
        { KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_DATA_DIR: hsmStore },
        cwd,
        /^keyhold: KEYHOLD_MASTER: this store's master key is pkcs11, but KEYHOLD_MASTER is passphrase$/,
      );
      await expectStartFailure(
        { ...hsm.env(), KEYHOLD_DATA_DIR: passphraseStore },
        cwd,
        /^keyhold: KEYHOLD_MASTER: this store's master key is passphrase, but KEYHOLD_MASTER is pkcs11$/,
      );
    });
  });

  it('keeps serving from the root key in memory when the token goes away, and a restart then fails clearly', async () => {
    const hsm = token('removable');
    const cwd = workDir();
    const dataDir = path.join(cwd, 'data');
    const server = await start({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    const key = await client.createKey();

    // The token's own folder goes; SoftHSM's token directory stays, as a reader without its card.
    for (const folder of readdirSync(hsm.tokenDir)) rmSync(path.join(hsm.tokenDir, folder), { recursive: true, force: true });
    const { ciphertextBlob } = await client.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('still here') });
    expect((await client.decrypt({ ciphertextBlob })).plaintext.toString()).to.equal('still here');
    client.close();
    await stop(server);

    await expectStartFailure({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd, /^keyhold: KEYHOLD_PKCS11_TOKEN_LABEL: no token labelled 'removable'/);
  });
});
