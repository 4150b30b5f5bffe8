import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { keyCheckValue, ROOT_KEY_AAD, wrapKey } from '../../src/crypto/index.js';
import { generateSelfSignedCertificate } from '../../src/runtime/self-signed.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { logLines } from '../helpers/server-client.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'secret files test passphrase';
const PIN = 'secret-files-test-pin-4821';

describe('secret files and the stored KDF, at start (real files, real server processes)', function () {
  this.timeout(60_000);
  const dirs: { remove(): void }[] = [];
  const running: ServerProcess[] = [];

  before(() => {
    rememberSecret(PASSPHRASE);
    rememberSecret(PIN);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
  });
  after(() => dirs.forEach((dir) => dir.remove()));

  function tempDir(): string {
    const dir = makeTempDir('keyhold-secret-files-');
    dirs.push(dir);
    return dir.path;
  }

  /** A file holding `content`, with exactly `mode`. */
  function secretFile(dir: string, name: string, content: string, mode: number): string {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  }

  describe('a secret file open to group or others', () => {
    it('is named, with its mode, in a warning at start outside production (never its content)', async () => {
      const cwd = tempDir();
      const file = secretFile(cwd, 'passphrase', `${PASSPHRASE}\n`, 0o644);
      const server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE_FILE: file }, cwd);
      running.push(server);
      const warnings = logLines(server).filter((line) => line.file === file);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include({ level: 40, mode: '0644', variable: 'KEYHOLD_PASSPHRASE_FILE' });
      expect(warnings[0]!.msg).to.include('chmod 600');
      expect(server.stdout() + server.stderr()).not.to.include(PASSPHRASE);
    });

    it('gives no warning for a file of mode 0600', async () => {
      const cwd = tempDir();
      const file = secretFile(cwd, 'passphrase', `${PASSPHRASE}\n`, 0o600);
      const server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE_FILE: file, NODE_ENV: 'production' }, cwd);
      running.push(server);
      expect(logLines(server).filter((line) => line.file === file)).to.deep.equal([]);
    });

    describe('stops the start with NODE_ENV=production, in one line saying to chmod 600', () => {
      const cases: { variable: string; mode: number; env: (dir: string) => Promise<Record<string, string>> }[] = [
        {
          variable: 'KEYHOLD_PASSPHRASE_FILE',
          mode: 0o640,
          env: async (dir) => ({ KEYHOLD_PASSPHRASE_FILE: secretFile(dir, 'passphrase', PASSPHRASE, 0o640) }),
        },
        {
          variable: 'KEYHOLD_PKCS11_PIN_FILE',
          mode: 0o604,
          // Refused before any token is looked for: no PKCS#11 module is needed.
          env: async (dir) => ({ KEYHOLD_MASTER: 'pkcs11', KEYHOLD_PKCS11_TOKEN_LABEL: 'none', KEYHOLD_PKCS11_PIN_FILE: secretFile(dir, 'pin', PIN, 0o604) }),
        },
        {
          variable: 'KEYHOLD_TLS_KEY',
          mode: 0o644,
          env: async (dir) => {
            const generated = await generateSelfSignedCertificate({ commonName: 'secret files test' });
            return {
              KEYHOLD_PASSPHRASE: PASSPHRASE,
              KEYHOLD_TLS_CERT: secretFile(dir, 'cert.pem', generated.certPem, 0o644),
              KEYHOLD_TLS_KEY: secretFile(dir, 'key.pem', generated.keyPem, 0o644),
            };
          },
        },
      ];
      for (const { variable, mode, env } of cases) {
        it(`${variable} of mode 0${mode.toString(8)}`, async () => {
          const cwd = tempDir();
          const dataDir = path.join(cwd, 'data');
          const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, NODE_ENV: 'production', ...(await env(cwd)) }, cwd);
          expect(result.code).to.equal(1);
          const lines = result.stderr.trim().split('\n');
          expect(lines).to.have.length(1);
          expect(lines[0]).to.match(new RegExp(`^keyhold: ${variable}: .* has mode 0${mode.toString(8)}, open to group or others: chmod 600 `));
          expect(result.stdout + result.stderr).not.to.include(PASSPHRASE).and.not.to.include(PIN);
        });
      }
    });
  });

  describe("a store whose root-key record asks for a KDF below Keyhold's minimum", () => {
    /**
     * A store whose root key is wrapped under the right passphrase with PBKDF2 at `iterations`:
     * what someone who can write the data directory could put there. Without the check it opens.
     */
    async function storeWithKdf(dataDir: string, iterations: number, saltBytes: number): Promise<void> {
      const store = await LevelDbStore.open(dataDir);
      try {
        const rootKey = randomBytes(32);
        const salt = randomBytes(saltBytes);
        const kek = pbkdf2Sync(PASSPHRASE, salt, iterations, 32, 'sha256');
        const master = { kind: 'passphrase' as const, kdf: 'pbkdf2-sha256' as const, iterations, salt: salt.toString('base64') };
        const wrappedRootKey = (wrapKey(kek, rootKey, ROOT_KEY_AAD) as Buffer).toString('base64');
        const record = { storeVersion: 1 as const, master, wrappedRootKey, keyCheckValue: keyCheckValue(rootKey).toString('base64'), createdAt: new Date().toISOString() };
        await store.write(store.batch().putRootKey(record));
      } finally {
        await store.close();
      }
    }

    for (const [title, iterations, saltBytes] of [
      ['1,000 PBKDF2 iterations', 1000, 16],
      ['a 4-byte salt', 600_000, 4],
    ] as const) {
      it(`is refused at start with a StartupError naming the minimum: ${title}`, async () => {
        const cwd = tempDir();
        const dataDir = path.join(cwd, 'data');
        await storeWithKdf(dataDir, iterations, saltBytes);
        // LevelDB in any run: storeWithKdf writes the record in-process, and only LevelDB opens here.
        const result = await runServerToCompletion({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd, 30_000, { store: 'leveldb' });
        expect(result.code).to.equal(1);
        expect(result.stderr.trim()).to.equal(
          "keyhold: KEYHOLD_DATA_DIR: the store's root-key record asks for a KDF weaker than Keyhold's minimum " +
            '(600000 PBKDF2 iterations, a 16-byte salt): refusing to open it; restore the store from a backup',
        );
      });
    }
  });
});
