import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { UsageError } from '../../cli/errors.js';
import { readConfig, saveProfile, type Profile } from '../../cli/profiles.js';

const PROFILE: Profile = {
  url: 'https://kms.internal:8443',
  accessKeyId: 'KHTESTACCESSKEY',
  secretKey: Buffer.alloc(32, 7).toString('base64'),
  certSha256: 'ab'.repeat(32),
};

describe('CLI profiles (cli/profiles.ts)', () => {
  let directory: string;
  let file: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'keyhold-profiles-'));
    file = join(directory, 'keyhold', 'config.json');
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  function readError(config: unknown): Error {
    writeFileSync(join(directory, 'config.json'), JSON.stringify(config));
    try {
      readConfig(join(directory, 'config.json'));
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected readConfig to refuse the file');
  }

  it('reads no profiles when the file does not exist', () => {
    expect(readConfig(file)).to.deep.equal({ profiles: {} });
  });

  it('saves a profile 0600 and reads it back, keeping only the known fields', () => {
    saveProfile('default', { ...PROFILE, extra: 'dropped' } as Profile, file);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readConfig(file)).to.deep.equal({ profiles: { default: PROFILE } });
  });

  it('refuses a file that is not JSON, without quoting it', () => {
    writeFileSync(join(directory, 'config.json'), '{"secretKey": "c2VjcmV0"');
    expect(() => readConfig(join(directory, 'config.json'))).to.throw(UsageError, /is not valid JSON$/);
  });

  it('refuses a configuration without profiles, naming the field', () => {
    expect(readError({})).to.be.instanceOf(UsageError).with.property('message').that.match(/\(profiles\)$/);
    expect(readError([])).to.be.instanceOf(UsageError).with.property('message').that.match(/\(\)$/);
  });

  it('refuses a profile with a missing or invalid field, naming it and not its value', () => {
    const { secretKey: _secretKey, ...withoutSecret } = PROFILE;
    const cases: Array<[unknown, string]> = [
      [{ ...PROFILE, url: 'not a url' }, 'profiles.prod.url'],
      [withoutSecret, 'profiles.prod.secretKey'],
      [{ ...PROFILE, accessKeyId: '' }, 'profiles.prod.accessKeyId'],
      [{ ...PROFILE, certSha256: 'xyz' }, 'profiles.prod.certSha256'],
      [{ ...PROFILE, caCert: 42 }, 'profiles.prod.caCert'],
      ['a string', 'profiles.prod'],
    ];
    for (const [profile, path] of cases) {
      const error = readError({ profiles: { prod: profile } });
      expect(error).to.be.instanceOf(UsageError);
      expect(error.message).to.match(new RegExp(`\\(${path.replace(/\./g, '\\.')}\\)$`));
      expect(error.message).not.to.include(PROFILE.secretKey);
    }
  });

  it('refuses to save an invalid profile, and leaves the file as it was', () => {
    saveProfile('default', PROFILE, file);
    const before = readFileSync(file, 'utf8');
    expect(() => saveProfile('bad', { ...PROFILE, url: 'nope' }, file)).to.throw(UsageError, /\(url\)$/);
    expect(readFileSync(file, 'utf8')).to.equal(before);
  });
});
