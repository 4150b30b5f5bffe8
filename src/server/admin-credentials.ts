import path from 'node:path';
import { writeFileDurably } from '../durable-file.js';

export const ADMIN_CREDENTIALS_FILE = 'admin.credentials';

/**
 * Writes the admin credential file (DESIGN.md format), mode 0600, durably and atomically:
 * it is whole on disk before the credential it names is committed to the store.
 */
export function writeAdminCredentials(
  dataDir: string,
  contents: { AccessKeyId: string; SecretKey: string; Url: string; CertSha256: string },
): string {
  const file = path.join(dataDir, ADMIN_CREDENTIALS_FILE);
  writeFileDurably(file, JSON.stringify(contents, null, 2) + '\n');
  return file;
}
