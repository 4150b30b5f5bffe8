import { pino, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

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

/** `json`: one JSON object per line, for log collectors (the default); `pretty`: for people. */
export type LogFormat = 'json' | 'pretty';

/**
 * The server's logger, to stdout unless a destination is given. In `pretty` form the lines
 * pino has already serialised, and so redacted, are rewritten for reading by pino-pretty in
 * the same process and synchronously: no worker thread, and no line lost at exit.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const output =
    format === 'pretty'
      ? pinoPretty({
          destination: destination ?? 1,
          sync: true,
          // Colours only on a terminal: a file or a journal gets plain text.
          colorize: destination === undefined && process.stdout.isTTY === true,
          translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o',
          ignore: 'pid,hostname,service',
        })
      : destination;
  return pino(
    {
      level,
      base: { service: 'keyhold' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    output,
  );
}

/** The paths that name a top-level key: in a line without nested objects, nothing else can match. */
const TOP_LEVEL_REDACTED_PATHS = REDACTED_PATHS.filter((path) => !path.includes('.'));

/** One log line whose values are all strings, numbers, booleans, null or undefined. */
export type FlatLine = Record<string, string | number | boolean | null | undefined>;

/**
 * `logger.info(line, message)` for lines written on every request (the access log), with the
 * same output. The redaction paths with a dot or a wildcard reach into nested objects, so they
 * cannot match a flat line; pino still walks each of them for every line, about 5 µs per line
 * of the 6 µs a line takes (bench/RESULTS.md, "#7 hot path"). A flat line therefore goes
 * through a child logger that applies only the top-level paths; a line that does hold an
 * object (which the type forbids, but JavaScript allows) goes through `logger`, every path.
 *
 * @example
 *   const logLine = flatInfoLogger(logger);
 *   logLine({ requestId, status: 200 }, 'request');
 */
export function flatInfoLogger(logger: Logger): (line: FlatLine, message: string) => void {
  const flat = logger.child({}, { redact: { paths: TOP_LEVEL_REDACTED_PATHS, censor: '[redacted]' } });
  return (line, message) => {
    // A child keeps the level it was made with; follow the parent's if it has changed since.
    if (flat.level !== logger.level) flat.level = logger.level;
    let nested = false;
    for (const key in line) {
      if (typeof line[key] === 'object' && line[key] !== null) nested = true;
    }
    (nested ? logger : flat).info(line, message);
  };
}
