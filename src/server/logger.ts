import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths that must never reach a log line even if a future change passes them in: pino
 * replaces their values before serialising.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.Plaintext',
  '*.plaintext',
  '*.SecretKey',
  '*.secretKey',
  '*.passphrase',
  '*.pin',
  'Plaintext',
  'SecretKey',
  'passphrase',
  'pin',
];

/** The server's structured JSON logger (stdout unless a destination is given). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'keyhold' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
