import { KeyholdApiError, KeyholdConnectionError } from '../src/client/index.js';

/** Exit codes of every keyhold command; `damaged`: `admin verify-store` found damage. */
export const EXIT = { ok: 0, failure: 1, usage: 2, connection: 3, damaged: 4 } as const;

/** Wrong or missing arguments, settings or files: exit 2. */
export class UsageError extends Error {}

/**
 * One line on stderr, `Error: <__type>: <message>`, and the exit code for the error's kind.
 * Never a stack trace, never a secret: messages come from typed errors only.
 */
export function describeError(error: unknown, verbose: boolean): { line: string; code: number } {
  if (error instanceof KeyholdApiError) {
    const requestId = verbose && error.requestId ? ` (request id ${error.requestId})` : '';
    return { line: `Error: ${error.type}: ${error.message}${requestId}`, code: EXIT.failure };
  }
  if (error instanceof KeyholdConnectionError) {
    return { line: `Error: ${error.code ?? 'ConnectionError'}: ${error.message}`, code: EXIT.connection };
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
