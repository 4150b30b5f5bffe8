import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  NATIVE_MODULES,
  cleanEnv,
  copyRepository,
  listeningEntry,
  npmPack,
  runCommand,
  startProgram,
  tarballFiles,
  type StartedProgram,
} from '../helpers/packaging.js';
import { rememberSecret } from '../helpers/secrets.js';
import { TEST_WORKERS } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { testStoreEnv } from '../helpers/test-store.js';

/**
 * The package as a user gets it: `npm pack` of the sources (the package's own prepack and
 * prepare steps build dist/), `npm install -g` of the tarball into a prefix of its own, then
 * the installed `keyhold` command and the installed server.
 */
describe('the npm package, packed and installed globally', function () {
  // The install compiles argon2 and pkcs11js: about a minute on two shared cores.
  this.timeout(600_000);

  let temp: { path: string; remove(): void };
  let tarball: string;
  let prefix: string;

  before(async () => {
    temp = makeTempDir('keyhold-package-');
    const source = path.join(temp.path, 'source');
    copyRepository(source);
    const packed = path.join(temp.path, 'packed');
    mkdirSync(packed);
    tarball = await npmPack(source, packed);
    prefix = path.join(temp.path, 'prefix');
    await runCommand(
      'npm',
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `--allow-scripts=${NATIVE_MODULES.join(',')}`, tarball],
      { cwd: temp.path },
    );
  });

  after(() => temp?.remove());

  it('holds the built server, CLI and client, and neither the sources nor the tests', async () => {
    const files = await tarballFiles(tarball);
    expect(files).to.include.members([
      'package.json',
      'bin/keyhold.js',
      'dist/cli/keyhold.js',
      'dist/src/server/main.js',
      'dist/src/client/index.js',
      'dist/src/client/index.d.ts',
    ]);
    expect(files.filter((file) => /^(src|cli|test|bench|dist\/test|dist\/bench)\//.test(file) || file.endsWith('.map') || file.endsWith('.ts') && !file.endsWith('.d.ts'))).to.deep.equal([]);
  });

  it('gives a keyhold command that runs', async () => {
    const { stdout } = await runCommand(path.join(prefix, 'bin', 'keyhold'), ['--help'], { cwd: temp.path });
    expect(stdout).to.match(/^Usage: keyhold /m);
    expect(stdout).to.include('server');
  });

  describe('the installed server', () => {
    let server: StartedProgram;
    let dataDir: string;

    before(async () => {
      dataDir = path.join(temp.path, 'data');
      server = startProgram(path.join(prefix, 'bin', 'keyhold'), ['server'], {
        cwd: temp.path,
        env: cleanEnv({ KEYHOLD_PORT: '0', KEYHOLD_DATA_DIR: dataDir, KEYHOLD_WORKERS: TEST_WORKERS, ...testStoreEnv(dataDir) }),
      });
      await listeningEntry(server);
    });

    after(async () => {
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    });

    it('answers /healthz and a round trip through the installed package\'s client export', async () => {
      // A script beside the installed package resolves `keyhold` and `keyhold/client` through its
      // `exports`, as an application that depends on the package would.
      rememberSecret('from the tarball');
      const probe = path.join(prefix, 'lib', 'probe.mjs');
      writeFileSync(
        probe,
        `import { KeyholdClient } from 'keyhold/client';
import * as root from 'keyhold';
const kms = KeyholdClient.fromCredentialsFile(process.argv[2]);
const health = await kms.health();
const key = await kms.createKey({ description: 'installed package' });
const { ciphertextBlob } = await kms.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('from the tarball') });
const { plaintext } = await kms.decrypt({ ciphertextBlob });
kms.close();
console.log(JSON.stringify({ health, sameClient: root.KeyholdClient === KeyholdClient, roundTrip: plaintext.toString() }));
`,
      );
      const { stdout } = await runCommand(process.execPath, [probe, path.join(dataDir, 'admin.credentials')], { cwd: temp.path });
      expect(JSON.parse(stdout)).to.deep.equal({ health: { status: 'ok' }, sameClient: true, roundTrip: 'from the tarball' });
    });

    it('stops cleanly on SIGTERM', async () => {
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    });
  });

  it('declares the version it installs', () => {
    const installed = JSON.parse(readFileSync(path.join(prefix, 'lib', 'node_modules', 'keyhold', 'package.json'), 'utf8')) as { version: string };
    const source = JSON.parse(readFileSync(path.join(temp.path, 'source', 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).to.equal(source.version);
  });
});
