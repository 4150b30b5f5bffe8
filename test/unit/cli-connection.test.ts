import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { chooseSource, connectionFrom, WORKING_DIRECTORY_CREDENTIALS, type ConnectionFlags, type ConnectionSource } from '../../cli/connection.js';
import { UsageError } from '../../cli/errors.js';
import type { Profile } from '../../cli/profiles.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const SECRET = Buffer.alloc(32, 9).toString('base64');
const DEFAULT: Profile = { url: 'https://default.example:8443', accessKeyId: 'KHDEFAULT', secretKey: SECRET, certSha256: 'ab'.repeat(32) };
const STAGING: Profile = { url: 'https://staging.example:8443', accessKeyId: 'KHSTAGING', secretKey: SECRET };
const FULL_ENV = { KEYHOLD_URL: 'https://env.example:8443', KEYHOLD_ACCESS_KEY_ID: 'KHENV', KEYHOLD_SECRET_KEY: SECRET };

const exists = (file: string) => file === WORKING_DIRECTORY_CREDENTIALS;
const nothing = () => false;

describe('CLI connection sources (cli/connection.ts)', () => {
  describe('chooseSource', () => {
    const cases: Array<[string, ConnectionFlags, NodeJS.ProcessEnv, Record<string, Profile>, ConnectionSource]> = [
      ['takes --credentials over everything below it', { credentials: 'x.credentials' }, { ...FULL_ENV, KEYHOLD_PROFILE: 'staging' }, { default: DEFAULT }, { kind: 'credentials-file', file: 'x.credentials', fallback: false }],
      ['takes --profile over the environment', { profile: 'staging' }, FULL_ENV, { default: DEFAULT, staging: STAGING }, { kind: 'profile', name: 'staging' }],
      ['takes the environment for --url, whatever profile exists', { url: 'https://flag.example' }, {}, { default: DEFAULT }, { kind: 'environment' }],
      ['takes the environment for --ca-cert', { caCert: 'ca.pem' }, FULL_ENV, { default: DEFAULT }, { kind: 'environment' }],
      ['takes KEYHOLD_CREDENTIALS_FILE over the default profile', {}, { KEYHOLD_CREDENTIALS_FILE: 'y' }, { default: DEFAULT }, { kind: 'credentials-file', file: 'y', fallback: false }],
      ['takes KEYHOLD_PROFILE over the default profile', {}, { KEYHOLD_PROFILE: 'staging' }, { default: DEFAULT, staging: STAGING }, { kind: 'profile', name: 'staging' }],
      ['takes the environment when it is partial (connectionFrom refuses it)', {}, { KEYHOLD_URL: 'https://env.example' }, { default: DEFAULT }, { kind: 'environment' }],
      ['takes the default profile over the working-directory file', {}, {}, { default: DEFAULT }, { kind: 'profile', name: 'default' }],
      ['takes the working-directory file when nothing else is configured', {}, {}, {}, { kind: 'credentials-file', file: WORKING_DIRECTORY_CREDENTIALS, fallback: true }],
      ['counts empty variables as unset', {}, { KEYHOLD_URL: '', KEYHOLD_PROFILE: '' }, {}, { kind: 'credentials-file', file: WORKING_DIRECTORY_CREDENTIALS, fallback: true }],
    ];
    for (const [title, flags, env, profiles, expected] of cases) {
      it(title, () => expect(chooseSource(flags, env, profiles, exists)).to.deep.equal(expected));
    }

    it('never takes the working-directory file when any connection setting is given', () => {
      for (const env of [{ KEYHOLD_URL: 'https://env.example' }, { KEYHOLD_ACCESS_KEY_ID: 'KHENV' }, { KEYHOLD_SECRET_KEY: SECRET }]) {
        expect(chooseSource({}, env, {}, exists), Object.keys(env)[0]).to.deep.equal({ kind: 'environment' });
      }
      expect(chooseSource({ url: 'https://flag.example' }, {}, {}, exists)).to.deep.equal({ kind: 'environment' });
    });

    it('refuses two different sources named at one level, naming both', () => {
      const conflicts: Array<[ConnectionFlags, NodeJS.ProcessEnv, RegExp]> = [
        [{ credentials: 'x', profile: 'p' }, {}, /^--credentials and --profile name two different connections/],
        [{ profile: 'p', url: 'https://a.example' }, {}, /^--profile and --url /],
        [{ credentials: 'x', caCert: 'ca.pem' }, {}, /^--credentials and --ca-cert /],
        [{}, { KEYHOLD_PROFILE: 'p', KEYHOLD_ACCESS_KEY_ID: 'KHENV' }, /^KEYHOLD_PROFILE and KEYHOLD_ACCESS_KEY_ID /],
        [{}, { KEYHOLD_CREDENTIALS_FILE: 'x', KEYHOLD_URL: 'https://a.example' }, /^KEYHOLD_CREDENTIALS_FILE and KEYHOLD_URL /],
      ];
      for (const [flags, env, message] of conflicts) {
        expect(() => chooseSource(flags, env, {}, exists)).to.throw(UsageError, message);
      }
    });

    it('says how to configure a server when there is nothing at all', () => {
      expect(() => chooseSource({}, {}, {}, nothing)).to.throw(UsageError, /^no server configured: run `keyhold configure/);
    });
  });

  describe('connectionFrom', () => {
    it('takes the URL, the credential and the pin of a profile together', () => {
      expect(connectionFrom({ kind: 'profile', name: 'default' }, {}, FULL_ENV, { default: DEFAULT })).to.deep.equal({
        client: { url: DEFAULT.url, accessKeyId: DEFAULT.accessKeyId, secretKey: SECRET, certSha256: DEFAULT.certSha256 },
        notices: [],
        from: "the profile 'default'",
      });
    });

    it('takes nothing from a profile or file for the environment: no pin', () => {
      const { client, from } = connectionFrom({ kind: 'environment' }, {}, FULL_ENV, { default: { ...DEFAULT, url: FULL_ENV.KEYHOLD_URL } });
      expect(client).to.deep.equal({ url: FULL_ENV.KEYHOLD_URL, accessKeyId: 'KHENV', secretKey: SECRET });
      expect(from, 'where the URL came from, for the hints under an error').to.equal('KEYHOLD_URL');
      expect(connectionFrom({ kind: 'environment' }, { url: 'https://flag.example' }, FULL_ENV, {}).from).to.equal('--url');
    });

    it('refuses an environment that gives a URL or a credential without the other, naming what is missing', () => {
      const source: ConnectionSource = { kind: 'environment' };
      expect(() => connectionFrom(source, {}, { KEYHOLD_URL: 'https://a.example' }, {})).to.throw(UsageError, /lacks KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY: set all three/);
      expect(() => connectionFrom(source, {}, { KEYHOLD_ACCESS_KEY_ID: 'KHENV', KEYHOLD_SECRET_KEY: SECRET }, {})).to.throw(UsageError, /lacks KEYHOLD_URL \(or --url\): /);
      expect(() => connectionFrom(source, { url: 'https://flag.example' }, {}, {})).to.throw(UsageError, /lacks KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY/);
      expect(() => connectionFrom(source, { caCert: 'ca.pem' }, {}, {})).to.throw(UsageError, /lacks KEYHOLD_URL \(or --url\), KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY: /);
    });

    it('refuses a profile that does not exist', () => {
      expect(() => connectionFrom({ kind: 'profile', name: 'nope' }, {}, {}, {})).to.throw(UsageError, /^no profile 'nope'/);
    });

    it('says which file was used only when it is the working-directory fallback', () => {
      const dir = makeTempDir('keyhold-connection-');
      try {
        const file = path.join(dir.path, 'admin.credentials');
        writeFileSync(file, JSON.stringify({ AccessKeyId: 'KHFILE', SecretKey: SECRET, Url: 'https://file.example:8443', CertSha256: 'cd'.repeat(32) }));
        const chosen = connectionFrom({ kind: 'credentials-file', file, fallback: false }, {}, FULL_ENV, {});
        expect(chosen).to.deep.equal({
          client: { url: 'https://file.example:8443', accessKeyId: 'KHFILE', secretKey: SECRET, certSha256: 'cd'.repeat(32) },
          notices: [],
          from: `the credentials file ${file}`,
        });
        const fallback = connectionFrom({ kind: 'credentials-file', file, fallback: true }, {}, {}, {});
        expect(fallback.notices).to.deep.equal([`keyhold: using credentials from ${file}`]);
      } finally {
        dir.remove();
      }
    });

    it('drops every trust setting with --insecure, and warns', () => {
      const { client, notices } = connectionFrom({ kind: 'profile', name: 'default' }, { insecure: true }, {}, { default: DEFAULT });
      expect(client).to.deep.equal({ url: DEFAULT.url, accessKeyId: DEFAULT.accessKeyId, secretKey: SECRET, dangerouslyAcceptAnyCertificate: true });
      expect(notices).to.deep.equal(['keyhold: WARNING: --insecure accepts any server certificate; anyone on the network can read and change this traffic']);
    });
  });
});
