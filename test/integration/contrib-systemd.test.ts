import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPOSITORY } from '../helpers/packaging.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const UNIT = path.join(REPOSITORY, 'contrib', 'systemd', 'keyhold.service');
const INSTALLED_COMMAND = /^ExecStart=(\S+)/m;
/** The exposure systemd-analyze security reports for the unit: "OK" is up to 3.9; the unit scores 1.5. */
const MAX_EXPOSURE = 2.0;

/** Every `Key=value` of the unit (comments and section headers left out), in order. */
function directives(text: string): [string, string][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('['))
    .map((line) => {
      const equals = line.indexOf('=');
      return [line.slice(0, equals), line.slice(equals + 1)] as [string, string];
    });
}

function valuesOf(text: string, key: string): string[] {
  return directives(text).filter(([name]) => name === key).map(([, value]) => value);
}

/**
 * systemd-analyze verify checks that ExecStart's program exists; `keyhold` is not installed in
 * /usr/local/bin here, so it verifies a copy whose ExecStart names this node binary instead,
 * everything else unchanged.
 */
function verifiableCopy(directory: string): string {
  const text = readFileSync(UNIT, 'utf8');
  const copy = path.join(directory, 'keyhold.service');
  writeFileSync(copy, text.replace(INSTALLED_COMMAND, `ExecStart=${process.execPath}`));
  return copy;
}

describe('contrib/systemd/keyhold.service', function () {
  this.timeout(120_000);

  let temp: { path: string; remove(): void };
  let unit: string;

  before(() => {
    temp = makeTempDir('keyhold-systemd-');
    unit = readFileSync(UNIT, 'utf8');
  });

  after(() => temp?.remove());

  it('passes systemd-analyze verify without a warning', async () => {
    const copy = verifiableCopy(temp.path);
    expect(readFileSync(copy, 'utf8')).to.not.equal(unit);
    const { stdout, stderr } = await run('systemd-analyze', ['verify', copy]);
    expect(stdout + stderr).to.equal('');
  });

  it('scores as well hardened in systemd-analyze security', async () => {
    const copy = verifiableCopy(temp.path);
    const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', copy]);
    const exposure = /Overall exposure level for keyhold\.service: (\d+\.\d+)/.exec(stdout);
    expect(exposure, stdout).to.not.equal(null);
    expect(Number(exposure![1])).to.be.at.most(MAX_EXPOSURE);
  });

  it('runs keyhold server as a user of its own, never root, with no capabilities', () => {
    expect(valuesOf(unit, 'ExecStart')).to.deep.equal(['/usr/local/bin/keyhold server']);
    expect(valuesOf(unit, 'DynamicUser')).to.deep.equal(['yes']);
    expect(valuesOf(unit, 'User')).to.deep.equal([]);
    expect(valuesOf(unit, 'CapabilityBoundingSet')).to.deep.equal(['']);
    expect(valuesOf(unit, 'AmbientCapabilities')).to.deep.equal(['']);
  });

  it('is hardened: read-only system, no new privileges, private /tmp, its own state directory', () => {
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['NoNewPrivileges', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['StateDirectory', 'keyhold'],
      ['StateDirectoryMode', '0700'],
      ['UMask', '0077'],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ] as const) {
      expect(valuesOf(unit, key), key).to.deep.equal([value]);
    }
  });

  it('leaves MemoryDenyWriteExecute unset, since V8 writes the machine code it runs', () => {
    expect(valuesOf(unit, 'MemoryDenyWriteExecute')).to.deep.equal([]);
  });

  it('gives the passphrase as a credential, never in the environment', () => {
    expect(valuesOf(unit, 'LoadCredential')).to.deep.equal(['passphrase:/etc/keyhold/passphrase']);
    const environment = valuesOf(unit, 'Environment');
    expect(environment).to.include('KEYHOLD_PASSPHRASE_FILE=%d/passphrase');
    expect(environment.filter((setting) => /^KEYHOLD_(PASSPHRASE|PKCS11_PIN|GOKMS_AUTH_KEY)=/.test(setting))).to.deep.equal([]);
  });

  it('starts the server as the unit does: production mode, the passphrase read from the credentials directory', async () => {
    // What systemd makes before ExecStart: the state directory (%S/keyhold, 0700) and the
    // credentials directory (%d, 0500) holding the passphrase copied by LoadCredential (0400).
    const stateRoot = path.join(temp.path, 'var-lib');
    const credentials = path.join(temp.path, 'credentials');
    mkdirSync(path.join(stateRoot, 'keyhold'), { recursive: true, mode: 0o700 });
    mkdirSync(credentials);
    const [credentialName, credentialSource] = valuesOf(unit, 'LoadCredential')[0]!.split(':') as [string, string];
    expect(credentialSource).to.equal('/etc/keyhold/passphrase');
    const passphrase = 'a passphrase given to systemd only';
    rememberSecret(passphrase);
    writeFileSync(path.join(credentials, credentialName), `${passphrase}\n`, { mode: 0o400 });
    chmodSync(credentials, 0o500);
    const specifiers = (value: string) => value.replaceAll('%S', stateRoot).replaceAll('%d', credentials);
    const env = Object.fromEntries(
      valuesOf(unit, 'Environment').map((setting) => {
        const equals = setting.indexOf('=');
        return [setting.slice(0, equals), specifiers(setting.slice(equals + 1))];
      }),
    );
    expect(env).to.include({ NODE_ENV: 'production', KEYHOLD_DATA_DIR: path.join(stateRoot, 'keyhold') });

    const server = await startServerProcess(env, specifiers(valuesOf(unit, 'WorkingDirectory')[0]!));
    try {
      expect(server.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(existsSync(path.join(stateRoot, 'keyhold', 'admin.credentials'))).to.equal(true);
      expect(existsSync(path.join(stateRoot, 'keyhold', 'dev-passphrase'))).to.equal(false);
      expect(server.stdout()).to.not.include('DEVELOPMENT MODE');
    } finally {
      expect(await server.stop()).to.equal(0);
    }
  });
});
