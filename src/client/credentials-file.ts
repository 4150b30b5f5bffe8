/**
 * Reading the admin.credentials file the server writes on first start:
 *
 * ```json
 * { "AccessKeyId": "KH…", "SecretKey": "<base64 of 32 bytes>",
 *   "Url": "https://127.0.0.1:8443", "CertSha256": "<hex SHA-256 of the server's DER certificate>" }
 * ```
 */
import { readFileSync } from 'node:fs';

export interface CredentialsFile {
  accessKeyId: string;
  /** Base64 of the 32-byte secret, as in the file. */
  secretKey: string;
  url: string;
  certSha256?: string;
}

/**
 * Reads and checks a credentials file. Error messages name the file and the field at fault,
 * never its content: the file holds a secret.
 *
 * @example
 *   const { url, accessKeyId } = readCredentialsFile('./data/admin.credentials');
 */
export function readCredentialsFile(path: string): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new Error(`Cannot read credentials file ${path}: ${code}`);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text around the fault, which may be the secret.
    throw new Error(`Credentials file ${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`Credentials file ${path} must hold a JSON object`);
  }
  const record = parsed as Record<string, unknown>;

  const field = (name: string, required: boolean): string | undefined => {
    const value = record[name];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || value.length === 0) {
      throw new Error(`Credentials file ${path}: ${name} is missing or not a string`);
    }
    return value;
  };

  const credentials: CredentialsFile = {
    accessKeyId: field('AccessKeyId', true)!,
    secretKey: field('SecretKey', true)!,
    url: field('Url', true)!,
  };
  const certSha256 = field('CertSha256', false);
  if (certSha256 !== undefined) credentials.certSha256 = certSha256;
  return credentials;
}
