import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { readCredentialsFile } from '../../src/client/index.js';
import { UsageError } from '../errors.js';
import { configPath, saveProfile, type Profile } from '../profiles.js';

export function configureCommand(): Command {
  return new Command('configure')
    .description(`save a connection profile in ${configPath().replace(process.env.HOME ?? '\u0000', '~')} (mode 0600)`)
    .option('--import-credentials <file>', 'take everything from an admin.credentials file')
    .option('--access-key-id <id>', 'access key id')
    .option('--secret-key-file <file>', 'file holding the base64 secret key (never pass secrets as arguments)')
    .option('--cert-sha256 <hex>', 'pin the server certificate (hex SHA-256 of its DER)')
    .addHelpText('before', 'Uses the global --profile (default: default), --url and --ca-cert options.\n')
    .addHelpText('after', '\nExamples:\n  $ keyhold configure --import-credentials data/admin.credentials\n  $ KEYHOLD_SECRET_KEY=… keyhold configure --profile prod --url https://kms.internal:8443 --access-key-id KH… --ca-cert ca.pem')
    .action((_options, command: Command) => {
      // --profile, --url and --ca-cert are the root command's options, wherever they are written.
      const options = command.optsWithGlobals();
      const profileName: string = options.profile ?? 'default';
      // An imported file's URL, credential and pin belong together: none of them is replaced.
      const mixed = (['url', 'accessKeyId', 'secretKeyFile', 'certSha256', 'caCert'] as const).find((name) => options[name] !== undefined);
      if (options.importCredentials && mixed) {
        throw new UsageError(`--import-credentials takes the URL, the credential and the pin from the file together: drop --${kebab(mixed)}`);
      }
      let profile: Partial<Profile> = {};
      if (options.importCredentials) {
        const file = readCredentialsFile(options.importCredentials);
        profile = { url: file.url, accessKeyId: file.accessKeyId, secretKey: file.secretKey, certSha256: file.certSha256 };
      }
      const secretKey = options.secretKeyFile ? readFileSync(options.secretKeyFile, 'utf8').trim() : process.env.KEYHOLD_SECRET_KEY;
      profile = {
        ...profile,
        ...(options.url ? { url: options.url } : {}),
        ...(options.accessKeyId ? { accessKeyId: options.accessKeyId } : {}),
        ...(secretKey && !options.importCredentials ? { secretKey } : {}),
        ...(options.certSha256 ? { certSha256: options.certSha256 } : {}),
        ...(options.caCert ? { caCert: path.resolve(options.caCert) } : {}),
      };
      if (!profile.url || !profile.accessKeyId || !profile.secretKey) {
        throw new UsageError('a profile needs a URL, an access key id and a secret key (or --import-credentials FILE)');
      }
      if (Buffer.from(profile.secretKey, 'base64').length !== 32) throw new UsageError('the secret key must be base64 of 32 bytes');
      saveProfile(profileName, profile as Profile);
      console.log(`saved profile '${profileName}' for ${profile.url} in ${configPath()}`);
    });
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
