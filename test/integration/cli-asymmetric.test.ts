import { spawn, spawnSync } from 'node:child_process';
import { constants, createHash, createPublicKey, publicEncrypt, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { algorithmsFor, type AsymmetricKeySpec, type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { nodeVerifies } from '../helpers/signatures.js';

const PASSPHRASE = 'cli asymmetric suite passphrase, long enough';
const SPECS: AsymmetricKeySpec[] = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384'];
const DEFAULT_ALGORITHM: Record<AsymmetricKeySpec, SigningAlgorithm> = {
  RSA_2048: 'RSASSA_PKCS1_V1_5_SHA_256',
  RSA_3072: 'RSASSA_PKCS1_V1_5_SHA_256',
  RSA_4096: 'RSASSA_PKCS1_V1_5_SHA_256',
  ECC_NIST_P256: 'ECDSA_SHA_256',
  ECC_NIST_P384: 'ECDSA_SHA_384',
};

describe('the keyhold command line with asymmetric keys and certificates, against a real server', function () {
  this.timeout(120_000);
  let cwd: string;
  let config: string;
  let server: ServerProcess;
  let client: KeyholdClient;
  let removeDirs: () => void;
  /** One SIGN_VERIFY key per spec. */
  const signingKeys = {} as Record<AsymmetricKeySpec, string>;

  function keyhold(args: string[], input?: Buffer | string): Promise<CliResult> {
    // The credentials file is named: the fallback to ./data/admin.credentials would add a line on stderr.
    return runCli(args, { cwd, env: { XDG_CONFIG_HOME: config, KEYHOLD_CREDENTIALS_FILE: path.join(cwd, 'data', 'admin.credentials') }, input });
  }

  /** Runs keyhold expecting success; returns stdout. */
  async function ok(args: string[], input?: Buffer | string): Promise<Buffer> {
    const result = await keyhold(args, input);
    expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  }

  async function expectFailure(args: string[], code: number, stderr: RegExp): Promise<void> {
    const result = await keyhold(args);
    expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(code);
    expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1);
    expect(result.stderr).to.match(stderr);
  }

  async function createKey(spec: string, usage: string): Promise<string> {
    return JSON.parse((await ok(['keys', 'create', '--key-spec', spec, '--key-usage', usage])).toString()).KeyMetadata.KeyId;
  }

  function file(name: string): string {
    return path.join(cwd, name);
  }

  function openssl(args: string[]): { status: number | null; output: string } {
    const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  async function publicKeyOf(keyId: string): Promise<KeyObject> {
    return createPublicKey({ key: (await client.getPublicKey(keyId)).publicKey, format: 'der', type: 'spki' });
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    const work = makeTempDir('keyhold-cli-asym-');
    const configDir = makeTempDir('keyhold-cli-asym-config-');
    removeDirs = () => [work, configDir].forEach((dir) => dir.remove());
    cwd = work.path;
    config = configDir.path;
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    rememberSecret(JSON.parse(readFileSync(file('data/admin.credentials'), 'utf8')).SecretKey);
    client = KeyholdClient.fromCredentialsFile(file('data/admin.credentials'));
    await Promise.all(SPECS.map(async (spec) => (signingKeys[spec] = await createKey(spec, 'SIGN_VERIFY'))));
  });
  after(async () => {
    client?.close();
    await server?.stop();
    removeDirs();
  });

  describe('keys create and pubkey', () => {
    for (const spec of SPECS) {
      it(`${spec}: keys create fills KeySpec, KeyUsage and SigningAlgorithms; pubkey prints the key getpublickey answers`, async () => {
        const metadata = JSON.parse((await ok(['keys', 'describe', signingKeys[spec]])).toString()).KeyMetadata;
        expect(metadata).to.include({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY', Origin: 'KEYHOLD' });
        expect(metadata.SigningAlgorithms).to.deep.equal(algorithmsFor(spec, 'SIGN_VERIFY').signingAlgorithms);
        const expected = (await client.getPublicKey(signingKeys[spec])).publicKey;
        const pem = (await ok(['pubkey', '--key-id', signingKeys[spec]])).toString();
        expect(pem).to.match(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
        expect(createPublicKey(pem).export({ type: 'spki', format: 'der' }).equals(expected)).to.equal(true);
        expect((await ok(['pubkey', '--key-id', signingKeys[spec], '--der'])).equals(expected)).to.equal(true);
      });
    }

    it('refuses --origin GCP_KMS without --provider-key-id, and --provider-key-id without a remote origin (exit 2)', async () => {
      await expectFailure(['keys', 'create', '--origin', 'GCP_KMS'], 2, /^Error: UsageError: --origin GCP_KMS needs --provider-key-id/);
      await expectFailure(['keys', 'create', '--provider-key-id', 'arn:aws:kms:eu-west-1:111122223333:key/x'], 2, /^Error: UsageError: --provider-key-id needs --origin/);
      await expectFailure(['keys', 'create', '--key-spec', 'RSA_1024'], 2, /^Error: UsageError: .*RSA_1024/);
    });
  });

  describe('sign and verify', () => {
    const cases: Array<[AsymmetricKeySpec, SigningAlgorithm | undefined]> = [
      ...SPECS.map((spec): [AsymmetricKeySpec, undefined] => [spec, undefined]),
      ...algorithmsFor('RSA_2048', 'SIGN_VERIFY').signingAlgorithms.map((algorithm): [AsymmetricKeySpec, SigningAlgorithm] => ['RSA_2048', algorithm]),
    ];
    for (const [spec, requested] of cases) {
      const algorithm = requested ?? DEFAULT_ALGORITHM[spec];
      it(`${spec} with ${requested ?? `the default (${algorithm})`}: node:crypto and verify accept the signature; a flipped one exits 1`, async () => {
        const keyId = signingKeys[spec];
        const message = randomBytes(1000);
        writeFileSync(file('message.bin'), message);
        const algorithmArgs = requested ? ['--algorithm', requested] : [];
        await ok(['sign', '--key-id', keyId, ...algorithmArgs, '--in', 'message.bin', '--out', 'message.sig']);
        const signature = readFileSync(file('message.sig'));
        expect(nodeVerifies(await publicKeyOf(keyId), algorithm, message, signature), 'node:crypto verifies').to.equal(true);

        const verified = JSON.parse((await ok(['verify', '--key-id', keyId, ...algorithmArgs, '--in', 'message.bin', '--signature', 'message.sig'])).toString());
        expect(verified).to.include({ SignatureValid: true, SigningAlgorithm: algorithm });

        const flipped = Buffer.from(signature);
        flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
        writeFileSync(file('flipped.sig'), flipped);
        await expectFailure(['verify', '--key-id', keyId, ...algorithmArgs, '--in', 'message.bin', '--signature', 'flipped.sig'], 1, /^Error: KMSInvalidSignatureException: /);
      });
    }

    it('hashes a RAW message over 4096 bytes locally; --message-type digest signs a hash; --base64 round-trips', async () => {
      const keyId = signingKeys.ECC_NIST_P256;
      const message = randomBytes(10_000);
      writeFileSync(file('big.bin'), message);
      const signature = Buffer.from((await ok(['sign', '--key-id', keyId, '--in', 'big.bin', '--base64'])).toString().trim(), 'base64');
      expect(nodeVerifies(await publicKeyOf(keyId), 'ECDSA_SHA_256', message, signature)).to.equal(true);
      await ok(['verify', '--key-id', keyId, '--in', 'big.bin', '--signature-base64', signature.toString('base64')]);

      const digest = createHash('sha256').update(message).digest();
      const digestSignature = await ok(['sign', '--key-id', keyId, '--message-type', 'digest'], digest);
      writeFileSync(file('digest.sig'), digestSignature);
      expect(nodeVerifies(await publicKeyOf(keyId), 'ECDSA_SHA_256', message, digestSignature)).to.equal(true);
      await ok(['verify', '--key-id', keyId, '--in', 'big.bin', '--signature', 'digest.sig']);
    });

    it('refuses an algorithm the key does not offer, a missing signature (exit 2) and a symmetric key (exit 1)', async () => {
      await expectFailure(['sign', '--key-id', signingKeys.ECC_NIST_P256, '--algorithm', 'RSASSA_PSS_SHA_256', '--in', 'message.bin'], 1, /^Error: \w+Exception: /);
      await expectFailure(['sign', '--key-id', signingKeys.ECC_NIST_P256, '--algorithm', 'ECDSA_SHA_999', '--in', 'message.bin'], 2, /^Error: UsageError: unknown signing algorithm/);
      await expectFailure(['verify', '--key-id', signingKeys.ECC_NIST_P256, '--in', 'message.bin'], 2, /^Error: UsageError: give the signature/);
      const symmetric = JSON.parse((await ok(['keys', 'create'])).toString()).KeyMetadata.KeyId;
      await expectFailure(['sign', '--key-id', symmetric, '--algorithm', 'ECDSA_SHA_256', '--in', 'message.bin'], 1, /^Error: InvalidKeyUsageException: /);
      await expectFailure(['csr', '--key-id', symmetric, '--subject', 'CN=x'], 1, /^Error: InvalidKeyUsageException: /);
    });
  });

  describe('RSA encrypt and decrypt', () => {
    let keyId: string;
    before(async () => {
      keyId = await createKey('RSA_2048', 'ENCRYPT_DECRYPT');
    });

    for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const) {
      it(`${algorithm}: decrypts what it encrypted and what node:crypto encrypted with the public key`, async () => {
        const secret = randomBytes(100);
        rememberSecret(secret);
        writeFileSync(file('rsa-plain.bin'), secret);
        await ok(['encrypt', '--key-id', keyId, '--encryption-algorithm', algorithm, '--in', 'rsa-plain.bin', '--out', 'rsa.enc']);
        expect(readFileSync(file('rsa.enc'))).to.have.length(256);
        const decrypted = await ok(['decrypt', '--key-id', keyId, '--encryption-algorithm', algorithm, '--in', 'rsa.enc']);
        expect(decrypted.equals(secret)).to.equal(true);

        const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
        const fromNode = publicEncrypt({ key: await publicKeyOf(keyId), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, secret);
        const viaBase64 = await ok(['decrypt', '--key-id', keyId, '--encryption-algorithm', algorithm, '--base64'], fromNode.toString('base64'));
        expect(Buffer.from(viaBase64.toString().trim(), 'base64').equals(secret)).to.equal(true);
      });
    }

    it('refuses to sign a CSR with an ENCRYPT_DECRYPT key (exit 2)', async () => {
      await expectFailure(['csr', '--key-id', keyId, '--subject', 'CN=x'], 2, /^Error: UsageError: key .* is for ENCRYPT_DECRYPT, not SIGN_VERIFY/);
    });

    it('refuses an RSA decrypt without --key-id (exit 2) and the other OAEP hash (exit 1)', async () => {
      await expectFailure(['decrypt', '--encryption-algorithm', 'RSAES_OAEP_SHA_256', '--in', 'rsa.enc'], 2, /^Error: UsageError: .*needs --key-id/);
      await ok(['encrypt', '--key-id', keyId, '--encryption-algorithm', 'RSAES_OAEP_SHA_256', '--in', 'rsa-plain.bin', '--out', 'rsa256.enc']);
      await expectFailure(['decrypt', '--key-id', keyId, '--encryption-algorithm', 'RSAES_OAEP_SHA_1', '--in', 'rsa256.enc'], 1, /^Error: \w+Exception: /);
    });
  });

  describe('csr', () => {
    const cases: Array<[AsymmetricKeySpec, SigningAlgorithm | undefined, string]> = [
      ['RSA_2048', undefined, 'sha256WithRSAEncryption'],
      ['RSA_2048', 'RSASSA_PSS_SHA_384', 'rsassaPss'],
      ['ECC_NIST_P256', undefined, 'ecdsa-with-SHA256'],
      ['ECC_NIST_P384', undefined, 'ecdsa-with-SHA384'],
    ];
    for (const [spec, requested, opensslName] of cases) {
      it(`${spec}${requested ? ` with ${requested}` : ''}: openssl req -verify says "verify OK"; subject, SANs and public key are the ones asked`, async () => {
        const name = `${spec}-${requested ?? 'default'}.csr`;
        await ok([
          'csr', '--key-id', signingKeys[spec], '--subject', 'CN=client-1.example,O=Keyhold Tests,C=NL',
          '--san', 'dns:client-1.example', '--san', 'ip:10.0.0.1', '--san', 'email:ops@example.com', '--san', 'uri:spiffe://example/client-1',
          ...(requested ? ['--algorithm', requested] : []), '--out', name,
        ]);
        const verified = openssl(['req', '-verify', '-noout', '-in', name]);
        expect(verified.output, verified.output).to.contain('verify OK');
        expect(verified.status).to.equal(0);
        const text = openssl(['req', '-noout', '-text', '-in', name]).output;
        expect(text).to.contain('Subject: CN = client-1.example, O = Keyhold Tests, C = NL');
        expect(text).to.contain('DNS:client-1.example, IP Address:10.0.0.1, email:ops@example.com, URI:spiffe://example/client-1');
        expect(text).to.contain(`Signature Algorithm: ${opensslName}`);
        const csrKey = createPublicKey(openssl(['req', '-noout', '-pubkey', '-in', name]).output);
        expect(csrKey.equals(await publicKeyOf(signingKeys[spec]))).to.equal(true);
      });
    }

    it('refuses an unknown --san type, a bad IP and a subject without attributes (exit 2)', async () => {
      const keyId = signingKeys.ECC_NIST_P256;
      await expectFailure(['csr', '--key-id', keyId, '--subject', 'CN=x', '--san', 'ftp:x'], 2, /^Error: UsageError: --san 'ftp:x'/);
      await expectFailure(['csr', '--key-id', keyId, '--subject', 'CN=x', '--san', 'ip:10.0.0.300'], 2, /^Error: UsageError: --san .*not an IPv4 or IPv6/);
      await expectFailure(['csr', '--key-id', keyId, '--subject', 'just text'], 2, /^Error: UsageError: --subject/);
    });
  });

  describe('certificates: a two-level CA with KMS keys', () => {
    let rootKey: string;
    let interKey: string;
    let leafKey: string;

    before(async () => {
      [rootKey, interKey, leafKey] = [signingKeys.ECC_NIST_P384, signingKeys.RSA_2048, signingKeys.ECC_NIST_P256];
      await ok(['cert', 'self-signed', '--key-id', rootKey, '--subject', 'CN=Keyhold Test Root CA,O=Keyhold Tests', '--days', '3650', '--ca', '--path-length', '1', '--out', 'root.pem']);
      await ok(['csr', '--key-id', interKey, '--subject', 'CN=Keyhold Test Issuing CA,O=Keyhold Tests', '--out', 'inter.csr']);
      await ok(['cert', 'sign', '--ca-key-id', rootKey, '--ca-cert', 'root.pem', '--csr', 'inter.csr', '--days', '1825', '--ca', '--path-length', '0', '--out', 'inter.pem']);
      await ok(['csr', '--key-id', leafKey, '--subject', 'CN=leaf.example,O=Keyhold Tests', '--san', 'dns:leaf.example', '--san', 'ip:10.0.0.1', '--out', 'leaf.csr']);
      await ok(['cert', 'sign', '--ca-key-id', interKey, '--issuer-cert', 'inter.pem', '--csr', 'leaf.csr', '--days', '90', '--server', '--client', '--out', 'leaf.pem']);
    });

    it('openssl verify -CAfile root.pem -untrusted inter.pem leaf.pem exits 0', () => {
      const chain = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', 'leaf.pem']);
      expect(chain.status, chain.output).to.equal(0);
      expect(chain.output).to.contain('leaf.pem: OK');
      expect(openssl(['verify', '-CAfile', 'root.pem', 'inter.pem']).status).to.equal(0);
      expect(openssl(['verify', '-CAfile', 'root.pem', 'leaf.pem']).status, 'no chain without the intermediate').to.not.equal(0);
    });

    it('openssl x509 -text shows the CA flags, key usages, SANs, extended key usages and linked key identifiers', () => {
      const root = openssl(['x509', '-noout', '-text', '-in', 'root.pem']).output;
      expect(root).to.match(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
      expect(root).to.match(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
      expect(root).to.contain('Issuer: CN = Keyhold Test Root CA, O = Keyhold Tests');
      expect(root).to.contain('Signature Algorithm: ecdsa-with-SHA384');
      const inter = openssl(['x509', '-noout', '-text', '-in', 'inter.pem']).output;
      expect(inter).to.match(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      expect(inter).to.contain('Subject: CN = Keyhold Test Issuing CA, O = Keyhold Tests');
      const leaf = openssl(['x509', '-noout', '-text', '-in', 'leaf.pem']).output;
      expect(leaf).to.match(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(leaf).to.match(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(leaf).to.contain('DNS:leaf.example, IP Address:10.0.0.1');
      expect(leaf).to.contain('TLS Web Server Authentication, TLS Web Client Authentication');
      expect(leaf).to.contain('Signature Algorithm: sha256WithRSAEncryption');

      const keyId = (text: string, label: string) => text.match(new RegExp(`${label}:\\s*\\n\\s*(?:keyid:)?([0-9A-F:]+)`))?.[1];
      expect(keyId(leaf, 'X509v3 Authority Key Identifier')).to.be.a('string').and.equal(keyId(inter, 'X509v3 Subject Key Identifier'));
      expect(keyId(inter, 'X509v3 Authority Key Identifier')).to.be.a('string').and.equal(keyId(root, 'X509v3 Subject Key Identifier'));
    });

    it('gives random positive 16-byte serials and the asked validity', () => {
      const certificates = ['root.pem', 'inter.pem', 'leaf.pem'].map((name) => new X509Certificate(readFileSync(file(name))));
      for (const certificate of certificates) {
        expect(certificate.serialNumber).to.match(/^[0-7][0-9A-F]{31}$/);
      }
      expect(new Set(certificates.map((c) => c.serialNumber)).size).to.equal(3);
      const leaf = certificates[2]!;
      const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
      expect(days).to.be.within(89.9, 90.01);
      expect(Date.parse(leaf.validFrom)).to.be.below(Date.now());
      expect(leaf.checkIssued(certificates[1]!)).to.equal(true);
      expect(leaf.verify(certificates[1]!.publicKey)).to.equal(true);
    });

    it('self-signed without --ca for an RSA key: digitalSignature and keyEncipherment, the asked SANs, no CA', async () => {
      await ok(['cert', 'self-signed', '--key-id', signingKeys.RSA_3072, '--subject', 'CN=self.example', '--days', '30', '--san', 'dns:self.example', '--server', '--out', 'self.pem']);
      const text = openssl(['x509', '-noout', '-text', '-in', 'self.pem']).output;
      expect(text).to.match(/CA:FALSE/);
      expect(text).to.match(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
      expect(text).to.contain('DNS:self.example');
      expect(text).to.contain('X509v3 Subject Key Identifier');
      expect(openssl(['verify', '-CAfile', 'self.pem', '-purpose', 'sslserver', '-x509_strict', 'self.pem']).status, 'a self-signed leaf is its own anchor').to.equal(0);
    });

    it('a leaf signed by another key with the same issuer name fails openssl verify', async () => {
      const otherKey = await createKey('ECC_NIST_P256', 'SIGN_VERIFY');
      // An impostor "Issuing CA": same name as inter.pem, another key.
      await ok(['cert', 'self-signed', '--key-id', otherKey, '--subject', 'CN=Keyhold Test Issuing CA,O=Keyhold Tests', '--days', '30', '--ca', '--out', 'impostor.pem']);
      await ok(['cert', 'sign', '--ca-key-id', otherKey, '--issuer-cert', 'impostor.pem', '--csr', 'leaf.csr', '--days', '30', '--out', 'forged-leaf.pem']);
      const forged = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', 'forged-leaf.pem']);
      expect(forged.status, forged.output).to.not.equal(0);
      // openssl either finds inter.pem and the signature fails, or (the key identifiers differ) no issuer at all.
      expect(forged.output).to.match(/certificate signature failure|unable to get local issuer certificate/);
    });

    it('refuses a CA key that is not the key of the CA certificate, a non-CA certificate, a CA below a path length of 0, and no CA certificate (exit 2)', async () => {
      await expectFailure(['cert', 'sign', '--ca-key-id', leafKey, '--issuer-cert', 'inter.pem', '--csr', 'leaf.csr', '--days', '1'], 2, /^Error: UsageError: the public key of .* is not the public key of inter\.pem/);
      await expectFailure(['cert', 'sign', '--ca-key-id', leafKey, '--ca-cert', 'leaf.pem', '--csr', 'leaf.csr', '--days', '1'], 2, /^Error: UsageError: leaf\.pem is not a CA certificate/);
      await expectFailure(['cert', 'sign', '--ca-key-id', interKey, '--issuer-cert', 'inter.pem', '--csr', 'leaf.csr', '--days', '1', '--ca'], 2, /^Error: UsageError: inter\.pem has path length 0/);
      // The root allows one CA level (path length 1): a CA below it must allow none.
      await expectFailure(['cert', 'sign', '--ca-key-id', rootKey, '--ca-cert', 'root.pem', '--csr', 'leaf.csr', '--days', '1', '--ca', '--path-length', '1'], 2, /^Error: UsageError: root\.pem has path length 1: give --path-length 0 or less/);
      await expectFailure(['cert', 'self-signed', '--key-id', rootKey, '--subject', 'CN=x', '--days', '1', '--path-length', '2'], 2, /^Error: UsageError: --path-length needs --ca/);
      await expectFailure(['cert', 'sign', '--ca-key-id', interKey, '--csr', 'leaf.csr', '--days', '1'], 2, /^Error: UsageError: give the CA's certificate with --ca-cert/);
    });

    it('refuses a CSR whose signature is broken (openssl does not say "verify OK" for it either)', async () => {
      const pem = readFileSync(file('leaf.csr'), 'utf8');
      const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      der[der.length - 2]! ^= 0x01; // inside the ECDSA signature's s
      const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
      writeFileSync(file('broken.csr'), broken);
      expect(openssl(['req', '-verify', '-noout', '-in', 'broken.csr']).output).to.not.contain('verify OK');
      await expectFailure(['cert', 'sign', '--ca-key-id', interKey, '--issuer-cert', 'inter.pem', '--csr', 'broken.csr', '--days', '1'], 2, /^Error: UsageError: the signature of broken\.csr does not verify/);
    });
  });

  describe('help and loading', () => {
    it('shows an example in the help of every asymmetric command', async () => {
      for (const args of [['keys', 'create'], ['pubkey'], ['sign'], ['verify'], ['encrypt'], ['decrypt'], ['csr'], ['cert', 'self-signed'], ['cert', 'sign']]) {
        const help = await keyhold([...args, '--help']);
        expect(help.code, args.join(' ')).to.equal(0);
        expect(help.stdout.toString(), args.join(' ')).to.match(/Examples?:\n\s+\$ .*keyhold/);
      }
      expect((await keyhold(['sign', '--help'])).stdout.toString()).to.contain('longer than 4096 bytes is hashed locally');
    });

    it('loads @peculiar/x509 and reflect-metadata only when a certificate command runs', async () => {
      const modules = ['../../cli/commands/certs.ts', '../../cli/commands/asymmetric.ts', '../../cli/commands/keys.ts', '../../cli/commands/crypto.ts'];
      const script = `${modules.map((m) => `await import(${JSON.stringify(fileURLToPath(new URL(m, import.meta.url)))});`).join('')} console.log(typeof Reflect.getMetadata);`;
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(code, output).to.equal(0);
      expect(output.trim()).to.equal('undefined');
    });
  });
});
