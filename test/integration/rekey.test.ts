import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { KeyService } from '../../src/kms/key-service.js';
import { REKEY_STEPS, rekeyRootKey } from '../../src/kms/rekey.js';
import { openRootKey } from '../../src/kms/root-key.js';
import type { MasterKeyProvider } from '../../src/providers/master-keys/master-key.js';
import { PassphraseMasterKey } from '../../src/providers/master-keys/passphrase.js';
import { Pkcs11MasterKey } from '../../src/providers/master-keys/pkcs11.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess } from '../helpers/server-process.js';
import { makeToken, requireSoftHsm, softHsmLibrary } from '../helpers/softhsm.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../../cli/keyhold.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const OLD = 'the old passphrase, long enough';
const NEW = 'the new passphrase, also long enough';

function passphrase(value: string, kdf: 'pbkdf2' | 'argon2id' = 'pbkdf2'): MasterKeyProvider {
  return new PassphraseMasterKey({ value, source: 'KEYHOLD_PASSPHRASE' }, kdf);
}

/** Runs `keyhold <args>` (the real CLI entry point) with only the given KEYHOLD_* settings. */
function keyhold(args: string[], env: Record<string, string>, cwd: string) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_')));
  const result = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: { ...inherited, ...env }, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function rootRecord(dataDir: string): Promise<string> {
  const store = await LevelDbStore.open(dataDir);
  try {
    return JSON.stringify(await store.getRootKeyRecord());
  } finally {
    await store.close();
  }
}

describe('master-key rekey', function () {
  this.timeout(120_000);
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((cleanup) => cleanup()));
  before(() => [OLD, NEW].forEach((secret) => rememberSecret(secret)));

  function tempDir(): string {
    const dir = makeTempDir('keyhold-rekey-');
    cleanups.push(() => dir.remove());
    return dir.path;
  }

  describe('rekeyRootKey', () => {
    for (const step of REKEY_STEPS) {
      it(`leaves a store that opens with the old master when interrupted before '${step}'`, async () => {
        const dataDir = tempDir();
        const store = await LevelDbStore.open(dataDir);
        const { rootKey } = await openRootKey(store, passphrase(OLD));
        const before = JSON.stringify(await store.getRootKeyRecord());
        const interrupted = rekeyRootKey({
          store,
          from: passphrase(OLD),
          to: passphrase(NEW),
          beforeStep: (current) => {
            if (current === step) throw new Error(`injected fault at ${step}`);
          },
        });
        await interrupted.then(() => expect.fail('the rekey should have failed'), (error: Error) => expect(error.message).to.contain(step));
        expect(JSON.stringify(await store.getRootKeyRecord())).to.equal(before);
        expect((await openRootKey(store, passphrase(OLD))).rootKey).to.deep.equal(rootKey);
        await store.close();
      });
    }

    it('changes only the root-key record, in one audited write, and the new passphrase opens the same root key', async () => {
      const dataDir = tempDir();
      const store = await LevelDbStore.open(dataDir);
      const { rootKey } = await openRootKey(store, passphrase(OLD));
      const before = JSON.parse(JSON.stringify(await store.getRootKeyRecord()));
      const result = await rekeyRootKey({ store, from: passphrase(OLD), to: passphrase(NEW, 'argon2id') });
      expect(result.to).to.include({ kind: 'passphrase', kdf: 'argon2id' });
      const after = (await store.getRootKeyRecord())!;
      expect(after.keyCheckValue).to.equal(before.keyCheckValue);
      expect(after.createdAt).to.equal(before.createdAt);
      expect(after.wrappedRootKey).to.not.equal(before.wrappedRootKey);
      expect((await openRootKey(store, passphrase(NEW))).rootKey).to.deep.equal(rootKey);
      await openRootKey(store, passphrase(OLD)).then(
        () => expect.fail('the old passphrase must no longer open the store'),
        (error: Error) => expect(error.message).to.match(/wrong passphrase/),
      );
      expect((await store.listAudit()).map((entry) => entry.Action)).to.include('RekeyMasterKey');
      await store.close();
    });

    it('refuses a wrong old passphrase and changes nothing', async () => {
      const dataDir = tempDir();
      const store = await LevelDbStore.open(dataDir);
      await openRootKey(store, passphrase(OLD));
      const before = JSON.stringify(await store.getRootKeyRecord());
      await rekeyRootKey({ store, from: passphrase('not the old passphrase'), to: passphrase(NEW) }).then(
        () => expect.fail('must fail'),
        (error: Error) => expect(error.message).to.match(/wrong passphrase/),
      );
      expect(JSON.stringify(await store.getRootKeyRecord())).to.equal(before);
      await store.close();
    });
  });

  it('keyhold admin rekey keeps HMAC keys: every MAC made before still verifies, and is made again the same', async () => {
    const cwd = tempDir();
    const dataDir = path.join(cwd, 'data');
    writeFileSync(path.join(cwd, 'old.txt'), OLD, { mode: 0o600 });
    writeFileSync(path.join(cwd, 'new.txt'), NEW, { mode: 0o600 });
    const store = await LevelDbStore.open(dataDir);
    const service = new KeyService({ store, rootKey: (await openRootKey(store, passphrase(OLD))).rootKey });
    const macs: { keyId: string; message: Buffer; mac: Buffer; macAlgorithm: string }[] = [];
    for (const [spec, macAlgorithm] of [['HMAC_224', 'HMAC_SHA_224'], ['HMAC_256', 'HMAC_SHA_256'], ['HMAC_384', 'HMAC_SHA_384'], ['HMAC_512', 'HMAC_SHA_512']]) {
      const { KeyId } = await service.createKey({ keySpec: spec, keyUsage: 'GENERATE_VERIFY_MAC' });
      const message = Buffer.from(`message for ${spec}`);
      macs.push({ keyId: KeyId, message, mac: (await service.generateMac({ keyId: KeyId, message, macAlgorithm: macAlgorithm! })).mac, macAlgorithm: macAlgorithm! });
    }
    await store.close();

    const rekeyed = keyhold(['admin', 'rekey', '--to', 'passphrase', '--new-passphrase-file', 'new.txt'], { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE_FILE: 'old.txt' }, cwd);
    expect(rekeyed.stderr).to.equal('');
    expect(rekeyed.stdout).to.match(/^rekeyed: passphrase .* -> passphrase /);

    const reopened = await LevelDbStore.open(dataDir);
    try {
      const after = new KeyService({ store: reopened, rootKey: (await openRootKey(reopened, passphrase(NEW))).rootKey });
      for (const { keyId, message, mac, macAlgorithm } of macs) {
        expect(await after.verifyMac({ keyId, message, mac, macAlgorithm })).to.deep.equal({ keyId, macAlgorithm });
        expect((await after.generateMac({ keyId, message, macAlgorithm })).mac).to.deep.equal(mac);
      }
    } finally {
      await reopened.close();
    }
  });

  describe('keyhold admin rekey and status', () => {
    before(function () {
      requireSoftHsm(this);
    });

    it('moves a store with many keys from a passphrase to pkcs11 and on to a new passphrase; every old blob still decrypts', async () => {
      const cwd = tempDir();
      const dataDir = path.join(cwd, 'data');
      const hsm = makeToken('rekey-token');
      cleanups.push(() => hsm.remove());
      writeFileSync(path.join(cwd, 'old.txt'), OLD, { mode: 0o600 });
      writeFileSync(path.join(cwd, 'new.txt'), NEW + '\n', { mode: 0o600 });
      writeFileSync(path.join(cwd, 'pin.txt'), hsm.pin, { mode: 0o600 });

      // A store holding many keys and one blob per key.
      const store = await LevelDbStore.open(dataDir);
      const { rootKey } = await openRootKey(store, passphrase(OLD));
      const service = new KeyService({ store, rootKey });
      const blobs: { keyId: string; blob: Buffer; plaintext: Buffer }[] = [];
      for (let i = 0; i < 300; i++) {
        const { KeyId } = await service.createKey({});
        const plaintext = Buffer.from(`blob number ${i}`);
        blobs.push({ keyId: KeyId, plaintext, blob: (await service.encrypt({ keyId: KeyId, plaintext, encryptionContext: { i: String(i) } })).ciphertextBlob });
      }
      await store.close();

      const base = { KEYHOLD_DATA_DIR: dataDir, SOFTHSM2_CONF: hsm.conf };
      const toHsm = keyhold(
        ['admin', 'rekey', '--to', 'pkcs11', '--new-token-label', hsm.label, '--new-pin-file', 'pin.txt'],
        { ...base, KEYHOLD_PASSPHRASE_FILE: 'old.txt' },
        cwd,
      );
      expect(toHsm.stderr).to.equal('');
      expect(toHsm.stdout.trim()).to.equal("rekeyed: passphrase (PBKDF2-HMAC-SHA256, 600000 iterations) -> pkcs11 (key 'keyhold-master', CKM_AES_GCM)");

      const asJson = JSON.parse(keyhold(['--output', 'json', 'admin', 'status'], base, cwd).stdout);
      expect(asJson).to.include({ keys: 300, storeVersion: 2 });
      expect(asJson.master).to.deep.equal({ kind: 'pkcs11', keyLabel: 'keyhold-master', mechanism: 'CKM_AES_GCM' });
      const status = keyhold(['admin', 'status'], base, cwd);
      expect(status.stdout).to.match(/master key: +pkcs11 \(key 'keyhold-master', CKM_AES_GCM\)/).and.match(/keys: +300/);
      expect(status.stdout + status.stderr).to.not.contain(hsm.pin).and.not.contain(OLD);

      // The server starts on the token now, and serves the old blobs.
      const server = await startServerProcess({ ...hsm.env(), KEYHOLD_DATA_DIR: dataDir }, cwd);
      await server.stop();

      const toPassphrase = keyhold(
        ['admin', 'rekey', '--to', 'passphrase', '--new-passphrase-file', 'new.txt', '--new-kdf', 'argon2id'],
        { ...base, ...hsm.env() },
        cwd,
      );
      expect(toPassphrase.stderr).to.equal('');
      expect(toPassphrase.stdout).to.match(/-> passphrase \(argon2id/);

      const reopened = await LevelDbStore.open(dataDir);
      const after = new KeyService({ store: reopened, rootKey: (await openRootKey(reopened, passphrase(NEW))).rootKey });
      for (const [i, { blob, plaintext, keyId }] of blobs.entries()) {
        const result = await after.decrypt({ ciphertextBlob: blob, encryptionContext: { i: String(i) } });
        expect(result.plaintext).to.deep.equal(plaintext);
        expect(result.keyId).to.equal(keyId);
      }
      await reopened.close();
    });

    it('refuses, in one line naming the setting, and changes nothing', async () => {
      const cwd = tempDir();
      const dataDir = path.join(cwd, 'data');
      const hsm = makeToken('refusals');
      cleanups.push(() => hsm.remove());
      writeFileSync(path.join(cwd, 'new.txt'), NEW);
      const store = await LevelDbStore.open(dataDir);
      await openRootKey(store, passphrase(OLD));
      await store.close();
      const before = await rootRecord(dataDir);
      const base = { KEYHOLD_DATA_DIR: dataDir, SOFTHSM2_CONF: hsm.conf };

      const cases: [string[], Record<string, string>, RegExp][] = [
        [['admin', 'rekey', '--to', 'passphrase', '--new-passphrase-file', 'new.txt'], { KEYHOLD_PASSPHRASE: 'a wrong old passphrase' }, /^keyhold: KEYHOLD_PASSPHRASE: wrong passphrase/],
        [['admin', 'rekey', '--to', 'passphrase'], { KEYHOLD_PASSPHRASE: OLD }, /^keyhold: KEYHOLD_NEW_PASSPHRASE: the new passphrase is required/],
        [['admin', 'rekey', '--to', 'pkcs11', '--new-token-label', hsm.label], { KEYHOLD_PASSPHRASE: OLD, KEYHOLD_NEW_PKCS11_PIN: 'wrong-pin' }, /^keyhold: KEYHOLD_NEW_PKCS11_PIN: wrong PIN/],
        [['admin', 'rekey', '--to', 'pkcs11', '--new-token-label', 'absent'], { KEYHOLD_PASSPHRASE: OLD, KEYHOLD_NEW_PKCS11_PIN: hsm.pin }, /^keyhold: KEYHOLD_NEW_PKCS11_TOKEN_LABEL: no token labelled 'absent'/],
      ];
      for (const [args, env, pattern] of cases) {
        const result = keyhold(args, { ...base, ...env }, cwd);
        expect(result.code, result.stderr).to.equal(1);
        expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1);
        expect(result.stderr).to.match(pattern);
        expect(result.stderr).to.not.contain(hsm.pin);
      }
      expect(await rootRecord(dataDir)).to.equal(before);

      const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: OLD }, cwd);
      const busy = keyhold(['admin', 'rekey', '--to', 'passphrase', '--new-passphrase-file', 'new.txt'], { ...base, KEYHOLD_PASSPHRASE: OLD }, cwd);
      await server.stop();
      expect(busy.code).to.equal(1);
      expect(busy.stderr).to.match(/store in use.*stop the server first/);
      expect(await rootRecord(dataDir)).to.equal(before);
    });
  });

  it('wraps and unwraps with two token keys open at once (a rekey between keys of one token)', async function () {
    requireSoftHsm(this);
    const hsm = makeToken('two-keys');
    cleanups.push(() => hsm.remove());
    hsm.addMasterKey('second');
    const previous = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = hsm.conf;
    try {
      const options = { library: softHsmLibrary, tokenLabel: hsm.label, pin: hsm.pin };
      const dataDir = tempDir();
      const store = await LevelDbStore.open(dataDir);
      const first = Pkcs11MasterKey.open({ ...options, keyLabel: 'keyhold-master' });
      const { rootKey } = await openRootKey(store, first);
      const second = Pkcs11MasterKey.open({ ...options, keyLabel: 'second' });
      await rekeyRootKey({ store, from: first, to: second });
      expect(await unwrapWith(second, store)).to.deep.equal(rootKey);
      await second.close();
      await first.close();
      await store.close();
    } finally {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
    }
  });
});

async function unwrapWith(provider: MasterKeyProvider, store: LevelDbStore): Promise<Buffer> {
  const record = (await store.getRootKeyRecord())!;
  return provider.unwrapRootKey(record.master, Buffer.from(record.wrappedRootKey, 'base64'));
}
