import { statSync } from 'node:fs';
import type { KeyholdConfig } from '../config.js';
import { StartupError } from '../errors.js';

/** A configured file that holds a secret, and the variable that names it. */
export interface SecretFile {
  variable: 'KEYHOLD_PASSPHRASE_FILE' | 'KEYHOLD_PKCS11_PIN_FILE' | 'KEYHOLD_TLS_KEY';
  file: string;
}

/** Permission bits for the group and others: none of them may be set on a secret file. */
const GROUP_OR_OTHER_BITS = 0o077;

/** The secret files the configuration names: the passphrase file, the PIN file and the TLS key. */
export function secretFilesOf(config: KeyholdConfig): SecretFile[] {
  const files: SecretFile[] = [];
  if (config.passphrase && 'file' in config.passphrase) files.push({ variable: 'KEYHOLD_PASSPHRASE_FILE', file: config.passphrase.file });
  if (config.pkcs11.pin && 'file' in config.pkcs11.pin) files.push({ variable: 'KEYHOLD_PKCS11_PIN_FILE', file: config.pkcs11.pin.file });
  if (config.tls) files.push({ variable: 'KEYHOLD_TLS_KEY', file: config.tls.keyFile });
  return files;
}

/**
 * Checks that no secret file is open to its group or to others (the mode of the file a
 * symbolic link points to counts). With NODE_ENV=production such a file stops the start;
 * otherwise each one gets a warning naming the file and its mode, never its content.
 *
 * @throws StartupError in production, for the first file with group or other permissions
 *
 * @example
 *   checkSecretFileModes(config, (message, fields) => logger.warn(fields, message));
 */
export function checkSecretFileModes(config: KeyholdConfig, warn: (message: string, fields: Record<string, string>) => void): void {
  for (const { variable, file } of secretFilesOf(config)) {
    const permissions = statSync(file).mode & 0o777;
    if ((permissions & GROUP_OR_OTHER_BITS) === 0) continue;
    const mode = permissions.toString(8).padStart(4, '0');
    /* Precondition: in production, secret files are open to their owner only. */
    if (config.production) {
      throw new StartupError(`${file} holds a secret but has mode ${mode}, open to group or others: chmod 600 ${file}`, variable);
    }
    warn(`${variable}: ${file} holds a secret but has mode ${mode}, open to group or others; chmod 600 it (with NODE_ENV=production this stops the start)`, {
      file,
      mode,
      variable,
    });
  }
}
