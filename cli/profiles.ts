import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../src/durable-file.js';
import { UsageError } from './errors.js';

/** One saved connection: where the server is, which credential to sign with, what to trust. */
const profileSchema = z.object({
  url: z.string().url(),
  accessKeyId: z.string().min(1),
  secretKey: z.string().min(1),
  certSha256: z.string().regex(/^[0-9a-fA-F:]{64,95}$/).optional(),
  caCert: z.string().min(1).optional(),
});
const configSchema = z.object({ profiles: z.record(z.string(), profileSchema) });

export type Profile = z.infer<typeof profileSchema>;
export type CliConfig = z.infer<typeof configSchema>;

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
  const result = configSchema.safeParse(parsed);
  if (!result.success) throw new UsageError(`${file} is not a Keyhold configuration (${result.error.issues[0]!.path.join('.')})`);
  return result.data;
}

/** Saves a profile; the file holds secrets, so it is written 0600 (directory 0700) via a rename. */
export function saveProfile(name: string, profile: Profile, file = configPath()): void {
  const config = readConfig(file);
  config.profiles[name] = profileSchema.parse(profile);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileDurably(file, JSON.stringify(config, null, 2) + '\n');
}
