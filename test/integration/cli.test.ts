import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { runCli, type CliResult } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cli suite passphrase, long enough';

describe('the keyhold command line, against a real server', function () {
  this.timeout(120_000);
  let cwd: string;
  let config: string;
  let server: ServerProcess;
  let removeDirs: () => void;

  /**
   * keyhold <args> in the server's working dir, connecting with its admin.credentials named in
   * KEYHOLD_CREDENTIALS_FILE; with `unconfigured`, only what the test gives (the fallback to
   * ./data/admin.credentials, which adds a line on stderr, is tested in cli-connection.test.ts).
   */
  function keyhold(
    args: string[],
    options: { env?: Record<string, string>; input?: Buffer | string; cwd?: string; unconfigured?: boolean } = {},
  ): Promise<CliResult> {
    const named: Record<string, string> = options.unconfigured ? {} : { KEYHOLD_CREDENTIALS_FILE: path.join(cwd, 'data', 'admin.credentials') };
    return runCli(args, { cwd: options.cwd ?? cwd, env: { XDG_CONFIG_HOME: config, ...named, ...options.env }, input: options.input });
  }

  async function json(args: string[], options: Parameters<typeof keyhold>[1] = {}): Promise<any> {
    const result = await keyhold(args, options);
    expect(result.code, result.stderr).to.equal(0);
    return JSON.parse(result.stdout.toString());
  }

  /** A change whose answer was not asked for: exit 0, nothing on stdout. */
  async function quiet(args: string[]): Promise<void> {
    const result = await keyhold(args);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.toString(), `keyhold ${args.join(' ')}`).to.equal('');
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    const work = makeTempDir('keyhold-cli-');
    const configDir = makeTempDir('keyhold-cli-config-');
    removeDirs = () => [work, configDir].forEach((dir) => dir.remove());
    cwd = work.path;
    config = configDir.path;
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    rememberSecret(JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8')).SecretKey);
  });
  after(async () => {
    await server.stop();
    removeDirs();
  });

  describe('keys', () => {
    it('create, describe, list, disable, enable, schedule-deletion and cancel-deletion', async () => {
      const created = await json(['keys', 'create', '--description', 'cli key', '--tag', 'team=cli']);
      const keyId = created.KeyMetadata.KeyId;
      expect(created.KeyMetadata).to.include({ Description: 'cli key', KeyState: 'Enabled' });
      expect((await json(['keys', 'describe', keyId])).KeyMetadata.KeyId).to.equal(keyId);
      expect((await json(['keys', 'list', '--limit', '1000'])).Keys.map((k: { KeyId: string }) => k.KeyId)).to.include(keyId);
      await quiet(['keys', 'disable', keyId]);
      expect((await json(['keys', 'describe', keyId])).KeyMetadata.KeyState).to.equal('Disabled');
      expect((await json(['--output', 'json', 'keys', 'enable', keyId])).KeyMetadata.KeyState).to.equal('Enabled');
      const scheduled = await json(['keys', 'schedule-deletion', keyId, '--days', '7']);
      expect(scheduled).to.include({ KeyId: keyId, KeyState: 'PendingDeletion', PendingWindowInDays: 7 });
      await quiet(['keys', 'cancel-deletion', keyId]);
      expect((await json(['keys', 'describe', keyId])).KeyMetadata.KeyState).to.equal('Disabled');
    });

    it('prints a table with --output table', async () => {
      await json(['keys', 'create', '--description', 'for the table']);
      const result = await keyhold(['--output', 'table', 'keys', 'list']);
      expect(result.code).to.equal(0);
      const lines = result.stdout.toString().split('\n');
      expect(lines[0]).to.match(/^KeyId\s+KeyState\s+Description/);
      expect(lines[1]).to.match(/^-+\s+-+/);
      expect(result.stdout.toString()).to.contain('for the table');
    });

    it('rotate, rotations, and rotation enable/status/disable', async () => {
      const keyId = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      expect(await json(['keys', 'rotate', keyId, '--output', 'json'])).to.deep.equal({ KeyId: keyId, CurrentKeyVersion: 2 });
      expect((await json(['keys', 'rotations', keyId])).Rotations).to.have.length(1);
      await quiet(['keys', 'rotation', 'enable', keyId, '--period-days', '90']);
      expect(await json(['keys', 'rotation', 'status', keyId])).to.include({ KeyRotationEnabled: true, RotationPeriodInDays: 90 });
      await quiet(['keys', 'rotation', 'disable', keyId]);
      expect((await json(['keys', 'rotation', 'status', keyId])).KeyRotationEnabled).to.equal(false);
    });
  });

  describe('aliases and tags', () => {
    it('create, list, update and delete aliases; add, list and remove tags', async () => {
      const keyA = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      const keyB = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      await quiet(['aliases', 'create', 'alias/cli-orders', keyA]);
      expect((await json(['aliases', 'list', '--key-id', keyA])).Aliases[0]).to.include({ AliasName: 'alias/cli-orders', TargetKeyId: keyA });
      await quiet(['aliases', 'update', 'alias/cli-orders', keyB]);
      expect((await json(['keys', 'describe', 'alias/cli-orders'])).KeyMetadata.KeyId).to.equal(keyB);
      await quiet(['tags', 'add', 'alias/cli-orders', 'env=prod', 'team=payments']);
      await quiet(['tags', 'remove', 'alias/cli-orders', 'env']);
      expect((await json(['tags', 'list', keyB])).Tags).to.deep.equal([{ TagKey: 'team', TagValue: 'payments' }]);
      await quiet(['aliases', 'delete', 'alias/cli-orders']);
      const gone = await keyhold(['keys', 'describe', 'alias/cli-orders']);
      expect(gone.code).to.equal(1);
      expect(gone.stderr.trim()).to.match(/^Error: NotFoundException: /);
    });
  });

  describe('encrypt, decrypt, reencrypt, datakey, random', () => {
    let keyId: string;
    before(async () => {
      keyId = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      await quiet(['aliases', 'create', 'alias/cli-crypto', keyId]);
    });

    it('encrypts --plaintext to raw bytes on stdout and decrypts them from stdin', async () => {
      const secret = 'cli plaintext that must not leak';
      rememberSecret(secret);
      const encrypted = await keyhold(['encrypt', '--key-id', 'alias/cli-crypto', '--plaintext', secret, '--context', 'app=cli']);
      expect(encrypted.code, encrypted.stderr).to.equal(0);
      expect(encrypted.stdout[0], 'a format-2 blob, raw').to.equal(2);
      const decrypted = await keyhold(['decrypt', '--context', 'app=cli'], { input: encrypted.stdout });
      expect(decrypted.code, decrypted.stderr).to.equal(0);
      expect(decrypted.stdout.toString()).to.equal(secret);
    });

    it('reads --in, writes --out with mode 0600, and speaks base64 with --base64', async () => {
      writeFileSync(path.join(cwd, 'plain.bin'), Buffer.from([0, 1, 2, 250, 255]));
      expect((await keyhold(['encrypt', '--key-id', keyId, '--in', 'plain.bin', '--out', 'blob.bin'])).code).to.equal(0);
      expect(statSync(path.join(cwd, 'blob.bin')).mode & 0o777).to.equal(0o600);
      const b64 = await keyhold(['decrypt', '--in', 'blob.bin', '--base64']);
      expect(b64.stdout.toString().trim()).to.equal(Buffer.from([0, 1, 2, 250, 255]).toString('base64'));
      const text = await keyhold(['encrypt', '--key-id', keyId, '--base64'], { input: 'from stdin' });
      expect(text.stdout.toString()).to.match(/^[A-Za-z0-9+/]+=*\n$/);
      const back = await keyhold(['decrypt'], { input: text.stdout });
      expect(back.stdout.toString()).to.equal('from stdin');
    });

    it('reencrypts to another key', async () => {
      const other = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      const blob = (await keyhold(['encrypt', '--key-id', keyId, '--plaintext', 'move me'])).stdout;
      const moved = await keyhold(['reencrypt', '--destination-key-id', other], { input: blob });
      expect(moved.code, moved.stderr).to.equal(0);
      expect((await keyhold(['decrypt', '--key-id', other], { input: moved.stdout })).stdout.toString()).to.equal('move me');
      const wrongSource = await keyhold(['reencrypt', '--source-key-id', other, '--destination-key-id', other], { input: blob });
      expect(wrongSource.code).to.equal(1);
      expect(wrongSource.stderr.toString()).to.contain('IncorrectKeyException');
      const rightSource = await keyhold(['reencrypt', '--source-key-id', keyId, '--destination-key-id', other], { input: blob });
      expect(rightSource.code, rightSource.stderr.toString()).to.equal(0);
    });

    it('makes data keys and random bytes', async () => {
      const dataKey = await json(['datakey', '--key-id', keyId, '--context', 'f=x']);
      expect(Buffer.from(dataKey.Plaintext, 'base64')).to.have.length(32);
      rememberSecret(Buffer.from(dataKey.Plaintext, 'base64'));
      const small = await json(['datakey', '--key-id', keyId, '--spec', 'AES_128', '--without-plaintext']);
      expect(small).to.have.all.keys('CiphertextBlob', 'KeyId');
      const random = await keyhold(['random', '--bytes', '24']);
      expect(random.stdout).to.have.length(24);
    });
  });

  describe('encrypt-file and decrypt-file', () => {
    const CHUNK = 65_536;
    let keyId: string;
    before(async () => {
      keyId = (await json(['keys', 'create', '--description', 'files'])).KeyMetadata.KeyId;
    });

    function headerLength(file: Buffer, plaintextLength: number): number {
      return file.length - plaintextLength - 16 * (Math.floor(plaintextLength / CHUNK) + 1);
    }

    async function roundTrip(size: number): Promise<void> {
      const input = path.join(cwd, `plain-${size}`);
      writeFileSync(input, randomBytes(size));
      const encrypted = await keyhold(['encrypt-file', input, `${input}.khf`, '--key-id', keyId, '--context', `size=${size}`]);
      expect(encrypted.code, encrypted.stderr).to.equal(0);
      const decrypted = await keyhold(['decrypt-file', `${input}.khf`, `${input}.out`]);
      expect(decrypted.code, decrypted.stderr).to.equal(0);
      expect(readFileSync(`${input}.out`).equals(readFileSync(input)), `${size} bytes round trip`).to.equal(true);
      expect(statSync(`${input}.out`).mode & 0o777).to.equal(0o600);
    }

    for (const size of [0, 1, CHUNK, CHUNK + 1]) {
      it(`round-trips ${size} bytes`, () => roundTrip(size));
    }

    it('round-trips 50 MiB', () => roundTrip(50 * 1024 * 1024));

    /** Encrypts a 3.5-chunk file and returns its bytes and where its chunks start. */
    async function sample(name: string): Promise<{ bytes: Buffer; header: number }> {
      const size = 3 * CHUNK + CHUNK / 2;
      writeFileSync(path.join(cwd, name), randomBytes(size));
      expect((await keyhold(['encrypt-file', name, `${name}.khf`, '--key-id', keyId])).code).to.equal(0);
      const bytes = readFileSync(path.join(cwd, `${name}.khf`));
      return { bytes, header: headerLength(bytes, size) };
    }

    async function expectRefused(bytes: Buffer, what: string): Promise<void> {
      writeFileSync(path.join(cwd, 'tampered.khf'), bytes);
      const result = await keyhold(['decrypt-file', 'tampered.khf', 'tampered.out']);
      expect(result.code, `${what}: ${result.stderr}`).to.equal(1);
      expect(result.stderr.trim().split('\n'), what).to.have.length(1);
      expect(result.stderr, what).to.match(/^Error: (ERR_KEYHOLD_FILE_TAMPERED|ERR_KEYHOLD_FILE_FORMAT|InvalidCiphertextException): /);
      expect(existsSync(path.join(cwd, 'tampered.out')), `${what} left an OUT file`).to.equal(false);
      expect(readdirSync(cwd).filter((name) => name.includes('tampered.out')), `${what} left a temp file`).to.deep.equal([]);
    }

    it('with --context, refuses a file made under another context and writes nothing', async () => {
      writeFileSync(path.join(cwd, 'ctx.txt'), 'context matters');
      expect((await keyhold(['encrypt-file', 'ctx.txt', 'ctx.khf', '--key-id', keyId, '--context', 'host=db1'])).code).to.equal(0);
      const wrong = await keyhold(['decrypt-file', 'ctx.khf', 'ctx.out', '--context', 'host=db2']);
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.match(/^Error: ERR_KEYHOLD_FILE_CONTEXT_MISMATCH: /);
      expect(existsSync(path.join(cwd, 'ctx.out'))).to.equal(false);
      expect((await keyhold(['decrypt-file', 'ctx.khf', 'ctx.out', '--context', 'host=db1'])).code).to.equal(0);
      expect(readFileSync(path.join(cwd, 'ctx.out'), 'utf8')).to.equal('context matters');
    });

    it('refuses truncation, bit flips, swapped chunks and swapped headers, leaving no OUT', async () => {
      const { bytes, header } = await sample('victim');
      const record = CHUNK + 16;
      await expectRefused(bytes.subarray(0, 20), 'truncated in the header');
      await expectRefused(bytes.subarray(0, header + record + 100), 'truncated inside a chunk');
      await expectRefused(bytes.subarray(0, header + 3 * record), 'final chunk dropped at a boundary');
      await expectRefused(bytes.subarray(0, bytes.length - 1), 'last byte cut');
      await expectRefused(Buffer.concat([bytes, Buffer.from('more')]), 'bytes appended');
      for (const position of [5, header - 1, header + 10, header + record + 5, bytes.length - 1]) {
        const flipped = Buffer.from(bytes);
        flipped[position]! ^= 0x40;
        await expectRefused(flipped, `bit flipped at ${position}`);
      }
      const swapped = Buffer.concat([
        bytes.subarray(0, header),
        bytes.subarray(header + record, header + 2 * record),
        bytes.subarray(header, header + record),
        bytes.subarray(header + 2 * record),
      ]);
      await expectRefused(swapped, 'chunks 0 and 1 swapped');

      const other = await sample('other');
      expect(other.header).to.equal(header);
      await expectRefused(Buffer.concat([other.bytes.subarray(0, header), bytes.subarray(header)]), 'headers swapped between files');
      await expectRefused(
        Buffer.concat([bytes.subarray(0, header + record), other.bytes.subarray(header + record, header + 2 * record), bytes.subarray(header + 2 * record)]),
        'a chunk from another file',
      );
    });
  });

  describe('errors', () => {

    it('prints "Error: <__type>: <message>" and exits 1 for an API error; --verbose adds the request id', async () => {
      const keyId = (await json(['keys', 'create'])).KeyMetadata.KeyId;
      const blob = (await keyhold(['encrypt', '--key-id', keyId, '--plaintext', 'x', '--context', 'a=1'])).stdout;
      const wrong = await keyhold(['decrypt', '--context', 'a=2'], { input: blob });
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr.trim().split('\n')).to.have.length(1);
      expect(wrong.stderr).to.match(/^Error: InvalidCiphertextException: /);
      const verbose = await keyhold(['--verbose', 'decrypt', '--context', 'a=2'], { input: blob });
      expect(verbose.stderr).to.match(/request id [0-9a-f-]{36}/);
    });

    it('exits 2 for a usage error and 3 when the server cannot be reached', async () => {
      const usage = await keyhold(['encrypt', '--plaintext', 'no key id']);
      expect(usage.code).to.equal(2);
      expect(usage.stderr.trim().split('\n')).to.have.length(1);
      expect(usage.stderr).to.match(/^Error: UsageError: required option '--key-id <key>' not specified/);
      expect((await keyhold(['keys', 'frobnicate'])).code).to.equal(2);
      const { AccessKeyId, SecretKey } = JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8'));
      const credential = { KEYHOLD_ACCESS_KEY_ID: AccessKeyId, KEYHOLD_SECRET_KEY: SecretKey };
      const refused = await keyhold(['--url', 'https://127.0.0.1:1', 'random', '--bytes', '1'], { env: credential, unconfigured: true });
      expect(refused.code).to.equal(3);
      expect(refused.stderr).to.match(/^Error: ECONNREFUSED: /);
    });

    it('shows an example in the help of every command', async () => {
      for (const args of [[], ['keys', 'create'], ['keys', 'rotation', 'enable'], ['aliases', 'create'], ['tags', 'add'], ['encrypt'], ['decrypt'], ['reencrypt'], ['datakey'], ['random'], ['encrypt-file'], ['decrypt-file'], ['configure'], ['server'], ['admin', 'rekey'], ['credentials', 'create'], ['credentials', 'update-policy'], ['audit', 'list']]) {
        const help = await keyhold([...args, '--help']);
        expect(help.code, args.join(' ')).to.equal(0);
        expect(help.stdout.toString(), args.join(" ")).to.match(/Examples?:\n\s+\$ .*keyhold/);
      }
    });
  });

  describe('connection settings', () => {
    it('configure --import-credentials writes a 0600 profile that works from any directory', async () => {
      const saved = await keyhold(['configure', '--import-credentials', 'data/admin.credentials']);
      expect(saved.code, saved.stderr).to.equal(0);
      const file = path.join(config, 'keyhold', 'config.json');
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      const elsewhere = makeTempDir('keyhold-cli-elsewhere-');
      try {
        expect((await keyhold(['random', '--bytes', '4'], { cwd: elsewhere.path, unconfigured: true })).stdout).to.have.length(4);
        const missing = await keyhold(['--profile', 'nope', 'random', '--bytes', '4'], { cwd: elsewhere.path, unconfigured: true });
        expect(missing.code).to.equal(2);
        expect(missing.stderr).to.match(/no profile 'nope'/);
      } finally {
        elsewhere.remove();
      }
    });

    it('configure --profile NAME writes a named profile from --url, --access-key-id and --secret-key-file', async () => {
      const credentials = JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8'));
      writeFileSync(path.join(cwd, 'secret.txt'), credentials.SecretKey, { mode: 0o600 });
      const saved = await keyhold([
        'configure', '--profile', 'staging', '--url', credentials.Url, '--access-key-id', credentials.AccessKeyId,
        '--secret-key-file', 'secret.txt', '--cert-sha256', credentials.CertSha256,
      ]);
      expect(saved.code, saved.stderr).to.equal(0);
      const stored = JSON.parse(readFileSync(path.join(config, 'keyhold', 'config.json'), 'utf8'));
      expect(stored.profiles.staging).to.include({ url: credentials.Url, accessKeyId: credentials.AccessKeyId });
      const elsewhere = makeTempDir('keyhold-cli-staging-');
      try {
        expect((await keyhold(['--profile', 'staging', 'random', '--bytes', '3'], { cwd: elsewhere.path, unconfigured: true })).stdout).to.have.length(3);
      } finally {
        elsewhere.remove();
      }
    });

    it('takes the flags over the environment over the default profile, each whole', async () => {
      await keyhold(['configure', '--import-credentials', 'data/admin.credentials']);
      const { AccessKeyId, SecretKey } = JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8'));
      const wrongEnvironment = { KEYHOLD_URL: 'https://127.0.0.1:1', KEYHOLD_ACCESS_KEY_ID: AccessKeyId, KEYHOLD_SECRET_KEY: SecretKey };
      const envWrong = await keyhold(['random', '--bytes', '4'], { env: wrongEnvironment, unconfigured: true });
      expect(envWrong.code, 'the environment beats the default profile').to.equal(3);
      const caCert = path.join(cwd, 'data', 'tls-cert.pem');
      const flagRight = await keyhold(['--url', server.url, '--ca-cert', caCert, 'random', '--bytes', '4'], { env: wrongEnvironment, unconfigured: true });
      expect(flagRight.code, `--url beats KEYHOLD_URL: ${flagRight.stderr}`).to.equal(0);
      const profileRight = await keyhold(['--profile', 'default', 'random', '--bytes', '4'], { env: wrongEnvironment, unconfigured: true });
      expect(profileRight.code, `--profile beats the environment: ${profileRight.stderr}`).to.equal(0);
      const urlOnly = await keyhold(['random', '--bytes', '4'], { env: { KEYHOLD_URL: server.url }, unconfigured: true });
      expect(urlOnly.code, 'KEYHOLD_URL alone does not borrow the profile\'s credential').to.equal(2);
    });

    it('refuses a server whose certificate is not the pinned one, and --insecure warns', async () => {
      const credentials = JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8'));
      writeFileSync(path.join(cwd, 'wrong-pin.credentials'), JSON.stringify({ ...credentials, CertSha256: 'ab'.repeat(32) }), { mode: 0o600 });
      const refused = await keyhold(['--credentials', 'wrong-pin.credentials', 'random', '--bytes', '4']);
      expect(refused.code).to.equal(3);
      expect(refused.stderr).to.match(/^Error: CERT_PIN_MISMATCH: /);
      const insecure = await keyhold(['--credentials', 'wrong-pin.credentials', '--insecure', 'random', '--bytes', '4']);
      expect(insecure.code).to.equal(0);
      expect(insecure.stderr).to.match(/WARNING: --insecure/);
    });
  });
});
