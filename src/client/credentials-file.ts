/**
 * Reading the admin.credentials file the server writes on first start:
 *
 * ```json
 * { "AccessKeyId": "KH…", "SecretKey": "<base64 of 32 bytes>",
 *   "Url": "https://127.0.0.1:8443", "CertSha256": "<hex SHA-256 of the server's DER certificate>" }
 * ```
 */
import { readFileSync } from 'node:fs';
import { normalizeFingerprint } from './pinned-agent.js';

export interface CredentialsFile {
  accessKeyId: string;
  /** Base64 of the 32-byte secret, as in the file. */
  secretKey: string;
  url: string;
  certSha256?: string;
}

/**
 * Reads and checks a credentials file. Its URL, credential and pin belong together: a caller
 * uses them together or not at all, never the pin or URL with another credential (a file
 * planted where a credential from elsewhere would pick up its URL could collect that
 * credential's signed requests). Error messages name the file and the field at fault,
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
  /* Precondition: the file's Url is an https URL. */
  if (!URL.canParse(credentials.url) || new URL(credentials.url).protocol !== 'https:') {
    throw new Error(`Credentials file ${path}: Url is not an https URL`);
  }
  const certSha256 = field('CertSha256', false);
  /* Precondition: the file's CertSha256, when given, is a SHA-256 fingerprint. */
  if (certSha256 !== undefined && !isFingerprint(certSha256)) {
    throw new Error(`Credentials file ${path}: CertSha256 is not a hex SHA-256 fingerprint`);
  }
  if (certSha256 !== undefined) credentials.certSha256 = certSha256;
  return credentials;
}

function isFingerprint(value: string): boolean {
  try {
    normalizeFingerprint(value);
    return true;
  } catch {
    return false;
  }
}
