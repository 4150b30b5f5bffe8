import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../durable-file.js';
import { ADMIN_CREDENTIALS_FILE } from '../store/store-open.js';

export { ADMIN_CREDENTIALS_FILE };

export interface AdminCredentialsFile {
  AccessKeyId: string;
  SecretKey: string;
  Url: string;
  CertSha256: string;
}

/**
 * Writes the admin credential file, mode 0600, durably and only if there is none: it is
 * whole on disk before the credential it names is committed to the store, and it is never
 * overwritten. Returns false (writing nothing) when the file exists.
 */
export function writeAdminCredentials(dataDir: string, contents: AdminCredentialsFile): boolean {
  return writeFileDurably(path.join(dataDir, ADMIN_CREDENTIALS_FILE), JSON.stringify(contents, null, 2) + '\n', { exclusive: true });
}

/**
 * The credential an admin credential file names, when it is well formed (an access key id and
 * a 32-byte secret); undefined otherwise. Used only for the file a first start wrote just
 * before it was interrupted (see startServer).
 */
export function readAdminCredentials(dataDir: string): { accessKeyId: string; secretKey: Buffer } | undefined {
  try {
    const contents = JSON.parse(readFileSync(path.join(dataDir, ADMIN_CREDENTIALS_FILE), 'utf8')) as Partial<AdminCredentialsFile>;
    const secretKey = Buffer.from(String(contents.SecretKey), 'base64');
    if (typeof contents.AccessKeyId !== 'string' || !/^KH[A-Z2-7]{18}$/.test(contents.AccessKeyId)) return undefined;
    if (secretKey.length !== 32 || secretKey.toString('base64') !== contents.SecretKey) return undefined;
    return { accessKeyId: contents.AccessKeyId, secretKey };
  } catch {
    return undefined;
  }
}
