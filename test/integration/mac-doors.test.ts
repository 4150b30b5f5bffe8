import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GenerateMacCommand,
  InvalidKeyUsageException,
  KMSClient,
  KMSInvalidMacException,
  KMSServiceException,
  RotateKeyOnDemandCommand,
  UnsupportedOperationException,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { rejectionOf } from '../helpers/rejection.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const SPECS = [
  ['HMAC_224', 'HMAC_SHA_224', 28],
  ['HMAC_256', 'HMAC_SHA_256', 32],
  ['HMAC_384', 'HMAC_SHA_384', 48],
  ['HMAC_512', 'HMAC_SHA_512', 64],
] as const;

/**
 * HMAC keys through every door of a real server process: the unchanged @aws-sdk/client-kms
 * (GenerateMacCommand, VerifyMacCommand, its KMSInvalidMacException), the TypeScript client and
 * the `keyhold mac` and `keyhold verify-mac` commands.
 */
describe('HMAC keys through the AWS SDK, the client and the CLI, against a real server', function () {
  this.timeout(120_000);
  let work: ReturnType<typeof makeTempDir>;
  let config: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let kms: KMSClient;
  let native: KeyholdClient;
  const keys = new Map<string, string>();

  before(async () => {
    work = makeTempDir('keyhold-mac-doors-');
    config = makeTempDir('keyhold-mac-doors-config-');
    const passphrase = 'mac doors passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(work.path, 'data'), KEYHOLD_PASSPHRASE: passphrase }, work.path);
    const admin = JSON.parse(readFileSync(path.join(work.path, 'data', 'admin.credentials'), 'utf8'));
    rememberSecret(admin.SecretKey);
    kms = new KMSClient({
      endpoint: server.url,
      region: REGION,
      credentials: { accessKeyId: admin.AccessKeyId, secretAccessKey: admin.SecretKey },
      requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(path.join(work.path, 'data', 'tls-cert.pem')) }) }),
      maxAttempts: 1,
    });
    native = KeyholdClient.fromCredentialsFile(path.join(work.path, 'data', 'admin.credentials'));
  });

  after(async () => {
    kms?.destroy();
    native?.close();
    await server?.stop();
    work?.remove();
    config?.remove();
  });

  const arnOf = (keyId: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;

  describe('the AWS SDK', () => {
    it('CreateKey makes each HMAC spec; KeyMetadata has MacAlgorithms and no EncryptionAlgorithms', async () => {
      for (const [spec, algorithm] of SPECS) {
        const created = await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC', Description: spec }));
        expect(created.KeyMetadata).to.include({ KeySpec: spec, KeyUsage: 'GENERATE_VERIFY_MAC', KeyState: 'Enabled', AWSAccountId: ACCOUNT });
        expect(created.KeyMetadata!.MacAlgorithms).to.deep.equal([algorithm]);
        expect(created.KeyMetadata!.EncryptionAlgorithms).to.equal(undefined);
        keys.set(spec, created.KeyMetadata!.KeyId!);
      }
      const described = await kms.send(new DescribeKeyCommand({ KeyId: keys.get('HMAC_256') }));
      expect(described.KeyMetadata!.MacAlgorithms).to.deep.equal(['HMAC_SHA_256']);
    });

    it('CreateKey with an HMAC spec and no KeyUsage, or another usage, is a ValidationException', async () => {
      for (const request of [{ KeySpec: 'HMAC_256' as const }, { KeySpec: 'HMAC_256' as const, KeyUsage: 'ENCRYPT_DECRYPT' as const }]) {
        const error = await rejectionOf(kms.send(new CreateKeyCommand(request)), KMSServiceException);
        expect(error.name, JSON.stringify(request)).to.equal('ValidationException');
      }
    });

    it('GenerateMac gives the MAC the native client gives; VerifyMac says MacValid; KeyId is the key ARN', async () => {
      for (const [spec, algorithm, length] of SPECS) {
        const keyId = keys.get(spec)!;
        const message = randomBytes(100);
        const made = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: algorithm }));
        expect(made.KeyId).to.equal(arnOf(keyId));
        expect(made.MacAlgorithm).to.equal(algorithm);
        expect(made.Mac!.length, spec).to.equal(length);
        const viaClient = await native.generateMac({ keyId, message, macAlgorithm: algorithm });
        expect(Buffer.from(made.Mac!).equals(viaClient.mac), spec).to.equal(true);
        const verified = await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: made.Mac, MacAlgorithm: algorithm }));
        expect(verified).to.include({ KeyId: arnOf(keyId), MacValid: true, MacAlgorithm: algorithm });
      }
    });

    it("a wrong MAC is the SDK's KMSInvalidMacException; a wrong algorithm InvalidKeyUsageException; no rotation", async () => {
      const keyId = keys.get('HMAC_512')!;
      const message = Buffer.from('message');
      const made = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_512' }));
      const wrong = Buffer.from(made.Mac!);
      wrong[0]! ^= 0x80;
      await rejectionOf(kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: wrong, MacAlgorithm: 'HMAC_SHA_512' })), KMSInvalidMacException);
      await rejectionOf(kms.send(new VerifyMacCommand({ KeyId: keys.get('HMAC_384'), Message: message, Mac: made.Mac, MacAlgorithm: 'HMAC_SHA_384' })), KMSInvalidMacException);
      await rejectionOf(kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' })), InvalidKeyUsageException);
      const empty = await rejectionOf(kms.send(new GenerateMacCommand({ KeyId: keyId, Message: Buffer.alloc(0), MacAlgorithm: 'HMAC_SHA_512' })), KMSServiceException);
      expect(empty.name).to.equal('ValidationException');
      await rejectionOf(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })), UnsupportedOperationException);
    });
  });

  describe('the client', () => {
    it('verifyMac resolves macValid true for a good MAC and false for a wrong one; other errors reject', async () => {
      const keyId = keys.get('HMAC_224')!;
      const message = Buffer.from('client message');
      const { mac } = await native.generateMac({ keyId, message, macAlgorithm: 'HMAC_SHA_224' });
      expect(await native.verifyMac({ keyId, message, mac, macAlgorithm: 'HMAC_SHA_224' })).to.deep.equal({ keyId, macValid: true, macAlgorithm: 'HMAC_SHA_224' });
      expect((await native.verifyMac({ keyId, message: Buffer.from('other'), mac, macAlgorithm: 'HMAC_SHA_224' })).macValid).to.equal(false);
      const refused = await native.verifyMac({ keyId, message, mac, macAlgorithm: 'HMAC_SHA_256' }).then(
        () => undefined,
        (error: { type?: string }) => error.type,
      );
      expect(refused).to.equal('InvalidKeyUsageException');
    });
  });

  describe('keyhold mac and keyhold verify-mac', () => {
    const file = (name: string) => path.join(work.path, name);
    function keyhold(args: string[], input?: Buffer | string): Promise<CliResult> {
      return runCli(args, { cwd: work.path, env: { XDG_CONFIG_HOME: config.path, KEYHOLD_CREDENTIALS_FILE: file('data/admin.credentials') }, input });
    }
    async function ok(args: string[], input?: Buffer | string): Promise<Buffer> {
      const result = await keyhold(args, input);
      expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(0);
      return result.stdout;
    }
    async function expectFailure(args: string[], code: number, stderr: RegExp, input?: Buffer | string): Promise<void> {
      const result = await keyhold(args, input);
      expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(code);
      expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1);
      expect(result.stderr).to.match(stderr);
    }

    it('keys create --key-spec HMAC_384 --key-usage GENERATE_VERIFY_MAC makes an HMAC key', async () => {
      const metadata = JSON.parse((await ok(['keys', 'create', '--key-spec', 'HMAC_384', '--key-usage', 'GENERATE_VERIFY_MAC'])).toString()).KeyMetadata;
      expect(metadata).to.include({ KeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC' });
      expect(metadata.MacAlgorithms).to.deep.equal(['HMAC_SHA_384']);
    });

    for (const [spec, algorithm, length] of SPECS) {
      it(`${spec}: mac (the key's algorithm by default) writes the MAC the client makes; verify-mac exits 0, and 1 for a flipped MAC`, async () => {
        const keyId = keys.get(spec)!;
        const message = randomBytes(300);
        writeFileSync(file('message.bin'), message);
        await ok(['mac', '--key-id', keyId, '--in', 'message.bin', '--out', 'message.mac']);
        const written = readFileSync(file('message.mac'));
        expect(written.length).to.equal(length);
        expect(written.equals((await native.generateMac({ keyId, message, macAlgorithm: algorithm })).mac)).to.equal(true);
        const base64 = (await ok(['mac', '--key-id', keyId, '--algorithm', algorithm.toLowerCase(), '--base64'], message)).toString();
        expect(base64).to.equal(`${written.toString('base64')}\n`);
        const verified = JSON.parse((await ok(['verify-mac', '--key-id', keyId, '--in', 'message.bin', '--mac', 'message.mac'])).toString());
        expect(verified).to.deep.equal({ KeyId: keyId, MacValid: true, MacAlgorithm: algorithm });
        await ok(['verify-mac', '--key-id', keyId, '--algorithm', algorithm, '--mac-base64', written.toString('base64')], message);
        const flipped = Buffer.from(written);
        flipped[3]! ^= 1;
        writeFileSync(file('flipped.mac'), flipped);
        await expectFailure(['verify-mac', '--key-id', keyId, '--in', 'message.bin', '--mac', 'flipped.mac'], 1, /^Error: KMSInvalidMacException: /);
      });
    }

    it('shows an example in the help of mac and verify-mac', async () => {
      for (const command of ['mac', 'verify-mac']) {
        const help = await keyhold([command, '--help']);
        expect(help.code, command).to.equal(0);
        expect(help.stdout.toString(), command).to.match(/Examples?:\n\s+\$ keyhold /);
      }
    });

    it('refuses bad use: exit 2 for usage, exit 1 for what the server refuses', async () => {
      const keyId = keys.get('HMAC_256')!;
      writeFileSync(file('message.bin'), 'hello');
      await expectFailure(['verify-mac', '--key-id', keyId, '--in', 'message.bin'], 2, /^Error: UsageError: give the MAC/);
      await expectFailure(['verify-mac', '--key-id', keyId, '--in', 'message.bin', '--mac-base64', 'not base64!'], 2, /^Error: UsageError: --mac-base64 is not standard base64/);
      await expectFailure(['mac', '--key-id', keyId, '--in', 'message.bin', '--algorithm', 'HMAC_MD5'], 2, /^Error: UsageError: .*HMAC_MD5/);
      await expectFailure(['mac', '--key-id', keyId, '--in', 'message.bin', '--algorithm', 'HMAC_SHA_512'], 1, /^Error: InvalidKeyUsageException: /);
      const symmetric = (await native.createKey({})).KeyId;
      await expectFailure(['mac', '--key-id', symmetric, '--in', 'message.bin'], 2, /^Error: UsageError: key .* is SYMMETRIC_DEFAULT ENCRYPT_DECRYPT, not an HMAC key/);
      await expectFailure(['mac', '--key-id', symmetric, '--in', 'message.bin', '--algorithm', 'HMAC_SHA_256'], 1, /^Error: InvalidKeyUsageException: /);
      writeFileSync(file('empty.bin'), '');
      await expectFailure(['mac', '--key-id', keyId, '--in', 'empty.bin'], 1, /^Error: ValidationException: /);
      writeFileSync(file('long.bin'), Buffer.alloc(4097, 7));
      await expectFailure(['mac', '--key-id', keyId, '--in', 'long.bin'], 1, /^Error: ValidationException: /);
    });
  });
});
