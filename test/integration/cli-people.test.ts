import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli, type CliResult } from '../helpers/cli.js';
import { capturedLog } from '../helpers/log-capture.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cli people suite passphrase, long enough';
const CLI = fileURLToPath(new URL('../../cli/keyhold.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Over the 4 MiB from which the progress line shows. */
const BIG = 5 * 1024 * 1024 + 123;

describe('the keyhold command line for people: progress, errors in their words, hints', function () {
  this.timeout(180_000);
  let cwd: string;
  let config: string;
  let server: ServerProcess;
  let keyId: string;
  let admin: { AccessKeyId: string; SecretKey: string; CertSha256: string };
  let removeDirs: () => void;

  /** keyhold <args> with the server's admin.credentials file, or only `env` when `unconfigured`. */
  function keyhold(args: string[], options: { env?: Record<string, string>; input?: Buffer; unconfigured?: boolean } = {}): Promise<CliResult> {
    const named: Record<string, string> = options.unconfigured ? {} : { KEYHOLD_CREDENTIALS_FILE: path.join(cwd, 'data', 'admin.credentials') };
    return runCli(args, { cwd, env: { XDG_CONFIG_HOME: config, ...named, ...options.env }, input: options.input });
  }

  /**
   * keyhold <args> under a pseudo-terminal (util-linux `script`), as a person at a terminal runs
   * it: stdout and stderr are the terminal, and what the terminal showed comes back as one text.
   */
  function keyholdAtTerminal(args: string[]): Promise<{ code: number; screen: string }> {
    const command = [process.execPath, '--import', TSX, CLI, ...args].map(shellQuote).join(' ');
    const env = { ...process.env, XDG_CONFIG_HOME: config, KEYHOLD_CREDENTIALS_FILE: path.join(cwd, 'data', 'admin.credentials') };
    return new Promise((resolve) => {
      execFile('script', ['-qfec', command, '/dev/null'], { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout) => {
        capturedLog.push(stdout);
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, screen: stdout });
      });
    });
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    const work = makeTempDir('keyhold-cli-people-');
    const configDir = makeTempDir('keyhold-cli-people-config-');
    removeDirs = () => [work, configDir].forEach((dir) => dir.remove());
    cwd = work.path;
    config = configDir.path;
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    admin = JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8'));
    rememberSecret(admin.SecretKey);
    const created = await keyhold(['--output', 'json', 'keys', 'create', '--description', 'people']);
    expect(created.code, created.stderr).to.equal(0);
    keyId = JSON.parse(created.stdout.toString()).KeyMetadata.KeyId;
    writeFileSync(path.join(cwd, 'big.bin'), randomBytes(BIG));
    writeFileSync(path.join(cwd, 'small.bin'), randomBytes(1000));
  });
  after(async () => {
    await server.stop();
    removeDirs();
  });

  describe('the progress line of encrypt-file and decrypt-file', () => {
    it('shows progress on a terminal for a file over 4 MiB, ending with the bytes and the throughput', async () => {
      const encrypted = await keyholdAtTerminal(['encrypt-file', 'big.bin', 'big.khf', '--key-id', keyId]);
      expect(encrypted.code, encrypted.screen).to.equal(0);
      expect(encrypted.screen).to.match(/\r\x1b\[Kencrypt-file: 5\.0 MiB in \d+\.\d s, [\d.]+ (KiB|MiB|GiB)\/s\r?\n/);
      const decrypted = await keyholdAtTerminal(['decrypt-file', 'big.khf', 'big.out']);
      expect(decrypted.code, decrypted.screen).to.equal(0);
      expect(decrypted.screen).to.match(/decrypt-file: 5\.0 MiB in \d+\.\d s, [\d.]+ (KiB|MiB|GiB)\/s\r?\n/);
      // The file went through the streams the progress line counts: still the same bytes.
      expect(readFileSync(path.join(cwd, 'big.out')).equals(readFileSync(path.join(cwd, 'big.bin')))).to.equal(true);
    });

    it('--no-progress silences it on a terminal; a file under 4 MiB shows none', async () => {
      const quiet = await keyholdAtTerminal(['encrypt-file', '--no-progress', 'big.bin', 'quiet.khf', '--key-id', keyId]);
      expect(quiet.code, quiet.screen).to.equal(0);
      expect(quiet.screen).to.equal('');
      const small = await keyholdAtTerminal(['encrypt-file', 'small.bin', 'small.khf', '--key-id', keyId]);
      expect(small.code, small.screen).to.equal(0);
      expect(small.screen).to.equal('');
    });

    it('draws no line over the output when the output goes to the terminal too', async () => {
      writeFileSync(path.join(cwd, 'text.txt'), 'a line of text for the terminal\n'.repeat(BIG / 32));
      const encrypted = await keyholdAtTerminal(['encrypt-file', '--no-progress', 'text.txt', 'text.khf', '--key-id', keyId]);
      expect(encrypted.code, encrypted.screen).to.equal(0);
      const shown = await keyholdAtTerminal(['decrypt-file', 'text.khf', '-']);
      expect(shown.code).to.equal(0);
      expect(shown.screen.length).to.be.greaterThan(BIG);
      expect(shown.screen).not.to.contain('decrypt-file');
    });

    it('prints nothing when stderr is not a terminal, also from stdin to stdout', async () => {
      const toFile = await keyhold(['encrypt-file', 'big.bin', 'piped.khf', '--key-id', keyId]);
      expect(toFile.code, toFile.stderr).to.equal(0);
      expect(toFile.stderr).to.equal('');
      const piped = await keyhold(['encrypt-file', '-', '-', '--key-id', keyId], { input: readFileSync(path.join(cwd, 'big.bin')) });
      expect(piped.code, piped.stderr).to.equal(0);
      expect(piped.stderr).to.equal('');
      const back = await keyhold(['decrypt-file', '-', '-'], { input: piped.stdout });
      expect(back.stderr).to.equal('');
      expect(back.stdout.equals(readFileSync(path.join(cwd, 'big.bin')))).to.equal(true);
    });
  });

  describe('errors in people\'s words', () => {
    it('too much plaintext: its limit in bytes, and encrypt-file for files', async () => {
      const result = await keyhold(['encrypt', '--key-id', keyId], { input: randomBytes(5000) });
      expect(result.code).to.equal(1);
      expect(result.stderr).to.match(/^Error: ValidationException: Plaintext is at most 4096 bytes; use encrypt-file for files/);
      expect(result.stderr).not.to.match(/expected|Too big|characters/);
    });
  });

  describe('hints on the common dead ends', () => {
    const credential = () => ({ KEYHOLD_ACCESS_KEY_ID: admin.AccessKeyId, KEYHOLD_SECRET_KEY: admin.SecretKey });

    it('connection refused: is the server running, at which URL, and where that URL came from', async () => {
      const byFlag = await keyhold(['--url', 'https://127.0.0.1:1', 'random', '--bytes', '1'], { env: credential(), unconfigured: true });
      expect(byFlag.code).to.equal(3);
      expect(byFlag.stderr).to.match(/^Error: ECONNREFUSED: .*\nhint: nothing answers at https:\/\/127\.0\.0\.1:1 \(the URL from --url\): is the Keyhold server running there\?/);
      const byVariable = await keyhold(['random', '--bytes', '1'], { env: { ...credential(), KEYHOLD_URL: 'https://127.0.0.1:1' }, unconfigured: true });
      expect(byVariable.stderr).to.match(/\nhint: nothing answers at https:\/\/127\.0\.0\.1:1 \(the URL from KEYHOLD_URL\)/);
      const saved = await keyhold(['--profile', 'gone', '--url', 'https://127.0.0.1:1', 'configure', '--access-key-id', admin.AccessKeyId], {
        env: { KEYHOLD_SECRET_KEY: admin.SecretKey },
        unconfigured: true,
      });
      expect(saved.code, saved.stderr).to.equal(0);
      const byProfile = await keyhold(['--profile', 'gone', 'random', '--bytes', '1'], { unconfigured: true });
      expect(byProfile.stderr).to.match(/\nhint: nothing answers at https:\/\/127\.0\.0\.1:1 \(the URL from the profile 'gone'\)/);
    });

    it('a self-signed certificate without its pin: which settings make it trusted', async () => {
      const result = await keyhold(['random', '--bytes', '1'], { env: { ...credential(), KEYHOLD_URL: server.url }, unconfigured: true });
      expect(result.code).to.equal(3);
      expect(result.stderr).to.match(/^Error: DEPTH_ZERO_SELF_SIGNED_CERT: /);
      expect(result.stderr).to.include(`hint: the certificate of ${server.url} (the URL from KEYHOLD_URL) is not one this client trusts`);
      expect(result.stderr).to.include('keyhold configure --import-credentials data/admin.credentials');
      expect(result.stderr).to.include('--ca-cert FILE');
    });

    it('NotFoundException on a blob: it may belong to another server, or its key was deleted', async () => {
      const encrypted = await keyhold(['encrypt', '--key-id', keyId, '--plaintext', 'hello']);
      expect(encrypted.code, encrypted.stderr).to.equal(0);
      // The same blob naming a key this server never had, as a blob from another server does.
      const foreign = Buffer.from(encrypted.stdout);
      randomBytes(16).copy(foreign, 1);
      foreign[7] = (foreign[7]! & 0x0f) | 0x40; // a version-4 UUID
      foreign[9] = (foreign[9]! & 0x3f) | 0x80;
      const result = await keyhold(['decrypt'], { input: foreign });
      expect(result.code).to.equal(1);
      expect(result.stderr).to.match(/^Error: NotFoundException: .*\nhint: the ciphertext names a key that .* does not have: it may have been made by another Keyhold server/);
      // Elsewhere a NotFoundException is plain: the key named on the command line does not exist.
      const describe = await keyhold(['keys', 'describe', 'alias/nothing-here']);
      expect(describe.stderr).to.match(/^Error: NotFoundException: [^\n]*\n$/);
    });

    it('a wrong secret or an unknown access key id: which credential to check', async () => {
      const wrongSecret = await keyhold(['--url', server.url, '--ca-cert', path.join(cwd, 'data', 'tls-cert.pem'), 'random', '--bytes', '1'], {
        env: { KEYHOLD_ACCESS_KEY_ID: admin.AccessKeyId, KEYHOLD_SECRET_KEY: randomBytes(32).toString('base64') },
        unconfigured: true,
      });
      expect(wrongSecret.code).to.equal(1);
      expect(wrongSecret.stderr).to.match(/^Error: InvalidSignatureException: .*\nhint: the secret key does not match the access key id: check the credential in KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY/);
      const unknown = await keyhold(['--url', server.url, '--ca-cert', path.join(cwd, 'data', 'tls-cert.pem'), 'random', '--bytes', '1'], {
        env: { KEYHOLD_ACCESS_KEY_ID: 'KHNOSUCHKEY0000000000', KEYHOLD_SECRET_KEY: randomBytes(32).toString('base64') },
        unconfigured: true,
      });
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.match(/^Error: UnrecognizedClientException: .*\nhint: .* does not know this access key id/);
    });
  });
});

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
