import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/runtime/logger.js';

/**
 * Every log line written by the servers of the test run, kept so that a test can search
 * the whole captured log for secrets at the end.
 */
export const capturedLog: string[] = [];

export function captureLogger(level = 'debug'): Logger {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      capturedLog.push(String(chunk));
      done();
    },
  });
  return createLogger(level, sink);
}
