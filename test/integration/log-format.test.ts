import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';
import { capturedLog } from '../helpers/log-capture.js';
import { rememberSecret } from '../helpers/secrets.js';
import { TEST_WORKERS } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { testStoreEnv } from '../helpers/test-store.js';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const PASSPHRASE = 'pretty log suite passphrase, long enough';

describe('KEYHOLD_LOG_FORMAT=pretty: the server log for people', function () {
  this.timeout(120_000);
  let removeDir: () => void;
  let cwd: string;
  let server: ChildProcess;
  let stdout = '';
  let exited: Promise<number | null>;

  before(async () => {
    rememberSecret(PASSPHRASE);
    const work = makeTempDir('keyhold-pretty-log-');
    removeDir = () => work.remove();
    cwd = work.path;
    const dataDir = path.join(cwd, 'data');
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_') && name !== 'NODE_ENV'));
    // Spawned here rather than by startServerProcess, which reads the JSON line that says it listens.
    server = spawn(process.execPath, ['--import', TSX, MAIN], {
      cwd,
      env: {
        ...inherited,
        ...testStoreEnv(dataDir),
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_PASSPHRASE: PASSPHRASE,
        KEYHOLD_PORT: '0',
        KEYHOLD_WORKERS: TEST_WORKERS,
        KEYHOLD_LOG_FORMAT: 'pretty',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => server.once('exit', resolve));
    server.stdout!.on('data', (chunk) => (stdout += chunk));
    server.stderr!.on('data', (chunk) => capturedLog.push(String(chunk)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not say it listens: ${stdout}`)), 60_000);
      server.stdout!.on('data', () => {
        if (stdout.includes('INFO: keyhold is listening') && stdout.includes('certSha256')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the server exited with ${code}: ${stdout}`)));
    });
  });
  after(async () => {
    server.kill('SIGTERM');
    await exited;
    capturedLog.push(stdout);
    removeDir();
  });

  it('writes readable lines, not JSON, and keeps every secret out of them', async () => {
    const credentials = path.join(cwd, 'data', 'admin.credentials');
    const plaintext = `pretty-log-plaintext-${randomBytes(8).toString('hex')}`;
    rememberSecret(plaintext);
    const created = await runCli(['--output', 'json', 'keys', 'create', '--description', 'pretty'], { cwd, env: { KEYHOLD_CREDENTIALS_FILE: credentials } });
    expect(created.code, created.stderr).to.equal(0);
    const keyId = JSON.parse(created.stdout.toString()).KeyMetadata.KeyId;
    const encrypted = await runCli(['encrypt', '--key-id', keyId, '--plaintext', plaintext], { cwd, env: { KEYHOLD_CREDENTIALS_FILE: credentials } });
    expect(encrypted.code, encrypted.stderr).to.equal(0);
    // A refused request too: its signature carries the secret's work, its body the plaintext.
    const refused = await runCli(['encrypt', '--key-id', 'alias/none', '--plaintext', plaintext], { cwd, env: { KEYHOLD_CREDENTIALS_FILE: credentials } });
    expect(refused.code).to.equal(1);

    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stdout).to.match(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{4}\] INFO/m);
    expect(stdout).to.match(/INFO( \(worker\/\d+\))?: request\n/);
    expect(stdout).to.match(/^\s+action: "encrypt"$/m);
    expect(stdout.split('\n').filter((line) => line.startsWith('{')), 'JSON lines').to.deep.equal([]);
    expect(stdout).not.to.contain(plaintext);
    expect(stdout).not.to.contain(PASSPHRASE);
    expect(stdout).not.to.contain(Buffer.from(plaintext).toString('base64'));
  });
});
