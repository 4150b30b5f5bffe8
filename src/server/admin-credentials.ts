import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../durable-file.js';
import { StartupError } from '../errors.js';
import type { CredentialService } from '../kms/credential-service.js';
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

/** The data directory, made if missing; failing that, one line naming the setting and the cause. */
export function makeDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const cause = code === 'EACCES' ? 'permission denied' : message;
    throw new StartupError(`cannot use the data directory ${dataDir}: ${cause}`, 'KEYHOLD_DATA_DIR');
  }
}

/**
 * The first start's admin credential. The file is written (exclusively, never over an existing
 * one) before the credential is committed, so a start interrupted in between leaves a file
 * that names a credential the store lacks: the next start commits that very credential
 * instead of making another. Any other existing file stops the start: it is never overwritten.
 */
export async function createFirstAdminCredential(
  credentials: CredentialService,
  dataDir: string,
  where: { Url: string; CertSha256: string },
  warn: (message: string, fields: Record<string, unknown>) => void,
): Promise<{ accessKeyId: string }> {
  const file = path.join(dataDir, ADMIN_CREDENTIALS_FILE);
  const options = { admin: true, description: 'admin (first start)', principal: 'system' };
  if (existsSync(file)) {
    const existing = readAdminCredentials(dataDir);
    if (!existing) {
      throw new StartupError(`${file} exists, but the store has no credential and the file names none Keyhold can use; it is never overwritten: move it away to have a new admin credential made`, 'KEYHOLD_DATA_DIR');
    }
    warn('the first start was interrupted after writing the admin credential file: committing the credential it names', { file, accessKeyId: existing.accessKeyId });
    return credentials.add({ ...options, existing });
  }
  return credentials.add(options, new Date(), (created) => {
    const written = writeAdminCredentials(dataDir, { AccessKeyId: created.accessKeyId, SecretKey: created.secretKey.toString('base64'), ...where });
    if (!written) throw new StartupError(`${file} appeared while the admin credential was being made; it is never overwritten`, 'KEYHOLD_DATA_DIR');
  });
}
