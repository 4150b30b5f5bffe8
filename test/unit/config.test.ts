import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../src/config.js';
import { StartupError } from '../../src/errors.js';
import { DEFAULT_KEY_CACHE_SIZE } from '../../src/kms/key-registry.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** Runs loadConfig and returns the StartupError it throws (failing the test if it does not). */
function startupErrorOf(env: NodeJS.ProcessEnv): StartupError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return error as StartupError;
  }
  expect.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let existingFile: string;

  beforeEach(() => {
    dir = makeTempDir();
    existingFile = path.join(dir.path, 'passphrase');
    writeFileSync(existingFile, 'a passphrase from a file\n');
  });
  afterEach(() => dir.remove());

  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({});

    expect(config.host).to.equal('127.0.0.1');
    expect(config.port).to.equal(8443);
    expect(config.dataDir).to.equal(path.resolve('./data'));
    expect(path.isAbsolute(config.dataDir)).to.equal(true);
    expect(config.tls).to.equal(undefined);
    expect(config.master).to.equal('passphrase');
    expect(config.passphrase).to.equal(undefined);
    expect(config.kdf).to.equal('pbkdf2');
    expect(config.pkcs11.keyLabel).to.equal('keyhold-master');
    expect(config.goKmsAuthKey).to.equal(undefined);
    expect(config.keyCacheSize).to.equal(DEFAULT_KEY_CACHE_SIZE);
    expect(config.ciphertextFormat).to.equal(2);
    expect(config.logLevel).to.equal('info');
    expect(config.logFormat, 'JSON lines unless asked').to.equal('json');
    expect(config.production).to.equal(false);
    expect(config.connections).to.deep.equal({ headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 });
  });

  it('reads every variable it is given', () => {
    const config = loadConfig({
      KEYHOLD_HOST: '0.0.0.0',
      KEYHOLD_PORT: '9000',
      KEYHOLD_DATA_DIR: dir.path,
      KEYHOLD_TLS_CERT: existingFile,
      KEYHOLD_TLS_KEY: existingFile,
      KEYHOLD_MASTER: 'pkcs11',
      KEYHOLD_PASSPHRASE_FILE: existingFile,
      KEYHOLD_KDF: 'argon2id',
      KEYHOLD_PKCS11_SLOT: '3',
      KEYHOLD_PKCS11_KEY_LABEL: 'other-label',
      KEYHOLD_GOKMS_AUTH_KEY: 'sixteen chars ok',
      KEYHOLD_KEY_CACHE_SIZE: '250000',
      KEYHOLD_CIPHERTEXT_FORMAT: '1',
      KEYHOLD_LOG_LEVEL: 'debug',
      KEYHOLD_LOG_FORMAT: 'pretty',
      KEYHOLD_HEADERS_TIMEOUT_MS: '2000',
      KEYHOLD_KEEPALIVE_TIMEOUT_MS: '3000',
      KEYHOLD_MAX_CONNECTIONS: '50',
    });

    expect(config.host).to.equal('0.0.0.0');
    expect(config.port).to.equal(9000);
    expect(config.dataDir).to.equal(dir.path);
    expect(config.tls).to.deep.equal({ certFile: existingFile, keyFile: existingFile });
    expect(config.master).to.equal('pkcs11');
    expect(config.passphrase).to.deep.equal({ file: existingFile });
    expect(config.kdf).to.equal('argon2id');
    expect(config.pkcs11.slot).to.equal(3);
    expect(config.pkcs11.keyLabel).to.equal('other-label');
    expect(config.goKmsAuthKey).to.equal('sixteen chars ok');
    expect(config.keyCacheSize).to.equal(250_000);
    expect(config.ciphertextFormat).to.equal(1);
    expect(config.logLevel).to.equal('debug');
    expect(config.logFormat).to.equal('pretty');
    expect(config.connections).to.deep.equal({ headersTimeoutMs: 2000, keepAliveTimeoutMs: 3000, maxConnections: 50 });
  });

  it('keeps an inline passphrase as a value, not a file', () => {
    expect(loadConfig({ KEYHOLD_PASSPHRASE: 'inline passphrase' }).passphrase).to.deep.equal({ value: 'inline passphrase' });
  });

  it('sets production when NODE_ENV is production, and only then', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).production).to.equal(true);
    expect(loadConfig({ NODE_ENV: 'development' }).production).to.equal(false);
    expect(loadConfig({ NODE_ENV: 'test' }).production).to.equal(false);
  });

  it('treats an empty string as unset', () => {
    const config = loadConfig({
      KEYHOLD_HOST: '',
      KEYHOLD_PORT: '',
      KEYHOLD_DATA_DIR: '',
      KEYHOLD_TLS_CERT: '',
      KEYHOLD_MASTER: '',
      KEYHOLD_PASSPHRASE: '',
      KEYHOLD_KDF: '',
      KEYHOLD_GOKMS_AUTH_KEY: '',
      KEYHOLD_LOG_LEVEL: '',
      NODE_ENV: '',
    });

    expect(config.host).to.equal('127.0.0.1');
    expect(config.port).to.equal(8443);
    expect(config.dataDir).to.equal(path.resolve('./data'));
    expect(config.tls).to.equal(undefined);
    expect(config.master).to.equal('passphrase');
    expect(config.passphrase).to.equal(undefined);
    expect(config.kdf).to.equal('pbkdf2');
    expect(config.goKmsAuthKey).to.equal(undefined);
    expect(config.logLevel).to.equal('info');
    expect(config.production).to.equal(false);
    expect(config.connections).to.deep.equal({ headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 });
  });

  it('does not count an empty KEYHOLD_PASSPHRASE as set beside KEYHOLD_PASSPHRASE_FILE', () => {
    const config = loadConfig({ KEYHOLD_PASSPHRASE: '', KEYHOLD_PASSPHRASE_FILE: existingFile });
    expect(config.passphrase).to.deep.equal({ file: existingFile });
  });

  it('ignores variables that are not its own', () => {
    expect(() => loadConfig({ PATH: '/bin', KEYHOLD_UNKNOWN: 'x' })).not.to.throw();
  });

  describe('refuses invalid configuration with a StartupError that starts with the variable name', () => {
    const missingFile = () => path.join(dir.path, 'no-such-file');
    const cases: Array<{ title: string; variable: string; env: () => NodeJS.ProcessEnv }> = [
      { title: 'a port that is not a number', variable: 'KEYHOLD_PORT', env: () => ({ KEYHOLD_PORT: 'abc' }) },
      { title: 'a port above 65535', variable: 'KEYHOLD_PORT', env: () => ({ KEYHOLD_PORT: '70000' }) },
      { title: 'a port that is not an integer', variable: 'KEYHOLD_PORT', env: () => ({ KEYHOLD_PORT: '84.5' }) },
      { title: 'a port of blanks (not silently port 0)', variable: 'KEYHOLD_PORT', env: () => ({ KEYHOLD_PORT: ' ' }) },
      { title: 'a port in hex', variable: 'KEYHOLD_PORT', env: () => ({ KEYHOLD_PORT: '0x1F' }) },
      { title: 'a slot of blanks', variable: 'KEYHOLD_PKCS11_SLOT', env: () => ({ KEYHOLD_PKCS11_SLOT: '\t' }) },
      { title: 'both a token label and a slot', variable: 'KEYHOLD_PKCS11_TOKEN_LABEL', env: () => ({ KEYHOLD_PKCS11_TOKEN_LABEL: 't', KEYHOLD_PKCS11_SLOT: '1' }) },
      { title: 'an unknown master key kind', variable: 'KEYHOLD_MASTER', env: () => ({ KEYHOLD_MASTER: 'hsm' }) },
      { title: 'an unknown KDF', variable: 'KEYHOLD_KDF', env: () => ({ KEYHOLD_KDF: 'scrypt' }) },
      { title: 'an unknown log level', variable: 'KEYHOLD_LOG_LEVEL', env: () => ({ KEYHOLD_LOG_LEVEL: 'loud' }) },
      { title: 'an unknown log format', variable: 'KEYHOLD_LOG_FORMAT', env: () => ({ KEYHOLD_LOG_FORMAT: 'colourful' }) },
      { title: 'a key cache of no entries', variable: 'KEYHOLD_KEY_CACHE_SIZE', env: () => ({ KEYHOLD_KEY_CACHE_SIZE: '0' }) },
      { title: 'a header timeout below 100 ms', variable: 'KEYHOLD_HEADERS_TIMEOUT_MS', env: () => ({ KEYHOLD_HEADERS_TIMEOUT_MS: '99' }) },
      { title: 'a header timeout that is not a number', variable: 'KEYHOLD_HEADERS_TIMEOUT_MS', env: () => ({ KEYHOLD_HEADERS_TIMEOUT_MS: '10s' }) },
      { title: 'a keep-alive timeout above 600000 ms', variable: 'KEYHOLD_KEEPALIVE_TIMEOUT_MS', env: () => ({ KEYHOLD_KEEPALIVE_TIMEOUT_MS: '600001' }) },
      { title: 'a connection cap of 0', variable: 'KEYHOLD_MAX_CONNECTIONS', env: () => ({ KEYHOLD_MAX_CONNECTIONS: '0' }) },
      { title: 'a key cache size that is not a number', variable: 'KEYHOLD_KEY_CACHE_SIZE', env: () => ({ KEYHOLD_KEY_CACHE_SIZE: '10k' }) },
      { title: 'a ciphertext format that does not exist', variable: 'KEYHOLD_CIPHERTEXT_FORMAT', env: () => ({ KEYHOLD_CIPHERTEXT_FORMAT: '3' }) },
      {
        title: 'a TLS certificate without a TLS key',
        variable: 'KEYHOLD_TLS_KEY',
        env: () => ({ KEYHOLD_TLS_CERT: existingFile }),
      },
      {
        title: 'a TLS key without a TLS certificate',
        variable: 'KEYHOLD_TLS_CERT',
        env: () => ({ KEYHOLD_TLS_KEY: existingFile }),
      },
      {
        title: 'a TLS certificate file that does not exist',
        variable: 'KEYHOLD_TLS_CERT',
        env: () => ({ KEYHOLD_TLS_CERT: missingFile(), KEYHOLD_TLS_KEY: existingFile }),
      },
      {
        title: 'a passphrase file that does not exist',
        variable: 'KEYHOLD_PASSPHRASE_FILE',
        env: () => ({ KEYHOLD_PASSPHRASE_FILE: missingFile() }),
      },
      {
        title: 'both a passphrase and a passphrase file',
        variable: 'KEYHOLD_PASSPHRASE',
        env: () => ({ KEYHOLD_PASSPHRASE: 'inline passphrase', KEYHOLD_PASSPHRASE_FILE: existingFile }),
      },
      {
        title: 'both a PKCS#11 PIN and a PIN file',
        variable: 'KEYHOLD_PKCS11_PIN',
        env: () => ({ KEYHOLD_PKCS11_PIN: '1234', KEYHOLD_PKCS11_PIN_FILE: existingFile }),
      },
      {
        title: 'a go-kms auth key shorter than 16 characters',
        variable: 'KEYHOLD_GOKMS_AUTH_KEY',
        env: () => ({ KEYHOLD_GOKMS_AUTH_KEY: 'fifteen chars!!' }),
      },
    ];

    for (const { title, variable, env } of cases) {
      it(`${variable}: ${title}`, () => {
        const error = startupErrorOf(env());
        expect(error.message.startsWith(`${variable}: `), error.message).to.equal(true);
        expect(error.variable).to.equal(variable);
        expect(error.message).not.to.include('\n');
      });
    }
  });

  it('names a missing passphrase file in its message, so the operator can find it', () => {
    const missing = path.join(dir.path, 'no-such-file');
    expect(startupErrorOf({ KEYHOLD_PASSPHRASE_FILE: missing }).message).to.include(missing);
  });

  it('says the go-kms auth key must be at least 16 characters', () => {
    expect(startupErrorOf({ KEYHOLD_GOKMS_AUTH_KEY: 'short' }).message).to.include('at least 16 characters');
  });

  it('never repeats an inline passphrase in its error', () => {
    const error = startupErrorOf({ KEYHOLD_PASSPHRASE: 'do not print me', KEYHOLD_PASSPHRASE_FILE: existingFile });
    expect(error.message).not.to.include('do not print me');
  });

  describe('KEYHOLD_METRICS_ADDR', () => {
    it('is off unless set', () => {
      expect(loadConfig({}).metrics).to.equal(undefined);
      expect(loadConfig({ KEYHOLD_METRICS_ADDR: '' }).metrics).to.equal(undefined);
    });

    for (const [value, host, port] of [
      ['127.0.0.1:9464', '127.0.0.1', 9464],
      ['0.0.0.0:0', '0.0.0.0', 0],
      ['metrics.internal:9100', 'metrics.internal', 9100],
      ['[::1]:9464', '::1', 9464],
      ['[fd00::5]:65535', 'fd00::5', 65535],
    ] as const) {
      it(`takes ${value} as host ${host}, port ${port}`, () => {
        expect(loadConfig({ KEYHOLD_METRICS_ADDR: value }).metrics).to.deep.equal({ host, port });
      });
    }

    for (const value of ['9464', 'localhost', ':9464', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:123456', 'http://127.0.0.1:9464', '127.0.0.1:9464/metrics', '::1:9464', '[::1:9464', ' 127.0.0.1:9464', 'host name:1']) {
      it(`refuses ${JSON.stringify(value)} naming the variable and the form it takes`, () => {
        const error = startupErrorOf({ KEYHOLD_METRICS_ADDR: value });
        expect(error.message).to.contain('KEYHOLD_METRICS_ADDR');
        expect(error.message).to.contain('host:port');
      });
    }
  });
});
