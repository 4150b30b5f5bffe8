import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  IncorrectKeyMaterialException,
  InvalidImportTokenException,
  KMSClient,
  KMSInvalidStateException,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { adminAwsCredentials, awsClientEnv, requireAwsCli, runProcess } from '../helpers/aws-clients.js';
import { openBlob, wrapMaterial, type Algorithm } from '../helpers/imported-material.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout } from '../helpers/commands.js';
import { capturedLog } from '../helpers/log-capture.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'cli', 'keyhold.ts');
const TSX = import.meta.resolve('tsx');

/** The sh blocks of "Bring your own key material" in docs/cli.md, in order. */
function readmeBlocks(): string[] {
  const readme = readFileSync(path.join(ROOT, 'docs', 'cli.md'), 'utf8');
  const start = readme.indexOf('## Bring your own key material');
  if (start < 0) throw new Error('docs/cli.md has no "Bring your own key material" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)\n```/g)].map((match) => match[1]!);
}

/** The docs' script for one wrapping algorithm: steps 1–3 with that algorithm and key spec, its block, step 5. */
function readmeScript(algorithm: Algorithm, spec: string): string {
  const blocks = readmeBlocks();
  const wrap = blocks.filter((block) => block.startsWith(`# ${algorithm}\n`) || block.startsWith(`# ${algorithm}:`));
  expect(wrap, `the docs' block for ${algorithm}`).to.have.length(1);
  const [steps, , , , last] = blocks;
  expect(steps).to.include('--wrapping-algorithm RSAES_OAEP_SHA_256').and.include('--wrapping-key-spec RSA_3072');
  // Only the algorithm and key spec of step 2 differ from the docs' text.
  const first = steps!.replace('--wrapping-algorithm RSAES_OAEP_SHA_256', `--wrapping-algorithm ${algorithm}`).replace('--wrapping-key-spec RSA_3072', `--wrapping-key-spec ${spec}`);
  return [first, wrap[0], last].join('\n');
}

/**
 * The docs' script for an HMAC key with one wrapping algorithm: its HMAC step 1, steps 2–3 of
 * the symmetric script with that algorithm and key spec, its wrapping block, step 5, and its MAC check.
 */
function readmeHmacScript(algorithm: Algorithm, spec: string): string {
  const blocks = readmeBlocks();
  const create = blocks.filter((block) => block.startsWith('# 1. An HMAC_256 key'));
  const check = blocks.filter((block) => block.includes('openssl mac'));
  expect(create, "the docs' HMAC step 1").to.have.length(1);
  expect(check, "the docs' MAC check").to.have.length(1);
  const symmetric = readmeScript(algorithm, spec).split('\n');
  // The symmetric script without its step 1 (two lines), which the HMAC block replaces.
  expect(symmetric[1]).to.match(/^KEY_ID=\$\(keyhold keys create --origin EXTERNAL /);
  return [create[0], ...symmetric.slice(2), check[0]].join('\n');
}

describe('importing key material with the tools: docs/cli.md as written, the aws CLI, @aws-sdk/client-kms', function () {
  this.timeout(300_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let native: KeyholdClient;
  let dataDir: string;

  before(async function () {
    skipWithout(this, ['jq', 'openssl', 'od']);
    work = makeTempDir('keyhold-import-');
    dataDir = path.join(work.path, 'data');
    const passphrase = 'import tools passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: passphrase }, work.path);
    native = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    rememberSecret(JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8')).SecretKey);
    // `keyhold` on PATH: the real command line, as `npm install -g` would put it there.
    const bin = path.join(work.path, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'keyhold'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${CLI}" "$@"\n`);
    chmodSync(path.join(bin, 'keyhold'), 0o755);
  });

  after(async () => {
    native?.close();
    await server?.stop();
    work?.remove();
  });

  /** Runs a bash script in a fresh directory beside data/ (a symlink), as a reader would from theirs. */
  async function runScript(script: string, dir: string): Promise<string> {
    mkdirSync(dir);
    symlinkSync(dataDir, path.join(dir, 'data'));
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_') && !name.startsWith('AWS_') && name !== 'XDG_CONFIG_HOME'));
    const env = { ...inherited, PATH: `${path.join(work.path, 'bin')}:${process.env.PATH}`, HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config') };
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    capturedLog.push(stdout, stderr);
    expect(code, `${stdout}\n${stderr}`).to.equal(0);
    return stdout;
  }

  for (const [algorithm, spec] of [['RSAES_OAEP_SHA_256', 'RSA_3072'], ['RSAES_OAEP_SHA_1', 'RSA_2048'], ['RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096']] as const) {
    it(`runs the docs' commands for ${algorithm} (${spec}): the key is Enabled and its blobs open with the material`, async () => {
      const dir = path.join(work.path, algorithm);
      // The docs' commands, then the KeyId they made, for the checks below.
      const lines = (await runScript(`${readmeScript(algorithm, spec)}\necho "$KEY_ID"`, dir)).trim().split('\n');
      expect(lines.at(-2)).to.equal('Enabled');
      const keyId = lines.at(-1)!;
      expect((await native.describeKey(keyId)).Origin).to.equal('EXTERNAL');
      const material = readFileSync(path.join(dir, 'PlaintextKeyMaterial.bin'));
      rememberSecret(material);
      expect(material).to.have.length(32);
      // The material that went through the docs' commands is the key's: a blob opens with it.
      const { ciphertextBlob } = await native.encrypt({ keyId, plaintext: Buffer.from(`via ${algorithm}`), encryptionContext: { step: '5' } });
      expect(openBlob(material, ciphertextBlob, { step: '5' }).toString()).to.equal(`via ${algorithm}`);
    });
  }

  for (const [algorithm, spec] of [['RSAES_OAEP_SHA_256', 'RSA_2048'], ['RSAES_OAEP_SHA_1', 'RSA_3072'], ['RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096']] as const) {
    it(`runs the docs' HMAC commands for ${algorithm} (${spec}): keyhold mac and openssl mac agree, as does createHmac`, async () => {
      const dir = path.join(work.path, `hmac-${algorithm}`);
      const lines = (await runScript(`${readmeHmacScript(algorithm, spec)}\necho "$KEY_ID"`, dir)).trim().split('\n');
      expect(lines.at(-3)).to.equal('Enabled');
      expect(lines.at(-2)).to.equal('same');
      const keyId = lines.at(-1)!;
      expect(await native.describeKey(keyId)).to.include({ Origin: 'EXTERNAL', KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
      const secret = readFileSync(path.join(dir, 'PlaintextKeyMaterial.bin'));
      rememberSecret(secret);
      const message = readFileSync(path.join(dir, 'message.txt'));
      const expected = createHmac('sha256', secret).update(message).digest();
      expect(readFileSync(path.join(dir, 'keyhold.mac')).toString('hex')).to.equal(expected.toString('hex'));
      expect((await native.generateMac({ keyId, message: Buffer.from('another message'), macAlgorithm: 'HMAC_SHA_256' })).mac.toString('hex'))
        .to.equal(createHmac('sha256', secret).update('another message').digest('hex'));
    });
  }

  it('keyhold keys delete-imported-key-material, then import-key-material of the same files with new parameters', async () => {
    const dir = path.join(work.path, 'cli-reimport');
    const script = [
      readmeScript('RSAES_OAEP_SHA_256', 'RSA_2048'),
      'BLOB=$(keyhold encrypt --key-id "$KEY_ID" --plaintext "kept across deletion" --base64)',
      'keyhold keys delete-imported-key-material "$KEY_ID" --output json | jq -r .KeyId',
      'keyhold keys describe "$KEY_ID" --output json | jq -r .KeyMetadata.KeyState',
      'printf %s "$BLOB" | keyhold decrypt 2>&1 >/dev/null | grep -o KMSInvalidStateException || true',
      readmeBlocks()[0]!.split('\n').slice(2, 5).join('\n').replace('RSA_3072', 'RSA_2048'),
      readmeBlocks().find((block) => block.startsWith('# RSAES_OAEP_SHA_256\n'))!,
      readmeBlocks()[4]!,
      'printf %s "$BLOB" | keyhold decrypt',
    ].join('\n');
    const lines = (await runScript(script, dir)).trim().split('\n');
    const deleted = lines.indexOf('PendingImport');
    expect(deleted, lines.join('\n')).to.be.above(0);
    expect(lines[deleted + 1]).to.equal('KMSInvalidStateException');
    expect(lines.at(-2)).to.equal('Enabled');
    expect(lines.at(-1)).to.equal('kept across deletion');
  });

  it('the TypeScript client; a backup carries imported material (symmetric and HMAC) and an unused wrapping key, which work after a restore', async () => {
    const passphrase = 'import tools passphrase (test)';
    const material = createHash('sha256').update('client imported key material').digest();
    rememberSecret(material);
    const imported = (await native.createKey({ origin: 'EXTERNAL', description: 'client byok' })).KeyId;
    const first = await native.getParametersForImport({ keyId: imported, wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_2048' });
    expect(first.keyId).to.equal(imported);
    const result = await native.importKeyMaterial({
      keyId: imported,
      importToken: first.importToken,
      encryptedKeyMaterial: wrapMaterial(first.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', material),
      expirationModel: 'KEY_MATERIAL_EXPIRES',
      validTo: new Date(Date.now() + 90 * 86_400_000),
    });
    expect(result).to.deep.include({ keyId: imported });
    const { ciphertextBlob } = await native.encrypt({ keyId: imported, plaintext: Buffer.from('survives a restore') });
    // An HMAC key with an imported secret of a length Keyhold never makes (50 bytes for HMAC_224).
    const hmacKey = (await native.createKey({ origin: 'EXTERNAL', keySpec: 'HMAC_224', keyUsage: 'GENERATE_VERIFY_MAC', description: 'client byok hmac' })).KeyId;
    const hmacSecret = createHash('sha512').update('client imported hmac secret').digest().subarray(0, 50);
    rememberSecret(hmacSecret);
    const hmacParameters = await native.getParametersForImport({ keyId: hmacKey, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' });
    await native.importKeyMaterial({
      keyId: hmacKey,
      importToken: hmacParameters.importToken,
      encryptedKeyMaterial: wrapMaterial(hmacParameters.publicKey, 'RSAES_OAEP_SHA_256', hmacSecret),
      expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    });
    const hmacMessage = Buffer.from('survives a restore too');
    const expectedMac = createHmac('sha224', hmacSecret).update(hmacMessage).digest('hex');
    expect((await native.generateMac({ keyId: hmacKey, message: hmacMessage, macAlgorithm: 'HMAC_SHA_224' })).mac.toString('hex')).to.equal(expectedMac);
    const pending = (await native.createKey({ origin: 'EXTERNAL', description: 'client byok, pending' })).KeyId;
    const unused = await native.getParametersForImport({ keyId: pending, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' });

    const env = { XDG_CONFIG_HOME: path.join(work.path, 'backup-config'), KEYHOLD_CREDENTIALS_FILE: path.join(dataDir, 'admin.credentials') };
    const backupFile = path.join(work.path, 'import.backup');
    const backup = await runCli(['admin', 'backup', '--out', backupFile], { cwd: work.path, env });
    expect(backup.code, backup.stderr).to.equal(0);
    expect(readFileSync(backupFile).includes(material), 'plaintext material in the backup').to.equal(false);
    expect(readFileSync(backupFile).includes(hmacSecret), 'plaintext HMAC secret in the backup').to.equal(false);
    // Restored into a LevelDB data directory in any run (a PostgreSQL run backs up from PostgreSQL).
    const restoredDir = path.join(work.path, 'restored', 'data');
    const restore = await runCli(['admin', 'restore', '--in', backupFile], { cwd: work.path, env: { ...env, KEYHOLD_DATA_DIR: restoredDir, KEYHOLD_PASSPHRASE: passphrase }, store: 'leveldb' });
    expect(restore.code, restore.stderr).to.equal(0);

    const restored = await startServerProcess({ KEYHOLD_DATA_DIR: restoredDir, KEYHOLD_PASSPHRASE: passphrase }, work.path, { store: 'leveldb' });
    const credentials = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8'));
    const client = new KeyholdClient({ url: restored.url, accessKeyId: credentials.AccessKeyId, secretKey: credentials.SecretKey, certSha256: restored.certSha256 });
    try {
      expect(await client.describeKey(imported)).to.include({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES' });
      expect((await client.decrypt({ ciphertextBlob })).plaintext.toString()).to.equal('survives a restore');
      expect((await client.generateMac({ keyId: hmacKey, message: hmacMessage, macAlgorithm: 'HMAC_SHA_224' })).mac.toString('hex')).to.equal(expectedMac);
      await client.importKeyMaterial({
        keyId: pending,
        importToken: unused.importToken,
        encryptedKeyMaterial: wrapMaterial(unused.publicKey, 'RSAES_OAEP_SHA_256', material),
        expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      });
      expect((await client.describeKey(pending)).KeyState).to.equal('Enabled');
      await client.deleteImportedKeyMaterial(imported);
      expect((await client.describeKey(imported)).KeyState).to.equal('PendingImport');
    } finally {
      client.close();
      await restored.stop();
    }
  });

  describe('the aws CLI (fileb://)', () => {
    before(function () {
      requireAwsCli(this);
    });

    it('create-key --origin EXTERNAL, get-parameters-for-import, openssl, import-key-material, encrypt and decrypt', async () => {
      const env = awsClientEnv(adminAwsCredentials(dataDir), path.join(dataDir, 'tls-cert.pem'), path.join(work.path, 'aws-home'));
      const aws = async (...args: string[]) => {
        const run = await runProcess('aws', ['--endpoint-url', server.url, '--output', 'json', 'kms', ...args], { env, cwd: work.path });
        expect(run.code, `aws kms ${args.join(' ')}: ${run.stderr}`).to.equal(0);
        return run.stdout.trim() === '' ? {} : JSON.parse(run.stdout);
      };
      const keyId = (await aws('create-key', '--origin', 'EXTERNAL', '--description', 'aws cli byok')).KeyMetadata.KeyId as string;
      expect((await aws('describe-key', '--key-id', keyId)).KeyMetadata).to.include({ KeyState: 'PendingImport', Origin: 'EXTERNAL' });
      const parameters = await aws('get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', 'RSA_AES_KEY_WRAP_SHA_256', '--wrapping-key-spec', 'RSA_2048');
      expect(parameters.KeyId).to.equal(`arn:aws:kms:us-east-1:111122223333:key/${keyId}`);
      expect(parameters.ParametersValidTo).to.be.a('number');
      const dir = path.join(work.path, 'aws-cli');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'WrappingPublicKey.bin'), Buffer.from(parameters.PublicKey, 'base64'));
      writeFileSync(path.join(dir, 'ImportToken.bin'), Buffer.from(parameters.ImportToken, 'base64'));
      const material = Buffer.from('aws cli imported key material 32', 'utf8');
      rememberSecret(material);
      writeFileSync(path.join(dir, 'PlaintextKeyMaterial.bin'), material);
      const wrap = readmeBlocks().find((block) => block.startsWith('# RSA_AES_KEY_WRAP_SHA_256'))!;
      const wrapped = spawnSync('bash', ['-euo', 'pipefail', '-c', wrap], { cwd: dir, encoding: 'utf8' });
      expect(wrapped.status, wrapped.stderr).to.equal(0);
      const validTo = new Date(Date.now() + 30 * 86_400_000);
      await aws('import-key-material', '--key-id', keyId, '--import-token', `fileb://${path.join(dir, 'ImportToken.bin')}`,
        '--encrypted-key-material', `fileb://${path.join(dir, 'EncryptedKeyMaterial.bin')}`,
        '--expiration-model', 'KEY_MATERIAL_EXPIRES', '--valid-to', validTo.toISOString());
      const described = (await aws('describe-key', '--key-id', keyId)).KeyMetadata;
      expect(described).to.include({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES' });
      expect(Math.abs(described.ValidTo - validTo.getTime() / 1000)).to.be.below(1);
      writeFileSync(path.join(dir, 'secret.txt'), 'aws cli byok plaintext');
      const blob = (await aws('encrypt', '--key-id', keyId, '--plaintext', `fileb://${path.join(dir, 'secret.txt')}`)).CiphertextBlob as string;
      expect(openBlob(material, Buffer.from(blob, 'base64'), {}).toString()).to.equal('aws cli byok plaintext');
      writeFileSync(path.join(dir, 'blob.bin'), Buffer.from(blob, 'base64'));
      const plaintext = (await aws('decrypt', '--ciphertext-blob', `fileb://${path.join(dir, 'blob.bin')}`)).Plaintext as string;
      expect(Buffer.from(plaintext, 'base64').toString()).to.equal('aws cli byok plaintext');
      await aws('delete-imported-key-material', '--key-id', keyId);
      expect((await aws('describe-key', '--key-id', keyId)).KeyMetadata.KeyState).to.equal('PendingImport');
    });
  });

  describe('@aws-sdk/client-kms', () => {
    let kms: KMSClient;
    before(() => {
      const credentials = adminAwsCredentials(dataDir);
      kms = new KMSClient({
        endpoint: server.url,
        region: 'us-east-1',
        credentials,
        requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(path.join(dataDir, 'tls-cert.pem')) }) }),
        maxAttempts: 1,
      });
    });
    after(() => kms?.destroy());

    it('imports, refuses used and foreign tokens and other material with their AWS error classes, deletes and reimports', async () => {
      const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'sdk byok' }))).KeyMetadata!.KeyId!;
      const otherId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'sdk byok other' }))).KeyMetadata!.KeyId!;
      const material = createHash('sha256').update('sdk imported key material').digest();
      rememberSecret(material);
      const params = (id: string) => kms.send(new GetParametersForImportCommand({ KeyId: id, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }));
      const importWith = (p: Awaited<ReturnType<typeof params>>, bytes: Buffer, extra: object = {}) =>
        kms.send(new ImportKeyMaterialCommand({
          KeyId: keyId,
          ImportToken: p.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(Buffer.from(p.PublicKey!), 'RSAES_OAEP_SHA_1', bytes),
          ExpirationModel: 'KEY_MATERIAL_EXPIRES',
          ValidTo: new Date(Date.now() + 7 * 86_400_000),
          ...extra,
        }));
      const p = await params(keyId);
      expect(p.ParametersValidTo).to.be.instanceOf(Date);
      expect(p.ParametersValidTo!.getTime()).to.be.closeTo(Date.now() + 86_400_000, 60_000);
      await rejectionOf(importWith(await params(otherId), material), InvalidImportTokenException);
      const imported = await importWith(p, material);
      expect(imported.KeyMaterialId).to.match(/^[0-9a-f]{64}$/);
      await rejectionOf(importWith(p, material), InvalidImportTokenException);
      const metadata = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      expect(metadata).to.include({ KeyState: 'Enabled', Origin: 'EXTERNAL', ExpirationModel: 'KEY_MATERIAL_EXPIRES' });
      expect(metadata.ValidTo).to.be.instanceOf(Date);
      const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('sdk byok') }));
      await rejectionOf(importWith(await params(keyId), Buffer.alloc(32, 7)), IncorrectKeyMaterialException);
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
      await rejectionOf(kms.send(new DecryptCommand({ CiphertextBlob })), KMSInvalidStateException);
      await importWith(await params(keyId), material, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ValidTo: undefined });
      const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob }));
      expect(Buffer.from(Plaintext!).toString()).to.equal('sdk byok');
    });

    it('an HMAC key with imported material: GenerateMac is createHmac of the secret; refused while deleted, back after reimport', async () => {
      const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'sdk byok hmac' }))).KeyMetadata!.KeyId!;
      const secret = Buffer.concat([createHash('sha512').update('sdk hmac secret').digest(), createHash('sha256').update('sdk hmac secret').digest()]);
      rememberSecret(secret);
      expect(secret).to.have.length(96);
      const importSecret = async (bytes: Buffer) => {
        const p = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
        return kms.send(new ImportKeyMaterialCommand({
          KeyId: keyId,
          ImportToken: p.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(Buffer.from(p.PublicKey!), 'RSA_AES_KEY_WRAP_SHA_256', bytes),
          ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        }));
      };
      const message = Buffer.from('sdk hmac message');
      const generate = () => kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_384' }));
      await rejectionOf(generate(), KMSInvalidStateException);
      await rejectionOf(importSecret(Buffer.alloc(47, 1)), IncorrectKeyMaterialException);
      await importSecret(secret);
      const metadata = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      expect(metadata).to.include({ KeyState: 'Enabled', Origin: 'EXTERNAL', KeySpec: 'HMAC_384', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
      expect(metadata.MacAlgorithms).to.deep.equal(['HMAC_SHA_384']);
      const { Mac } = await generate();
      const expected = createHmac('sha384', secret).update(message).digest();
      expect(Buffer.from(Mac!).toString('hex')).to.equal(expected.toString('hex'));
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
      await rejectionOf(kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: expected, MacAlgorithm: 'HMAC_SHA_384' })), KMSInvalidStateException);
      await rejectionOf(importSecret(Buffer.alloc(96, 2)), IncorrectKeyMaterialException);
      await importSecret(secret);
      const verified = await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: expected, MacAlgorithm: 'HMAC_SHA_384' }));
      expect(verified.MacValid).to.equal(true);
    });
  });
});
