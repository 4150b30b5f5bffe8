/**
 * Where a client command connects, and with what. One source gives the URL, the credential and
 * the certificate trust together; parts of two sources are never combined. A URL or pin from
 * one place used with a credential from another lets whoever controls the first place (a file
 * planted in a working directory, a stale variable) receive the other's signed requests.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readCredentialsFile, type KeyholdClientOptions } from '../src/client/index.js';
import { UsageError } from './errors.js';
import type { Profile } from './profiles.js';

/** The credential file `npm start` writes: used only when nothing else is configured. */
export const WORKING_DIRECTORY_CREDENTIALS = 'data/admin.credentials';

/**
 * `environment`: --url or KEYHOLD_URL, KEYHOLD_ACCESS_KEY_ID, KEYHOLD_SECRET_KEY, and --ca-cert.
 * `credentials-file`: --credentials, KEYHOLD_CREDENTIALS_FILE, or (`fallback`) ./data/admin.credentials.
 */
export type ConnectionSource =
  | { kind: 'environment' }
  | { kind: 'profile'; name: string }
  | { kind: 'credentials-file'; file: string; fallback: boolean };

/** The connection settings of the root command (cli/context.ts GlobalOptions). */
export interface ConnectionFlags {
  url?: string;
  profile?: string;
  credentials?: string;
  caCert?: string;
  insecure?: boolean;
}

export interface Connection {
  client: KeyholdClientOptions;
  /** Lines for stderr: which file was used when it was the fallback, the --insecure warning. */
  notices: string[];
  /** Where the URL in use was found (`--url`, `KEYHOLD_URL`, `the profile 'default'`, a file), for hints. */
  from: string;
}

interface Named {
  source: ConnectionSource;
  /** The flag or variable that named it, for messages. */
  by: string;
}

const ENVIRONMENT_VARIABLES = ['KEYHOLD_URL', 'KEYHOLD_ACCESS_KEY_ID', 'KEYHOLD_SECRET_KEY'] as const;
const INSECURE_WARNING = 'keyhold: WARNING: --insecure accepts any server certificate; anyone on the network can read and change this traffic';

/**
 * The one source to connect with: the one the flags name, else the one the environment names,
 * else the `default` profile, else ./data/admin.credentials. Two different sources named at
 * the same level are a usage error, so that no setting is silently dropped there.
 *
 * @example
 *   chooseSource({ profile: 'staging' }, process.env, readConfig().profiles, existsSync) // { kind: 'profile', name: 'staging' }
 */
export function chooseSource(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  profiles: Readonly<Record<string, Profile>>,
  exists: (file: string) => boolean,
): ConnectionSource {
  const named = onlyOne(namedByFlags(flags)) ?? onlyOne(namedByEnvironment(env));
  if (named) return named.source;
  if (profiles.default) return { kind: 'profile', name: 'default' };
  // Last, and only when nothing at all is configured: a file in whatever directory this runs in.
  if (exists(WORKING_DIRECTORY_CREDENTIALS)) return { kind: 'credentials-file', file: WORKING_DIRECTORY_CREDENTIALS, fallback: true };
  throw new UsageError(
    'no server configured: run `keyhold configure --import-credentials data/admin.credentials`, ' +
      'or set KEYHOLD_URL, KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY',
  );
}

/**
 * The client options of `source`, every part from it alone. `--insecure` may join any source:
 * it adds no trust, it removes it, and says so.
 */
export function connectionFrom(
  source: ConnectionSource,
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  profiles: Readonly<Record<string, Profile>>,
): Connection {
  const { client, notices, from } = sourceSettings(source, flags, env, profiles);
  if (!flags.insecure) return { client, notices, from };
  const { certSha256: _pin, ca: _ca, ...untrusted } = client;
  return { client: { ...untrusted, dangerouslyAcceptAnyCertificate: true }, notices: [...notices, INSECURE_WARNING], from };
}

/** chooseSource, then connectionFrom, with ./data/admin.credentials looked up in the working directory. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv, profiles: Readonly<Record<string, Profile>>): Connection {
  return connectionFrom(chooseSource(flags, env, profiles, existsSync), flags, env, profiles);
}

function namedByFlags(flags: ConnectionFlags): Named[] {
  const named: Named[] = [];
  if (flags.credentials !== undefined) named.push({ source: { kind: 'credentials-file', file: flags.credentials, fallback: false }, by: '--credentials' });
  if (flags.profile !== undefined) named.push({ source: { kind: 'profile', name: flags.profile }, by: '--profile' });
  if (flags.url !== undefined) named.push({ source: { kind: 'environment' }, by: '--url' });
  if (flags.caCert !== undefined) named.push({ source: { kind: 'environment' }, by: '--ca-cert' });
  return named;
}

function namedByEnvironment(env: NodeJS.ProcessEnv): Named[] {
  const named: Named[] = [];
  const file = setting(env.KEYHOLD_CREDENTIALS_FILE);
  const profile = setting(env.KEYHOLD_PROFILE);
  if (file !== undefined) named.push({ source: { kind: 'credentials-file', file, fallback: false }, by: 'KEYHOLD_CREDENTIALS_FILE' });
  if (profile !== undefined) named.push({ source: { kind: 'profile', name: profile }, by: 'KEYHOLD_PROFILE' });
  for (const variable of ENVIRONMENT_VARIABLES) {
    if (setting(env[variable]) !== undefined) named.push({ source: { kind: 'environment' }, by: variable });
  }
  return named;
}

/** The source named, if any; a usage error when two different ones are. */
function onlyOne(named: Named[]): Named | undefined {
  const first = named[0];
  const other = named.find((candidate) => candidate.source.kind !== first?.source.kind);
  /* Precondition: one level names at most one source. */
  if (first && other) {
    throw new UsageError(
      `${first.by} and ${other.by} name two different connections: use one of them ` +
        '(the URL, the credential and the certificate trust are taken from one place, never mixed)',
    );
  }
  return first;
}

function sourceSettings(
  source: ConnectionSource,
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  profiles: Readonly<Record<string, Profile>>,
): Connection {
  switch (source.kind) {
    case 'environment':
      return { client: fromEnvironment(flags, env), notices: [], from: flags.url !== undefined ? '--url' : 'KEYHOLD_URL' };
    case 'profile':
      return { client: fromProfile(source.name, profiles), notices: [], from: `the profile '${source.name}'` };
    case 'credentials-file':
      return {
        client: fromCredentialsFile(source.file),
        notices: source.fallback ? [`keyhold: using credentials from ${path.resolve(source.file)}`] : [],
        from: `the credentials file ${path.resolve(source.file)}`,
      };
  }
}

function fromEnvironment(flags: ConnectionFlags, env: NodeJS.ProcessEnv): KeyholdClientOptions {
  const url = flags.url ?? setting(env.KEYHOLD_URL);
  const accessKeyId = setting(env.KEYHOLD_ACCESS_KEY_ID);
  const secretKey = setting(env.KEYHOLD_SECRET_KEY);
  /* Precondition: the environment gives the URL and the credential together. */
  if (!url || !accessKeyId || !secretKey) {
    const missing = [url ? '' : 'KEYHOLD_URL (or --url)', accessKeyId ? '' : 'KEYHOLD_ACCESS_KEY_ID', secretKey ? '' : 'KEYHOLD_SECRET_KEY'].filter(Boolean);
    throw new UsageError(
      `the connection from the environment lacks ${missing.slice(0, -1).join(', ')}${missing.length > 1 ? ' and ' : ''}${missing.at(-1)}: set all three, ` +
        'or unset them to use a profile (a URL and a credential are never taken from different places)',
    );
  }
  const client: KeyholdClientOptions = { url, accessKeyId, secretKey };
  if (flags.caCert !== undefined) client.ca = readFileSync(flags.caCert);
  return client;
}

function fromProfile(name: string, profiles: Readonly<Record<string, Profile>>): KeyholdClientOptions {
  const profile = profiles[name];
  if (!profile) throw new UsageError(`no profile '${name}' (keyhold configure --profile ${name} makes one)`);
  const client: KeyholdClientOptions = { url: profile.url, accessKeyId: profile.accessKeyId, secretKey: profile.secretKey };
  // A profile's CA file takes precedence over its pin, as `keyhold configure` documents.
  if (profile.caCert !== undefined) client.ca = readFileSync(profile.caCert);
  else if (profile.certSha256 !== undefined) client.certSha256 = profile.certSha256;
  return client;
}

function fromCredentialsFile(file: string): KeyholdClientOptions {
  try {
    const credentials = readCredentialsFile(file);
    const client: KeyholdClientOptions = { url: credentials.url, accessKeyId: credentials.accessKeyId, secretKey: credentials.secretKey };
    if (credentials.certSha256 !== undefined) client.certSha256 = credentials.certSha256;
    return client;
  } catch (error) {
    // readCredentialsFile's messages name the file and the field, never the content.
    throw new UsageError((error as Error).message);
  }
}

/** An empty variable counts as unset, as `KEYHOLD_URL= keyhold …` means in a shell. */
function setting(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
