import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileDurably } from '../src/durable-file.js';
import { UsageError } from './errors.js';

/** One saved connection: where the server is, which credential to sign with, what to trust. */
export interface Profile {
  url: string;
  accessKeyId: string;
  secretKey: string;
  certSha256?: string;
  caCert?: string;
}

export interface CliConfig {
  profiles: Record<string, Profile>;
}

// The profile schema as a table of checks rather than zod: zod adds about 14 MB of RSS and
// 3 MB of heap to every start of the CLI, and encrypt-file / decrypt-file must stay under
// 100 MB. Each field: whether it is required, and what a valid value is.
const nonEmpty = (value: string) => value.length > 0;
const PROFILE_FIELDS: Record<keyof Profile, { required: boolean; valid: (value: string) => boolean }> = {
  url: { required: true, valid: (value) => URL.canParse(value) },
  accessKeyId: { required: true, valid: nonEmpty },
  secretKey: { required: true, valid: nonEmpty },
  certSha256: { required: false, valid: (value) => /^[0-9a-fA-F:]{64,95}$/.test(value) },
  caCert: { required: false, valid: nonEmpty },
};

/** `$XDG_CONFIG_HOME/keyhold/config.json`, by default `~/.config/keyhold/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'keyhold', 'config.json');
}

export function readConfig(file = configPath()): CliConfig {
  if (!existsSync(file)) return { profiles: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // JSON.parse's message could quote the file, which holds secrets: say only where.
    throw new UsageError(`${file} is not valid JSON`);
  }
  const invalid = invalidConfigPath(parsed);
  if (invalid !== undefined) throw new UsageError(`${file} is not a Keyhold configuration (${invalid})`);
  const profiles = Object.entries((parsed as CliConfig).profiles).map(([name, profile]) => [name, pickProfileFields(profile)]);
  return { profiles: Object.fromEntries(profiles) };
}

/** Saves a profile; the file holds secrets, so it is written 0600 (directory 0700) via a rename. */
export function saveProfile(name: string, profile: Profile, file = configPath()): void {
  const config = readConfig(file);
  const invalid = invalidProfilePath(profile);
  if (invalid !== undefined) throw new UsageError(`the profile is not valid (${invalid})`);
  config.profiles[name] = pickProfileFields(profile);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileDurably(file, JSON.stringify(config, null, 2) + '\n');
}

/** Where `value` is not a configuration, as a path like `profiles.default.url`; undefined if it is one. */
function invalidConfigPath(value: unknown): string | undefined {
  if (!isObject(value)) return '';
  if (!isObject(value.profiles)) return 'profiles';
  for (const [name, profile] of Object.entries(value.profiles)) {
    const invalid = invalidProfilePath(profile);
    if (invalid !== undefined) return ['profiles', name, invalid].filter(Boolean).join('.');
  }
  return undefined;
}

/** The first field of `value` that is missing or invalid ('' when it is no object at all). */
function invalidProfilePath(value: unknown): string | undefined {
  if (!isObject(value)) return '';
  for (const [field, { required, valid }] of Object.entries(PROFILE_FIELDS)) {
    const fieldValue = value[field];
    if (fieldValue === undefined && !required) continue;
    if (typeof fieldValue !== 'string' || !valid(fieldValue)) return field;
  }
  return undefined;
}

/** Only the known fields, in the table's order: unknown keys are not saved. */
function pickProfileFields(profile: Profile): Profile {
  const picked: Record<string, string> = {};
  for (const field of Object.keys(PROFILE_FIELDS) as (keyof Profile)[]) {
    if (profile[field] !== undefined) picked[field] = profile[field];
  }
  return picked as unknown as Profile;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
