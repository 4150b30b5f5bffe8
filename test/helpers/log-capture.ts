import type { ChildProcess } from 'node:child_process';
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

/** A child process's output so far, collected as it comes (and into capturedLog, shown when a test fails). */
export function collectOutput(child: ChildProcess): { stdout(): string; stderr(): string } {
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
    capturedLog.push(String(chunk));
  });
  child.stderr!.on('data', (chunk) => {
    err += chunk;
    capturedLog.push(String(chunk));
  });
  return { stdout: () => out, stderr: () => err };
}
