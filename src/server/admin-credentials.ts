import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ADMIN_CREDENTIALS_FILE = 'admin.credentials';

/**
 * Writes the admin credential file (DESIGN.md format) atomically with mode 0600: a temp
 * file in the same directory, then a rename, so no reader ever sees half a secret.
 */
export function writeAdminCredentials(
  dataDir: string,
  contents: { AccessKeyId: string; SecretKey: string; Url: string; CertSha256: string },
): string {
  const file = path.join(dataDir, ADMIN_CREDENTIALS_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(contents, null, 2) + '\n', { mode: 0o600 });
  renameSync(temporary, file);
  return file;
}
