import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig, type KdfAlgorithm, type KeyholdConfig } from '../../src/config.js';
import { StartupError } from '../../src/errors.js';
import { openRootKey } from '../../src/kms/root-key.js';
import type { MasterKeyProvider } from '../../src/providers/master-keys/master-key.js';
import {
  ARGON2ID_PARAMETERS,
  loadPassphrase,
  MINIMUM_PASSPHRASE_LENGTH,
  PassphraseMasterKey,
  PBKDF2_ITERATIONS,
  type Passphrase,
} from '../../src/providers/master-keys/passphrase.js';
import type { MasterKeyDescriptor, RootKeyRecord } from '../../src/store/records.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { rememberSecret } from '../helpers/secrets.js';
import { rejectionOf } from '../helpers/rejection.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore } from '../helpers/temp-store.js';

const PASSPHRASE: Passphrase = { value: 'the right passphrase for tests', source: 'KEYHOLD_PASSPHRASE' };
const WRONG_PASSPHRASE: Passphrase = { value: 'a wrong passphrase for tests', source: 'KEYHOLD_PASSPHRASE' };
rememberSecret(PASSPHRASE.value);
rememberSecret(WRONG_PASSPHRASE.value);

function startupErrorOf(promise: Promise<unknown>): Promise<StartupError> {
  return rejectionOf(promise, StartupError);
}

function startupErrorOfSync(run: () => unknown): StartupError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return error as StartupError;
  }
  expect.fail('expected a StartupError');
}

describe('loadPassphrase', () => {
  let dir: ReturnType<typeof makeTempDir>;
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  const config = (env: NodeJS.ProcessEnv): KeyholdConfig => loadConfig({ KEYHOLD_DATA_DIR: dir.path, ...env });

  beforeEach(() => {
    dir = makeTempDir();
    warnings.length = 0;
  });
  afterEach(() => dir.remove());

  it('takes KEYHOLD_PASSPHRASE as given and names it as the source', () => {
    const passphrase = loadPassphrase(config({ KEYHOLD_PASSPHRASE: ' spaces kept inside ' }), warn);
    expect(passphrase).to.deep.equal({ value: ' spaces kept inside ', source: 'KEYHOLD_PASSPHRASE' });
    expect(warnings).to.deep.equal([]);
  });

  it('reads KEYHOLD_PASSPHRASE_FILE without its trailing newline', () => {
    for (const ending of ['\n', '\r\n', '']) {
      const file = path.join(dir.path, 'passphrase');
      writeFileSync(file, `passphrase from a file${ending}`);
      const passphrase = loadPassphrase(config({ KEYHOLD_PASSPHRASE_FILE: file }), warn);
      expect(passphrase, JSON.stringify(ending)).to.deep.equal({
        value: 'passphrase from a file',
        source: 'KEYHOLD_PASSPHRASE_FILE',
      });
    }
    expect(warnings).to.deep.equal([]);
  });

  it('in development, generates <dataDir>/dev-passphrase with mode 0600, reuses it, and warns each time', () => {
    const first = loadPassphrase(config({}), warn);
    const file = path.join(dir.path, 'dev-passphrase');

    expect(first.source).to.equal(file);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readFileSync(file, 'utf8').trim()).to.equal(first.value);
    expect(first.value.length).to.be.at.least(12);
    expect(warnings).to.have.length(1);

    const second = loadPassphrase(config({}), warn);
    expect(second).to.deep.equal(first);
    expect(warnings).to.have.length(2);
  });

  it('names the development passphrase file in its warning, never the passphrase', () => {
    const passphrase = loadPassphrase(config({}), warn);
    rememberSecret(passphrase.value);
    expect(warnings[0]).to.include(path.join(dir.path, 'dev-passphrase'));
    expect(warnings[0]).not.to.include(passphrase.value);
  });

  it('generates a different development passphrase in each data dir', () => {
    const other = makeTempDir();
    try {
      const here = loadPassphrase(config({}), warn);
      const there = loadPassphrase(loadConfig({ KEYHOLD_DATA_DIR: other.path }), warn);
      expect(here.value).not.to.equal(there.value);
    } finally {
      other.remove();
    }
  });

  it('refuses to start in production without a passphrase, naming KEYHOLD_PASSPHRASE, and writes no file', () => {
    const error = startupErrorOfSync(() => loadPassphrase(config({ NODE_ENV: 'production' }), warn));
    expect(error.variable).to.equal('KEYHOLD_PASSPHRASE');
    expect(error.message.startsWith('KEYHOLD_PASSPHRASE: ')).to.equal(true);
    expect(() => statSync(path.join(dir.path, 'dev-passphrase'))).to.throw();
  });

  it('accepts a passphrase in production when one is configured', () => {
    const passphrase = loadPassphrase(config({ NODE_ENV: 'production', KEYHOLD_PASSPHRASE: PASSPHRASE.value }), warn);
    expect(passphrase.value).to.equal(PASSPHRASE.value);
  });

  it('refuses a passphrase shorter than 12 characters, naming where it came from', () => {
    expect(MINIMUM_PASSPHRASE_LENGTH).to.equal(12);
    const short = 'x'.repeat(11);
    const inline = startupErrorOfSync(() => loadPassphrase(config({ KEYHOLD_PASSPHRASE: short }), warn));
    expect(inline.variable).to.equal('KEYHOLD_PASSPHRASE');
    expect(inline.message).not.to.include(short);

    const file = path.join(dir.path, 'short');
    writeFileSync(file, `${short}\n`);
    const fromFile = startupErrorOfSync(() => loadPassphrase(config({ KEYHOLD_PASSPHRASE_FILE: file }), warn));
    expect(fromFile.variable).to.equal('KEYHOLD_PASSPHRASE_FILE');

    const exact = 'x'.repeat(12);
    expect(loadPassphrase(config({ KEYHOLD_PASSPHRASE: exact }), warn).value).to.equal(exact);
  });

  it('counts characters, not UTF-16 code units: six emoji are six characters', () => {
    const emoji = '\u{1F511}'.repeat(6); // 12 code units, 6 characters
    expect(startupErrorOfSync(() => loadPassphrase(config({ KEYHOLD_PASSPHRASE: emoji }), warn)).variable).to.equal('KEYHOLD_PASSPHRASE');
  });
});

function saltOf(master: MasterKeyDescriptor): string {
  if (master.kind !== 'passphrase') expect.fail(`a ${master.kind} descriptor has no salt`);
  return master.salt;
}

describe('PassphraseMasterKey', () => {
  const expectedParameters: Record<KdfAlgorithm, Partial<MasterKeyDescriptor>> = {
    pbkdf2: { kind: 'passphrase', kdf: 'pbkdf2-sha256', iterations: PBKDF2_ITERATIONS },
    argon2id: { kind: 'passphrase', kdf: 'argon2id', memoryKiB: 65_536, timeCost: 3, parallelism: 1 },
  };

  it('uses the floors of DESIGN.md: 600,000 PBKDF2 iterations; argon2id with 64 MiB and 3 passes', () => {
    expect(PBKDF2_ITERATIONS).to.equal(600_000);
    expect(ARGON2ID_PARAMETERS).to.deep.equal({ memoryKiB: 65_536, timeCost: 3, parallelism: 1 });
  });

  for (const kdf of ['pbkdf2', 'argon2id'] as const) {
    describe(`with ${kdf}`, () => {
      const provider = new PassphraseMasterKey(PASSPHRASE, kdf);

      it('unwraps the root key it wrapped', async () => {
        const rootKey = randomBytes(32);
        const { master, wrappedRootKey } = await provider.wrapRootKey(rootKey);
        expect(wrappedRootKey.equals(rootKey)).to.equal(false);
        expect(wrappedRootKey.includes(rootKey)).to.equal(false);

        const unwrapped = await provider.unwrapRootKey(master, wrappedRootKey);
        expect(unwrapped.equals(rootKey)).to.equal(true);
      });

      it('records the KDF, its parameters and a fresh 16-byte salt in the descriptor', async () => {
        const rootKey = randomBytes(32);
        const first = await provider.wrapRootKey(rootKey);
        const second = await provider.wrapRootKey(rootKey);

        for (const { master } of [first, second]) {
          expect(master).to.include(expectedParameters[kdf]);
          expect(saltOf(master)).to.match(/^[A-Za-z0-9+/]+={0,2}$/);
          expect(Buffer.from(saltOf(master), 'base64')).to.have.length(16);
        }
        expect(saltOf(first.master)).not.to.equal(saltOf(second.master));
        expect(first.wrappedRootKey.equals(second.wrappedRootKey)).to.equal(false);
      });

      it("refuses a wrong passphrase with a StartupError that says so and names the passphrase's source", async () => {
        const { master, wrappedRootKey } = await provider.wrapRootKey(randomBytes(32));
        const wrong = new PassphraseMasterKey({ value: WRONG_PASSPHRASE.value, source: '/etc/keyhold/passphrase' }, kdf);

        const error = await startupErrorOf(wrong.unwrapRootKey(master, wrappedRootKey));
        expect(error.message).to.include('wrong passphrase');
        expect(error.variable).to.equal('/etc/keyhold/passphrase');
        expect(error.message.startsWith('/etc/keyhold/passphrase: ')).to.equal(true);
        expect(error.message).not.to.include(PASSPHRASE.value);
        expect(error.message).not.to.include(WRONG_PASSPHRASE.value);
      });
    });
  }

  it('unwraps with the KDF the store recorded, whatever KEYHOLD_KDF now says', async () => {
    const rootKey = randomBytes(32);
    const { master, wrappedRootKey } = await new PassphraseMasterKey(PASSPHRASE, 'pbkdf2').wrapRootKey(rootKey);
    const unwrapped = await new PassphraseMasterKey(PASSPHRASE, 'argon2id').unwrapRootKey(master, wrappedRootKey);
    expect(unwrapped.equals(rootKey)).to.equal(true);
  });

  it('refuses a descriptor of another master-key kind, naming KEYHOLD_MASTER', async () => {
    const provider = new PassphraseMasterKey(PASSPHRASE, 'pbkdf2');
    const master: MasterKeyDescriptor = { kind: 'pkcs11', keyLabel: 'keyhold-master', mechanism: 'CKM_AES_GCM' };
    const error = await startupErrorOf(provider.unwrapRootKey(master, randomBytes(40)));
    expect(error.variable).to.equal('KEYHOLD_MASTER');
  });
});

describe('openRootKey with a passphrase master key', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let store: LevelDbStore;
  const provider = new PassphraseMasterKey(PASSPHRASE, 'pbkdf2');

  beforeEach(async () => ({ dir, store } = await openTempStore()));
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  /** The stored root record exactly as LevelDB holds it. */
  async function rawRootRecord(): Promise<Buffer> {
    const raw = (await store.meta.get('root', { valueEncoding: 'buffer' })) as Buffer | undefined;
    expect(raw, 'root record').to.be.instanceOf(Buffer);
    return raw!;
  }

  it('makes a 32-byte root key on a fresh store and returns the same key after a reopen', async () => {
    const created = await openRootKey(store, provider, new Date('2030-01-02T03:04:05.000Z'));
    expect(created.created).to.equal(true);
    expect(created.rootKey).to.have.length(32);

    const record = (await store.getRootKeyRecord())!;
    expect(record.storeVersion).to.equal(2);
    expect(record.master).to.include({ kind: 'passphrase', kdf: 'pbkdf2-sha256' });
    expect(record.createdAt).to.equal('2030-01-02T03:04:05.000Z');
    expect(Buffer.from(record.wrappedRootKey, 'base64').includes(created.rootKey)).to.equal(false);
    expect((await store.listAudit()).map((entry) => entry.Action)).to.deep.equal(['InitializeStore']);

    await store.close();
    store = await LevelDbStore.open(dir.path);
    const reopened = await openRootKey(store, provider);
    expect(reopened.created).to.equal(false);
    expect(reopened.rootKey.equals(created.rootKey)).to.equal(true);
  });

  it('refuses a wrong passphrase and leaves the root record byte-identical', async () => {
    await openRootKey(store, provider);
    const before = await rawRootRecord();
    const auditBefore = await store.listAudit();

    const error = await startupErrorOf(openRootKey(store, new PassphraseMasterKey(WRONG_PASSPHRASE, 'pbkdf2')));
    expect(error.message).to.include('wrong passphrase');
    expect(error.variable).to.equal('KEYHOLD_PASSPHRASE');

    expect((await rawRootRecord()).equals(before)).to.equal(true);
    expect(await store.listAudit()).to.deep.equal(auditBefore);
  });

  it('refuses a root key whose key-check value does not match, naming the key check', async () => {
    await openRootKey(store, provider);
    const record = (await store.getRootKeyRecord())!;
    const keyCheckValue = Buffer.from(record.keyCheckValue, 'base64');
    keyCheckValue[0]! ^= 0x01;
    await store.write(store.batch().putRootKey({ ...record, keyCheckValue: keyCheckValue.toString('base64') }));
    const tampered = await rawRootRecord();

    const error = await startupErrorOf(openRootKey(store, provider));
    expect(error.message).to.include('key-check');
    expect(error.variable).to.equal('KEYHOLD_MASTER');
    expect((await rawRootRecord()).equals(tampered)).to.equal(true);
  });

  it('refuses a provider of another kind than the one that made the store, naming KEYHOLD_MASTER, before unwrapping', async () => {
    await openRootKey(store, provider);
    const before = await rawRootRecord();
    const calls: string[] = [];
    // A test double of the MasterKeyProvider interface, standing in for a PKCS#11 token.
    const pkcs11: MasterKeyProvider = {
      kind: 'pkcs11',
      async wrapRootKey() {
        calls.push('wrapRootKey');
        throw new Error('must not be called');
      },
      async unwrapRootKey() {
        calls.push('unwrapRootKey');
        throw new Error('must not be called');
      },
      async close() {},
    };

    const error = await startupErrorOf(openRootKey(store, pkcs11));
    expect(error.variable).to.equal('KEYHOLD_MASTER');
    expect(error.message.startsWith('KEYHOLD_MASTER: ')).to.equal(true);
    expect(error.message).to.include('passphrase').and.to.include('pkcs11');
    expect(calls).to.deep.equal([]);
    expect((await rawRootRecord()).equals(before)).to.equal(true);
  });

  it('raises a version-1 store to version 2 when it opens it (audit entries of several records), audited', async () => {
    const opened = await openRootKey(store, provider);
    opened.rootKey.fill(0);
    const record = (await store.getRootKeyRecord())!;
    await store.write(store.batch().putRootKey({ ...record, storeVersion: 1 }));

    const reopened = await openRootKey(store, provider);
    expect(reopened.rootKey).to.have.length(32);
    expect((await store.getRootKeyRecord())!).to.deep.equal({ ...record, storeVersion: 2 });
    expect((await store.listAudit()).at(-1)).to.deep.include({ Action: 'UpgradeStore', Principal: 'system', Detail: { From: 1, To: 2 } });
  });

  it('refuses a store version it does not know, naming KEYHOLD_DATA_DIR', async () => {
    await openRootKey(store, provider);
    const record = (await store.getRootKeyRecord())!;
    const future = { ...record, storeVersion: 3 } as unknown as RootKeyRecord;
    await store.write(store.batch().putRootKey(future));

    const error = await startupErrorOf(openRootKey(store, provider));
    expect(error.variable).to.equal('KEYHOLD_DATA_DIR');
  });
});

describe('PassphraseMasterKey: stored KDF parameters below the minimum', () => {
  const provider = new PassphraseMasterKey(PASSPHRASE, 'argon2id');
  const salt = randomBytes(16).toString('base64');
  const weak: [string, MasterKeyDescriptor][] = [
    ['argon2id with 1 MiB', { kind: 'passphrase', kdf: 'argon2id', memoryKiB: 1024, timeCost: 3, parallelism: 1, salt }],
    ['argon2id with 2 passes', { kind: 'passphrase', kdf: 'argon2id', memoryKiB: 65_536, timeCost: 2, parallelism: 1, salt }],
    ['argon2id with parallelism 0', { kind: 'passphrase', kdf: 'argon2id', memoryKiB: 65_536, timeCost: 3, parallelism: 0, salt }],
    ['PBKDF2 with 599,999 iterations', { kind: 'passphrase', kdf: 'pbkdf2-sha256', iterations: 599_999, salt }],
    ['PBKDF2 with a count that is not a number', { kind: 'passphrase', kdf: 'pbkdf2-sha256', iterations: 'many' as unknown as number, salt }],
  ];
  for (const [title, master] of weak) {
    it(`refuses to unwrap (nothing derived): ${title}`, async () => {
      const error = await startupErrorOf(provider.unwrapRootKey(master, randomBytes(60)));
      expect(error.variable).to.equal('KEYHOLD_DATA_DIR');
      expect(error.message).to.include("weaker than Keyhold's minimum");
    });
  }
});
