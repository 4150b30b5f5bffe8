import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { versionRecordKey } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';
import { KeyService } from '../../src/kms/key-service.js';
import { openRootKey } from '../../src/kms/root-key.js';
import { buildKeyholdStore, FIXTURE_PASSPHRASE, fixtureMasterKey, type KeyholdStoreFixture } from '../helpers/keyhold-store-fixture.js';
import { flipByte, newestFile } from '../helpers/leveldb-fixture.js';
import { startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const DAMAGED = 4;

describe('keyhold admin verify-store', function () {
  this.timeout(120_000);
  let temp: ReturnType<typeof makeTempDir>;
  let fixture: KeyholdStoreFixture;
  let cwd: string;
  let copies = 0;

  before(async () => {
    temp = makeTempDir();
    fixture = await buildKeyholdStore(path.join(temp.path, 'fixture', 'data'));
  });
  after(() => temp.remove());
  beforeEach(() => {
    cwd = path.join(temp.path, `copy-${copies++}`);
    cpSync(path.join(temp.path, 'fixture'), cwd, { recursive: true });
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  const verify = () => runCli(['admin', 'verify-store'], { cwd, env: { KEYHOLD_DATA_DIR: 'data', KEYHOLD_PASSPHRASE: FIXTURE_PASSPHRASE } });

  /** Opens the copy's store to damage a record in it, as a disk or a bug would. */
  async function damage(change: (store: LevelDbStore) => Promise<void>): Promise<void> {
    const store = await LevelDbStore.open(path.join(cwd, 'data'));
    try {
      await change(store);
    } finally {
      await store.close();
    }
  }

  /** A real KeyService on the copy's store (offline, as `keyhold admin` works), for keys a test adds. */
  async function withService(work: (service: KeyService) => Promise<void>): Promise<void> {
    const store = await LevelDbStore.open(path.join(cwd, 'data'));
    try {
      const { rootKey } = await openRootKey(store, fixtureMasterKey());
      await work(new KeyService({ store, rootKey }));
    } finally {
      await store.close();
    }
  }

  it('says all intact and exits 0 for an intact store', async () => {
    const result = await verify();
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
    const lines = result.stdout.toString().trim().split('\n');
    expect(lines[0]).to.match(/^files: \d+ files, \d+ KB: intact$/);
    expect(lines.at(-1)).to.match(/^records: meta 4, keys 23, versions 25, aliases 1, rotations 2, schedule 2, credentials 1, audit \d+: all intact$/);
  });

  it('names a deleted version record and exits 4', async () => {
    await damage((store) => (store.versions as unknown as { del(key: string): Promise<void> }).del(versionRecordKey(fixture.rotatedKeyId, 2)));
    const result = await verify();
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.contain(`problem: keys/${fixture.rotatedKeyId}: missing version 2\n`);
    expect(result.stdout.toString()).to.match(/records: .*: 1 problem\n$/);
  });

  it('names a version whose wrapped bytes were altered and exits 4', async () => {
    const key = versionRecordKey(fixture.rotatedKeyId, 1);
    await damage(async (store) => {
      const wrapped = (await store.getVersion(fixture.rotatedKeyId, 1))!;
      wrapped[0]! ^= 0x80;
      await (store.versions as unknown as { put(key: string, value: Buffer): Promise<void> }).put(key, wrapped);
    });
    const result = await verify();
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.contain(`problem: versions/${key}: does not unwrap under the root key\n`);
  });

  it('checks HMAC keys: intact ones pass and still verify their MAC afterwards; altered material is named, exit 4', async () => {
    const macs: { keyId: string; message: Buffer; mac: Buffer }[] = [];
    await withService(async (service) => {
      for (const spec of ['HMAC_224', 'HMAC_512']) {
        const { KeyId } = await service.createKey({ keySpec: spec, keyUsage: 'GENERATE_VERIFY_MAC' });
        const message = Buffer.from(`verify-store ${spec}`);
        macs.push({ keyId: KeyId, message, mac: (await service.generateMac({ keyId: KeyId, message, macAlgorithm: `HMAC_SHA_${spec.slice(5)}` })).mac });
      }
    });
    const intact = await verify();
    expect(intact.code, intact.stdout.toString()).to.equal(0);
    expect(intact.stdout.toString()).to.match(/records: meta 4, keys 25, versions 27, .*: all intact\n$/);
    await withService(async (service) => {
      for (const { keyId, message, mac } of macs) {
        const macAlgorithm = `HMAC_SHA_${(await service.describeKey({ keyId })).KeySpec.slice(5)}`;
        expect(await service.verifyMac({ keyId, message, mac, macAlgorithm })).to.deep.equal({ keyId, macAlgorithm });
      }
    });

    const key = versionRecordKey(macs[1]!.keyId, 1);
    await damage(async (store) => {
      const wrapped = (await store.getVersion(macs[1]!.keyId, 1))!;
      wrapped[wrapped.length - 1]! ^= 1;
      await (store.versions as unknown as { put(key: string, value: Buffer): Promise<void> }).put(key, wrapped);
    });
    const damaged = await verify();
    expect(damaged.code).to.equal(DAMAGED);
    expect(damaged.stdout.toString()).to.contain(`problem: versions/${key}: does not unwrap under the root key\n`);
  });

  it('names an alias pointing at a missing key and a schedule entry for a missing key, and exits 4', async () => {
    const ghost = '00000000-0000-4000-8000-000000000000';
    const now = new Date().toISOString();
    await damage((store) =>
      store.write(store.batch().putAlias({ aliasName: 'alias/ghost', targetKeyId: ghost, creationDate: now, lastUpdatedDate: now }).putSchedule({ due: '2030-01-01T00:00:00.000Z', work: 'rotate', keyId: ghost })),
    );
    const result = await verify();
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.contain(`problem: aliases/alias/ghost: points at key ${ghost}, which does not exist\n`);
    expect(result.stdout.toString()).to.contain(`problem: schedule/2030-01-01T00:00:00.000Z!rotate!${ghost}: schedules key ${ghost}, which does not exist\n`);
  });

  it('names a credential whose secret was altered and exits 4', async () => {
    await damage(async (store) => {
      const [credential] = await store.listCredentials();
      const wrapped = Buffer.from(credential!.wrappedSecret, 'base64');
      wrapped[wrapped.length - 1]! ^= 1;
      await store.write(store.batch().putCredential({ ...credential!, wrappedSecret: wrapped.toString('base64') }));
    });
    const result = await verify();
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.contain(`problem: credentials/${fixture.accessKeyId}: secret does not unwrap under the root key\n`);
  });

  it('names a damaged log file, exits 4, and does not let LevelDB open (and rewrite) the store', async () => {
    const store = path.join(cwd, 'data', 'store');
    const log = newestFile(store, /^\d+\.log$/);
    flipByte(log, 100);
    const before = readFileSync(log);
    const result = await verify();
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.match(new RegExp(`^problem: store/${path.basename(log)}: checksum mismatch at byte \\d+\\n`));
    expect(result.stdout.toString()).to.contain('records not checked');
    // LevelDB would have turned the log into a table and deleted it at open.
    expect(readFileSync(log)).to.deep.equal(before);
  });

  it('refuses, exit 1, while a server has the store open', async () => {
    const server = await startServerProcess({ KEYHOLD_DATA_DIR: 'data', KEYHOLD_PASSPHRASE: FIXTURE_PASSPHRASE }, cwd);
    try {
      const result = await verify();
      expect(result.code).to.equal(1);
      expect(result.stderr).to.match(/store in use.*stop the server first/);
      // Found from the lock, before reading files the server may be writing.
      expect(result.stdout.toString()).to.equal('');
    } finally {
      await server.stop();
    }
  });

  it('refuses, exit 1, a wrong passphrase, before reading any record', async () => {
    const result = await runCli(['admin', 'verify-store'], { cwd, env: { KEYHOLD_DATA_DIR: 'data', KEYHOLD_PASSPHRASE: 'not the fixture passphrase' } });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^keyhold: KEYHOLD_PASSPHRASE: wrong passphrase/);
    expect(result.stdout.toString()).to.not.contain('records:');
  });
});
