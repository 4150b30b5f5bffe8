import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY, npmPack, runCommand, tarballFile, tarballFiles } from '../helpers/packaging.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

interface PackageJson {
  name: string;
  version: string;
  dependencies?: object;
  optionalDependencies?: object;
  peerDependencies?: object;
  bundleDependencies?: object;
}

const CLIENT_PACKAGE = path.join(REPOSITORY, 'packages', 'client');

/**
 * The client alone: packages/client packed (its prepack and prepare steps build it from
 * src/client and src/protocol), installed into an application that has nothing else, and used
 * against a real server.
 */
describe('the client alone (@keyhold/client)', function () {
  this.timeout(300_000);

  let temp: { path: string; remove(): void };
  let tarball: string;

  before(async () => {
    temp = makeTempDir('keyhold-client-package-');
    const packed = path.join(temp.path, 'packed');
    mkdirSync(packed);
    tarball = await npmPack(CLIENT_PACKAGE, packed);
  });

  after(() => temp?.remove());

  it('depends on no other package', async () => {
    const manifest = JSON.parse(await tarballFile(tarball, 'package.json')) as PackageJson;
    expect(manifest.name).to.equal('@keyhold/client');
    expect(manifest).to.not.have.any.keys('dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies');
  });

  it('has the version of the keyhold package it is built with', async () => {
    const manifest = JSON.parse(await tarballFile(tarball, 'package.json')) as PackageJson;
    const keyhold = JSON.parse(readFileSync(path.join(REPOSITORY, 'package.json'), 'utf8')) as PackageJson;
    expect(manifest.version).to.equal(keyhold.version);
  });

  it('holds the compiled client and wire protocol only, with their type declarations', async () => {
    const files = await tarballFiles(tarball);
    expect(files).to.include.members(['package.json', 'README.md', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/protocol/signing.js']);
    expect(files.filter((file) => !['package.json', 'README.md'].includes(file) && !/^dist\/(client|protocol)\/[a-z0-9-]+\.(js|d\.ts)$/.test(file))).to.deep.equal([]);
  });

  describe('installed into an application with nothing else', () => {
    let app: string;
    let server: ServerProcess;
    let serverDir: string;

    before(async () => {
      app = path.join(temp.path, 'app');
      mkdirSync(app);
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      await runCommand('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app });
      serverDir = path.join(temp.path, 'server');
      mkdirSync(serverDir);
      server = await startServerProcess({}, serverDir);
    });

    after(async () => {
      await server?.stop();
    });

    it('brings no other package into node_modules', () => {
      expect(readdirSync(path.join(app, 'node_modules')).filter((name) => !name.startsWith('.'))).to.deep.equal(['@keyhold']);
      expect(readdirSync(path.join(app, 'node_modules', '@keyhold'))).to.deep.equal(['client']);
    });

    it('talks to a Keyhold server: a key, an encryption and its decryption, a file envelope', async () => {
      rememberSecret('only the client');
      rememberSecret('a file, sealed');
      writeFileSync(
        path.join(app, 'main.js'),
        `import { Readable, PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { KeyholdClient, encryptFile, decryptFile } from '@keyhold/client';
const kms = KeyholdClient.fromCredentialsFile(process.argv[2]);
const key = await kms.createKey({ description: 'client alone' });
const { ciphertextBlob } = await kms.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('only the client'), encryptionContext: { app: 'alone' } });
const { plaintext } = await kms.decrypt({ ciphertextBlob, encryptionContext: { app: 'alone' } });
const sealed = new PassThrough();
await encryptFile(Readable.from([Buffer.from('a file, sealed')]), sealed, {
  encryptionContext: { file: 'alone' },
  generateDataKey: (encryptionContext) => kms.generateDataKey({ keyId: key.KeyId, keySpec: 'AES_256', encryptionContext }),
});
const opened = new PassThrough();
const [, file] = await Promise.all([
  decryptFile(Readable.from([await buffer(sealed)]), opened, { decrypt: (blob, encryptionContext) => kms.decrypt({ ciphertextBlob: blob, encryptionContext }) }),
  buffer(opened),
]);
console.log(JSON.stringify({ health: await kms.health(), roundTrip: plaintext.toString(), file: file.toString() }));
kms.close();
`,
      );
      const { stdout } = await runCommand(process.execPath, ['main.js', path.join(serverDir, 'data', 'admin.credentials')], { cwd: app });
      expect(JSON.parse(stdout)).to.deep.equal({ health: { status: 'ok' }, roundTrip: 'only the client', file: 'a file, sealed' });
    });
  });
});
