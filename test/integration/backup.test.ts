import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { BackupVerifier } from '../../src/backup/verifier.js';
import { decodeCheckedJson } from '../../src/store/checked-json.js';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { StoreChoice } from '../helpers/test-store.js';

const PASSPHRASE = 'backup suite passphrase, long enough';
const OTHER_PASSPHRASE = 'another passphrase, also long enough';
/** The write load during the backup stops after this many rounds or this long, whichever is first. */
const LOAD_ROUNDS = 400;
const LOAD_MS = 60_000;

interface Blob {
  keyId: string;
  plaintext: Buffer;
  ciphertextBlob: Buffer;
  context: Record<string, string>;
}

/** What the store held before the backup, to find again after the restore. */
interface Before {
  keys: { keyId: string; state: string; versions: number; tags: { TagKey: string; TagValue: string }[] }[];
  aliasName: string;
  aliasTarget: string;
  rotatingKeyId: string;
  deletingKeyId: string;
  blobs: Blob[];
  readOnly: { accessKeyId: string; secretKey: Buffer };
  /** An HMAC key and a MAC it made. */
  hmac: { keyId: string; message: Buffer; mac: Buffer };
}

describe('backup and restore', function () {
  this.timeout(300_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let admin: KeyholdClient;
  let earlier: Before;
  let backupFile: string;
  const servers: ServerProcess[] = [];

  const dataDir = () => path.join(work.path, 'data');
  const credentialsFile = () => path.join(dataDir(), 'admin.credentials');
  const keyhold = (args: string[], env: Record<string, string> = {}, choice: StoreChoice = {}) =>
    runCli(args, { cwd: work.path, env: { XDG_CONFIG_HOME: path.join(work.path, 'config'), ...env }, ...choice });
  /** `keyhold admin restore`: into a LevelDB data directory in any run (a PostgreSQL run backs up from PostgreSQL). */
  const restore = (file: string, env: Record<string, string>) => keyhold(['admin', 'restore', '--in', file], env, { store: 'leveldb' });

  /** A non-admin credential that may list keys, made offline (the server stopped) with `keyhold admin credentials create`. */
  async function addReadOnlyCredential(): Promise<{ accessKeyId: string; secretKey: Buffer }> {
    const policyFile = path.join(work.path, 'read-only.policy.json');
    writeFileSync(policyFile, JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }] }));
    const out = path.join(work.path, 'read-only.credentials');
    const made = await keyhold(['admin', 'credentials', 'create', '--policy-file', policyFile, '--description', 'read only', '--out', out], { KEYHOLD_DATA_DIR: dataDir(), KEYHOLD_PASSPHRASE: PASSPHRASE });
    expect(made.code, made.stderr).to.equal(0);
    const file = JSON.parse(readFileSync(out, 'utf8'));
    const secretKey = Buffer.from(file.SecretKey, 'base64');
    rememberSecret(secretKey);
    return { accessKeyId: file.AccessKeyId, secretKey };
  }

  async function start(directory: string): Promise<ServerProcess> {
    // A restored directory was given LevelDB by its restore (test-store.ts keeps it there).
    const started = await startServerProcess({ KEYHOLD_DATA_DIR: directory, KEYHOLD_PASSPHRASE: PASSPHRASE }, work.path);
    servers.push(started);
    return started;
  }

  before(async () => {
    [PASSPHRASE, OTHER_PASSPHRASE].forEach(rememberSecret);
    work = makeTempDir('keyhold-backup-');
    server = await start(dataDir());
    await server.stop();
    const readOnly = await addReadOnlyCredential();
    server = await start(dataDir());
    // The restart listens on another port: the credential file names the new one.
    const file = JSON.parse(readFileSync(credentialsFile(), 'utf8'));
    rememberSecret(file.SecretKey);
    writeFileSync(credentialsFile(), JSON.stringify({ ...file, Url: server.url }), { mode: 0o600 });
    admin = KeyholdClient.fromCredentialsFile(credentialsFile());
    earlier = await fillStore(admin, readOnly);
    backupFile = path.join(work.path, 'keyhold.backup');
  });

  after(async () => {
    admin?.close();
    for (const each of servers) await each.stop();
    work?.remove();
  });

  it('backs up while keys are created and used, into a 0600 file that checks whole', async () => {
    let stop = false;
    let rounds = 0;
    let roundsWhenBackupEnded = 0;
    const load = (async () => {
      const started = Date.now();
      for (; rounds < LOAD_ROUNDS && !stop && Date.now() - started < LOAD_MS; rounds++) {
        const { KeyId } = await admin.createKey({ description: `load ${rounds}` });
        await admin.encrypt({ keyId: KeyId, plaintext: randomBytes(32) });
      }
    })();
    // The backup starts once the load runs, so that writes land while the snapshot is read.
    for (let waited = 0; rounds < 5 && waited < 600; waited++) await new Promise((resolve) => setTimeout(resolve, 50));
    const roundsWhenBackupStarted = rounds;
    const result = await keyhold(['admin', 'backup', '--out', backupFile]);
    roundsWhenBackupEnded = rounds;
    stop = true;
    await load;
    expect(roundsWhenBackupEnded, 'keys were created during the backup').to.be.greaterThan(roundsWhenBackupStarted);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.toString()).to.match(/^backup: \d+ records, \d+ bytes, sha256 [0-9a-f]{64} -> /);
    expect(statSync(backupFile).mode & 0o777).to.equal(0o600);
    expect(readdirSync(work.path).filter((name) => name.endsWith('.tmp'))).to.deep.equal([]);

    // One point in time: every key record in the backup comes with each of its versions.
    const verifier = new BackupVerifier();
    const versions = new Set<string>();
    const keys = new Map<string, number>();
    for (const record of verifier.push(readFileSync(backupFile))) {
      if (record.sublevel === 'versions') versions.add(record.key);
      if (record.sublevel === 'keys') keys.set(record.key, (decodeCheckedJson(record.value.toString()) as { currentVersion: number }).currentVersion);
    }
    verifier.finish();
    for (const { keyId } of earlier.keys) expect(keys.has(keyId), keyId).to.equal(true);
    for (const [keyId, current] of keys) {
      for (let version = 1; version <= current; version++) expect(versions.has(`${keyId}!${String(version).padStart(10, '0')}`)).to.equal(true);
    }
    // Key material appears only wrapped: no plaintext made before the backup is in the file.
    const text = readFileSync(backupFile);
    for (const blob of earlier.blobs) expect(text.includes(blob.plaintext.toString('base64'))).to.equal(false);
  });

  it('restores into a new directory, and a server on it has every key, version, alias, tag, credential and schedule, and decrypts every blob', async () => {
    const restored = path.join(work.path, 'restored', 'data');
    const result = await restore(backupFile, { KEYHOLD_DATA_DIR: restored, KEYHOLD_PASSPHRASE: PASSPHRASE });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.toString()).to.match(/^restored \d+ records \(backup of .*\) into /);
    expect(readdirSync(restored).sort()).to.deep.equal(['store', 'store.seal']);

    const second = await start(restored);
    const file = JSON.parse(readFileSync(credentialsFile(), 'utf8'));
    const client = new KeyholdClient({ url: second.url, accessKeyId: file.AccessKeyId, secretKey: file.SecretKey, certSha256: second.certSha256 });
    const readOnly = new KeyholdClient({ url: second.url, ...earlier.readOnly, certSha256: second.certSha256 });
    try {
      for (const key of earlier.keys) {
        const metadata = await client.describeKey(key.keyId);
        expect(metadata.KeyState, key.keyId).to.equal(key.state);
        const rotations = await client.call('listkeyrotations', { KeyId: key.keyId });
        expect(rotations.Rotations.length + 1).to.equal(key.versions);
        expect((await client.call('listresourcetags', { KeyId: key.keyId })).Tags).to.deep.equal(key.tags);
      }
      const aliases = (await client.call('listaliases', {})).Aliases;
      expect(aliases.find((alias: { AliasName: string }) => alias.AliasName === earlier.aliasName)?.TargetKeyId).to.equal(earlier.aliasTarget);
      expect(await client.call('getkeyrotationstatus', { KeyId: earlier.rotatingKeyId })).to.include({ KeyRotationEnabled: true, RotationPeriodInDays: 90 });
      expect((await client.describeKey(earlier.deletingKeyId)).DeletionDate).to.be.a('string');
      for (const blob of earlier.blobs) {
        const { plaintext } = await client.decrypt({ ciphertextBlob: blob.ciphertextBlob, encryptionContext: blob.context });
        expect(plaintext.equals(blob.plaintext)).to.equal(true);
      }
      expect((await readOnly.listKeys()).keys.length).to.be.greaterThan(0);
      // The HMAC key survives: the same secret, so the MAC made before verifies and is made again.
      const { hmac } = earlier;
      expect((await client.verifyMac({ keyId: hmac.keyId, message: hmac.message, mac: hmac.mac, macAlgorithm: 'HMAC_SHA_384' })).macValid).to.equal(true);
      expect((await client.generateMac({ keyId: hmac.keyId, message: hmac.message, macAlgorithm: 'HMAC_SHA_384' })).mac.equals(hmac.mac)).to.equal(true);
    } finally {
      client.close();
      readOnly.close();
    }
  });

  it('refuses a non-admin credential with AccessDeniedException (403)', async () => {
    const readOnly = new KeyholdClient({ url: server.url, ...earlier.readOnly, certSha256: server.certSha256 });
    try {
      const error = await rejectionOf(readOnly.backupStore(), KeyholdApiError);
      expect(error).to.include({ type: 'AccessDeniedException', status: 403 });
    } finally {
      readOnly.close();
    }
  });

  describe('refuses, writing nothing,', () => {
    async function refused(file: string, env: Record<string, string>, message: RegExp, target = path.join(work.path, `target-${randomBytes(4).toString('hex')}`)) {
      const result = await restore(file, { KEYHOLD_DATA_DIR: target, KEYHOLD_PASSPHRASE: PASSPHRASE, ...env });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.match(message);
      return target;
    }

    it('a backup with one byte changed', async () => {
      const bytes = readFileSync(backupFile);
      const at = bytes.indexOf('"value":"') + 12;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      const changed = path.join(work.path, 'changed.backup');
      writeFileSync(changed, bytes);
      expect(existsSync(await refused(changed, {}, /checksum does not match/))).to.equal(false);
    });

    it('a backup cut short', async () => {
      const bytes = readFileSync(backupFile);
      const cut = path.join(work.path, 'cut.backup');
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
      expect(existsSync(await refused(cut, {}, /incomplete/))).to.equal(false);
    });

    it('a restore with another master key', async () => {
      const target = await refused(backupFile, { KEYHOLD_PASSPHRASE: OTHER_PASSPHRASE }, /wrong passphrase|does not match/);
      expect(existsSync(target)).to.equal(false);
    });

    it('a restore into a data directory that is not empty', async () => {
      const target = path.join(work.path, 'not-empty');
      mkdirSync(target);
      writeFileSync(path.join(target, 'keep'), 'mine');
      await refused(backupFile, {}, /not empty/, target);
      expect(readdirSync(target)).to.deep.equal(['keep']);
    });
  });

  it('a server does not start on a data directory whose restore did not finish', async () => {
    const target = path.join(work.path, 'half-restored');
    mkdirSync(target);
    writeFileSync(path.join(target, 'restore-in-progress'), 'test\n');
    const exited = await runServerToCompletion({ KEYHOLD_DATA_DIR: target, KEYHOLD_PASSPHRASE: PASSPHRASE }, work.path);
    expect(exited.code).to.equal(1);
    expect(exited.stderr.trim().split('\n')).to.have.length(1);
    expect(exited.stderr).to.contain('restore-in-progress exists');
    expect(readdirSync(target)).to.deep.equal(['restore-in-progress']);
  });
});

/** Keys with tags, rotated versions, an alias, a rotation schedule, a pending deletion, and blobs. */
async function fillStore(admin: KeyholdClient, readOnly: Before['readOnly']): Promise<Before> {
  const keyIds: string[] = [];
  for (let index = 0; index < 6; index++) {
    keyIds.push((await admin.createKey({ description: `before ${index}`, tags: { index: String(index) } })).KeyId);
  }
  const blobs: Blob[] = [];
  const encrypt = async (keyId: string) => {
    const plaintext = randomBytes(24);
    rememberSecret(plaintext);
    const context = { purpose: 'backup-test', key: keyId };
    const { ciphertextBlob } = await admin.encrypt({ keyId, plaintext, encryptionContext: context });
    blobs.push({ keyId, plaintext, ciphertextBlob, context });
  };
  for (const keyId of keyIds) await encrypt(keyId);
  for (const keyId of keyIds.slice(0, 2)) {
    await admin.call('rotatekeyondemand', { KeyId: keyId });
    await encrypt(keyId);
  }
  await admin.call('rotatekeyondemand', { KeyId: keyIds[0] });
  await encrypt(keyIds[0]!);
  const aliasName = 'alias/backup-test';
  await admin.call('createalias', { AliasName: aliasName, TargetKeyId: keyIds[2] });
  await admin.call('enablekeyrotation', { KeyId: keyIds[3], RotationPeriodInDays: 90 });
  await admin.call('schedulekeydeletion', { KeyId: keyIds[5], PendingWindowInDays: 7 });
  const keys: Before['keys'] = [];
  for (const keyId of keyIds) {
    const metadata = await admin.describeKey(keyId);
    const rotations = (await admin.call('listkeyrotations', { KeyId: keyId })).Rotations.length;
    const tags = (await admin.call('listresourcetags', { KeyId: keyId })).Tags;
    keys.push({ keyId, state: metadata.KeyState!, versions: rotations + 1, tags });
  }
  const hmacKeyId = (await admin.createKey({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' })).KeyId;
  const message = randomBytes(48);
  const { mac } = await admin.generateMac({ keyId: hmacKeyId, message, macAlgorithm: 'HMAC_SHA_384' });
  const hmac = { keyId: hmacKeyId, message, mac };
  return { keys, aliasName, aliasTarget: keyIds[2]!, rotatingKeyId: keyIds[3]!, deletingKeyId: keyIds[5]!, blobs: blobs.filter((blob) => blob.keyId !== keyIds[5]), readOnly, hmac };
}
