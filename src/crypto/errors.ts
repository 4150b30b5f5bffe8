/**
 * The one failure of every decryption and unwrap in src/crypto. Wrong tag, wrong context,
 * wrong key, truncated or malformed input: the caller learns only that it failed, never which
 * check, so the API cannot be used as an oracle.
 *
 * @example
 *   try { decryptMessage(parsed, versionKey, context); }
 *   catch (error) { if (error instanceof DecryptionFailedError) throw new InvalidCiphertextException(...); }
 */
export class DecryptionFailedError extends Error {
  readonly code = 'ERR_KEYHOLD_DECRYPTION_FAILED';

  constructor() {
    // Fixed message and no `cause`: nothing secret-dependent may travel with this error.
    super('decryption failed');
    this.name = 'DecryptionFailedError';
  }
}
