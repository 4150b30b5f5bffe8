/**
 * The one error family of file envelope encryption (src/client/file-envelope.ts). Errors from
 * the injected key functions (the server's verdict on a wrapped data key) and from the streams
 * themselves pass through unchanged.
 */

export type FileEnvelopeErrorCode = 'ERR_KEYHOLD_FILE_FORMAT' | 'ERR_KEYHOLD_FILE_TAMPERED' | 'ERR_KEYHOLD_FILE_OUTPUT';

/**
 * `ERR_KEYHOLD_FILE_FORMAT`: the header cannot be read (not a Keyhold file, unknown version,
 * a length out of bounds, the file ends inside its header). `ERR_KEYHOLD_FILE_TAMPERED`: the
 * header was readable but the data does not authenticate: a flipped bit, a header or chunk
 * from another file, reordered chunks, truncation, bytes appended. `ERR_KEYHOLD_FILE_OUTPUT`:
 * the output path exists and is not a regular file (a symlink, device, named pipe, directory).
 *
 * Messages are fixed text about the layout; they never carry key bytes or plaintext, and
 * every authentication failure has the same message, whatever check failed.
 *
 * @example
 *   try { await decryptFileAtPath('a.khf', 'a', { decrypt }); }
 *   catch (error) { if (error instanceof FileEnvelopeError && error.code === 'ERR_KEYHOLD_FILE_TAMPERED') … }
 */
export class FileEnvelopeError extends Error {
  readonly code: FileEnvelopeErrorCode;

  constructor(code: FileEnvelopeErrorCode, message: string) {
    super(message);
    this.name = 'FileEnvelopeError';
    this.code = code;
  }
}

/** A header that cannot be read; `message` names the field, never its secret content. */
export function formatError(message: string): FileEnvelopeError {
  return new FileEnvelopeError('ERR_KEYHOLD_FILE_FORMAT', message);
}

/** Any authentication failure, with one message so that the error is no oracle. */
export function tamperedError(): FileEnvelopeError {
  return new FileEnvelopeError(
    'ERR_KEYHOLD_FILE_TAMPERED',
    'The encrypted file is damaged, truncated or was changed: it does not authenticate',
  );
}
