import { KeyholdApiError, KeyholdConnectionError } from '../src/client/index.js';

/** Exit codes of every keyhold command; `damaged`: `admin verify-store` found damage. */
export const EXIT = { ok: 0, failure: 1, usage: 2, connection: 3, damaged: 4 } as const;

/** Wrong or missing arguments, settings or files: exit 2. */
export class UsageError extends Error {}

/** The call a command made, for the hints under its error: where it connected, and why there. */
export interface CallSetting {
  /** The command's name (`decrypt`, `decrypt-file`, …), when it ran through withClient. */
  command?: string;
  url?: string;
  /** Where the URL came from: `--url`, `KEYHOLD_URL`, `the profile 'default'`, a credentials file. */
  from?: string;
}

// One command runs per process: what it connected to is told to the error printer here.
let call: CallSetting = {};

/** Records the connection (cli/context.ts) and the command, for hintsFor. */
export function noteCall(setting: CallSetting): void {
  call = { ...call, ...setting };
}

/** The commands whose NotFoundException is about the key named inside a blob. */
const BLOB_COMMANDS = new Set(['decrypt', 'decrypt-file', 'reencrypt']);

const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * `hint:` lines for the common dead ends, saying what to check and naming the URL in use and
 * where it came from. Only facts the caller already has: never a secret, never server detail.
 */
export function hintsFor(error: unknown, setting: CallSetting = call): string[] {
  const at = setting.url ? `${setting.url}${setting.from ? ` (the URL from ${setting.from})` : ''}` : 'the server URL';
  if (error instanceof KeyholdConnectionError) {
    const code = error.code ?? '';
    if (code === 'ECONNREFUSED') {
      return [`hint: nothing answers at ${at}: is the Keyhold server running there? Start one with \`keyhold server\`, or name the right one with --url or --profile`];
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return [`hint: the host name in ${at} is not known here: check the URL`];
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
      return [`hint: no answer from ${at}: check the host and the port, and any firewall between`];
    }
    if (code === 'EPROTO') return [`hint: ${at} did not answer in TLS: is it a Keyhold server, and its HTTPS port?`];
    if (UNTRUSTED_CERTIFICATE.has(code)) {
      return [
        `hint: the certificate of ${at} is not one this client trusts.`,
        'hint: a server with its own self-signed certificate is trusted by its pin: `keyhold configure --import-credentials data/admin.credentials` (the file the server wrote), or `keyhold configure --cert-sha256 HEX`;',
        'hint: a certificate from your own CA: give the CA certificate with --ca-cert FILE (a profile keeps it: `keyhold configure --ca-cert FILE …`).',
      ];
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return [`hint: the certificate of ${at} is outside its validity dates: renew it, or check this machine's clock`];
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return [`hint: the certificate of ${at} does not name that host: connect by a name it was issued for`];
    if (code === 'CERT_PIN_MISMATCH') {
      return [
        `hint: ${at} presents another certificate than the pinned one: if the server's certificate was replaced, ` +
          'pin the new one (`keyhold configure --import-credentials` of the new admin.credentials, or --cert-sha256); if not, something else answers there',
      ];
    }
    return [];
  }
  if (!(error instanceof KeyholdApiError)) return [];
  switch (error.type) {
    case 'NotFoundException':
      if (setting.command === undefined || !BLOB_COMMANDS.has(setting.command)) return [];
      return [
        `hint: the ciphertext names a key that ${at} does not have: it may have been made by another Keyhold server ` +
          '(check --url or --profile), or its key was deleted',
      ];
    case 'RequestExpired':
      return ["hint: this machine's clock and the server's differ by more than the 5 minutes a signed request may be off: set the clocks right (NTP)"];
    case 'InvalidSignatureException':
      return [`hint: the secret key does not match the access key id: check the credential in ${credentialSource(setting.from)} (a replaced secret, or another server's credential)`];
    case 'UnrecognizedClientException':
      return [`hint: ${at} does not know this access key id: the credential may belong to another server, or was deleted or disabled`];
    default:
      return [];
  }
}

/**
 * One line on stderr, `Error: <__type>: <message>`, then for the common dead ends `hint:` lines
 * (hintsFor), and the exit code for the error's kind. Never a stack trace, never a secret:
 * messages come from typed errors only.
 */
export function describeError(error: unknown, verbose: boolean): { line: string; code: number } {
  if (error instanceof KeyholdApiError) {
    const requestId = verbose && error.requestId ? ` (request id ${error.requestId})` : '';
    return { line: withHints(`Error: ${error.type}: ${error.message}${requestId}`, error), code: EXIT.failure };
  }
  if (error instanceof KeyholdConnectionError) {
    return { line: withHints(`Error: ${error.code ?? 'ConnectionError'}: ${error.message}`, error), code: EXIT.connection };
  }
  // File format errors (src/client/file-envelope.ts, loaded only by the file commands).
  const fileCode = (error as { code?: unknown }).code;
  // An output path that is a symlink, device, fifo or directory is a bad argument, like EISDIR.
  if (fileCode === 'ERR_KEYHOLD_FILE_OUTPUT') return { line: `Error: ${fileCode}: ${(error as Error).message}`, code: EXIT.usage };
  // … and backup format errors (src/backup/format.ts, loaded only by the admin commands).
  if (typeof fileCode === 'string' && (fileCode.startsWith('ERR_KEYHOLD_FILE_') || fileCode.startsWith('ERR_KEYHOLD_BACKUP_'))) {
    return { line: `Error: ${fileCode}: ${(error as Error).message}`, code: EXIT.failure };
  }
  if (error instanceof UsageError) return { line: `Error: UsageError: ${error.message}`, code: EXIT.usage };
  const failure = error as NodeJS.ErrnoException;
  if (failure.code === 'ENOENT' || failure.code === 'EACCES' || failure.code === 'EISDIR') {
    // Node's message already begins with the code ("ENOENT: no such file …").
    return { line: `Error: ${failure.message}`, code: EXIT.usage };
  }
  return { line: `Error: ${failure.name ?? 'Error'}: ${failure.message}`, code: EXIT.failure };
}

/** Where the credential in use came from: with a URL from the environment, its two variables. */
function credentialSource(from: string | undefined): string {
  if (from === '--url' || from === 'KEYHOLD_URL') return 'KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY';
  return from ?? 'use';
}

function withHints(line: string, error: unknown): string {
  return [line, ...hintsFor(error)].join('\n');
}
