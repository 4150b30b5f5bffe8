import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'damage test passphrase, long enough';

interface Made {
  keyId: string;
  blob: Buffer;
  plaintext: Buffer;
}

/** Flips `count` bytes of `file` starting at `offset` (inverts them). */
function flipBytes(file: string, offset: number, count = 16): void {
  const bytes = readFileSync(file);
  for (let index = offset; index < Math.min(offset + count, bytes.length); index++) bytes[index]! ^= 0xff;
  writeFileSync(file, bytes);
}

function storeFiles(dataDir: string, pattern: RegExp): string[] {
  const store = path.join(dataDir, 'store');
  return readdirSync(store)
    .filter((name) => pattern.test(name))
    .map((name) => path.join(store, name));
}

/**
 * Each damage the fault harness found, done to a copy of one store that holds keys both in
 * its table files and in its log: the server refuses to start with one line naming the store,
 * what is wrong and what to do, and changes nothing; or, where it starts, it answers 503 for
 * what it cannot read and never NotFound for a key that exists.
 */
describe('a damaged or missing store file', function () {
  this.timeout(120_000);
  const work = makeTempDir('keyhold-damage-');
  const pristine = path.join(work.path, 'pristine');
  const made: Made[] = [];
  const running: ServerProcess[] = [];
  const env = (dataDir: string) => ({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE });

  async function makeKeys(server: ServerProcess, count: number, label: string): Promise<void> {
    const client = KeyholdClient.fromCredentialsFile(path.join(pristine, 'admin.credentials'), { url: server.url });
    for (let index = 0; index < count; index++) {
      const { KeyId } = await client.createKey({ description: `${label} ${index}` });
      const plaintext = Buffer.from(`${label} ${index}`);
      const { ciphertextBlob } = await client.encrypt({ keyId: KeyId, plaintext });
      made.push({ keyId: KeyId, blob: ciphertextBlob, plaintext });
    }
    client.close();
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    // Two runs: the first run's keys go into a table file when the second opens the store,
    // the second run's stay in the log.
    let server = await startServerProcess(env(pristine), work.path);
    await makeKeys(server, 40, 'in a table');
    expect(await server.stop()).to.equal(0);
    server = await startServerProcess(env(pristine), work.path);
    await makeKeys(server, 40, 'in the log');
    expect(await server.stop()).to.equal(0);
    expect(storeFiles(pristine, /\.ldb$/), 'a table file').to.not.be.empty;
    expect(storeFiles(pristine, /\.log$/), 'a log file').to.not.be.empty;
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
  });
  after(() => work.remove());

  let copies = 0;
  function damagedCopy(damage: (dataDir: string) => void): string {
    const dataDir = path.join(work.path, `copy-${++copies}`);
    cpSync(pristine, dataDir, { recursive: true });
    damage(dataDir);
    return dataDir;
  }

  async function expectRefusal(dataDir: string, reason: RegExp, as: { uid?: number; gid?: number } = {}): Promise<void> {
    const credentials = readFileSync(path.join(dataDir, 'admin.credentials'));
    const seal = readFileSync(path.join(dataDir, 'store.seal'));
    const exited = await runServerToCompletion(env(dataDir), as.uid === undefined ? work.path : '/', 30_000, as);
    expect(exited.code, exited.stderr).to.equal(1);
    const lines = exited.stderr.trim().split('\n');
    expect(lines, 'one line').to.have.length(1);
    expect(lines[0]).to.match(/^keyhold: KEYHOLD_DATA_DIR: /).and.match(reason);
    expect(lines[0]).to.contain(path.join(dataDir, 'store'));
    expect(readFileSync(path.join(dataDir, 'admin.credentials')).equals(credentials), 'admin.credentials unchanged').to.equal(true);
    expect(readFileSync(path.join(dataDir, 'store.seal')).equals(seal), 'store.seal unchanged').to.equal(true);
  }

  it('refuses to start on a log with flipped bytes', async () => {
    const dataDir = damagedCopy((dir) => {
      const [log] = storeFiles(dir, /\.log$/);
      flipBytes(log!, Math.floor(statSync(log!).size / 2));
    });
    await expectRefusal(dataDir, /restore the data directory from a backup/);
  });

  it('refuses to start on a log truncated to half', async () => {
    const dataDir = damagedCopy((dir) => {
      const [log] = storeFiles(dir, /\.log$/);
      truncateSync(log!, Math.floor(statSync(log!).size / 2));
    });
    await expectRefusal(dataDir, /lost acknowledged writes.*restore the data directory from a backup/);
  });

  it('refuses to start when the log is deleted', async () => {
    const dataDir = damagedCopy((dir) => storeFiles(dir, /\.log$/).forEach((log) => rmSync(log)));
    await expectRefusal(dataDir, /lost acknowledged writes.*restore the data directory from a backup/);
  });

  it('refuses to start, and makes no new store, when CURRENT is deleted', async () => {
    const dataDir = damagedCopy((dir) => rmSync(path.join(dir, 'store', 'CURRENT')));
    await expectRefusal(dataDir, /is missing .*never makes a new store over an old one: restore/);
    expect(readdirSync(path.join(dataDir, 'store'))).to.not.include('CURRENT');
  });

  it('refuses to start, and makes no new store, when the store directory is emptied', async () => {
    const dataDir = damagedCopy((dir) => {
      rmSync(path.join(dir, 'store'), { recursive: true });
      chmodSync(dir, 0o700);
    });
    await expectRefusal(dataDir, /is missing .*admin\.credentials.*never makes a new store over an old one: restore/);
  });

  it('refuses to start on a damaged MANIFEST, with LevelDB\'s reason', async () => {
    const dataDir = damagedCopy((dir) => {
      const [manifest] = storeFiles(dir, /^MANIFEST-/);
      flipBytes(manifest!, 10, 16);
    });
    await expectRefusal(dataDir, /cannot open the store at .*(corrupt|checksum|damaged).*restore the data directory from a backup/i);
  });

  it('says "permission denied" in one line for a data directory the server cannot read', async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') expect.fail('CI runs as root, which this test needs to run the server as nobody');
      console.log('      (skipped: only root can run the server as another user)');
      this.skip();
    }
    const dataDir = damagedCopy((dir) => chmodSync(dir, 0o700));
    // Root reads everything: the server runs as nobody, the data directory stays root's (the
    // directories above it may be passed through).
    chmodSync(work.path, 0o711);
    await expectRefusal(dataDir, /permission denied/i, { uid: 65534, gid: 65534 });
  });

  it('never answers NotFound for a key that exists when a table file is damaged', async () => {
    const dataDir = damagedCopy((dir) => {
      for (const table of storeFiles(dir, /\.ldb$/)) flipBytes(table, Math.floor(statSync(table).size / 3));
    });
    const credentials = readFileSync(path.join(dataDir, 'admin.credentials'));
    // Either it refuses to start (one line naming the table) or it serves and answers 503 for
    // what it cannot read: both are acceptable, a NotFound or a crash is not.
    let server: ServerProcess;
    try {
      server = await startServerProcess(env(dataDir), work.path);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).to.match(/exited with 1 before listening: keyhold: KEYHOLD_DATA_DIR: .*\.ldb.*restore the data directory from a backup/);
      expect(message.trim().split('\n')).to.have.length(1);
      return;
    }
    running.push(server);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'), { url: server.url });
    for (const { keyId } of made) {
      try {
        await client.describeKey(keyId);
      } catch (error) {
        expect(error).to.be.instanceOf(KeyholdApiError);
        expect((error as KeyholdApiError).status, `${keyId}: ${(error as Error).message}`).to.equal(503);
      }
    }
    expect(server.child.exitCode).to.equal(null);
    expect(readFileSync(path.join(dataDir, 'admin.credentials')).equals(credentials)).to.equal(true);
  });

  it('refuses to start without store.seal, and starts again once keyhold admin verify-store --reseal has checked the store', async () => {
    const dataDir = damagedCopy((dir) => rmSync(path.join(dir, 'store.seal')));
    const refused = await runServerToCompletion(env(dataDir), work.path, 30_000);
    expect(refused.code).to.equal(1);
    expect(refused.stderr.trim().split('\n')).to.have.length(1);
    expect(refused.stderr).to.match(/store\.seal is missing.*verify-store --reseal/);
    const resealed = await runCli(['admin', 'verify-store', '--reseal'], { cwd: work.path, env: env(dataDir) });
    expect(resealed.code, resealed.stderr).to.equal(0);
    expect(resealed.stdout).to.match(/store\.seal made anew/).and.match(/all intact/);
    const server = await startServerProcess(env(dataDir), work.path);
    running.push(server);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'), { url: server.url });
    for (const { keyId } of made) expect((await client.describeKey(keyId)).KeyId).to.equal(keyId);
  });

  it('starts on the undamaged copy and every key and blob is there (the control)', async () => {
    const dataDir = damagedCopy(() => {});
    const server = await startServerProcess(env(dataDir), work.path);
    running.push(server);
    const client = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'), { url: server.url });
    for (const { keyId, blob, plaintext } of made) {
      expect((await client.describeKey(keyId)).KeyId).to.equal(keyId);
      expect((await client.decrypt({ ciphertextBlob: blob })).plaintext).to.deep.equal(plaintext);
    }
  });
});
