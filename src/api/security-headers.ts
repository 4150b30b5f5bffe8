import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/** Header names and values in the order they are sent. */
export type HeaderPairs = readonly (readonly [name: string, value: string])[];

/**
 * The security headers of every response: exactly the ones helmet's defaults set
 * (Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, …),
 * computed once at start by running helmet's middleware against a recorder.
 *
 * helmet sets the same static values on every response; as 13 middlewares per request they
 * cost about 13 µs of CPU per request (bench/RESULTS.md, "#7 hot path").
 *
 * @example
 *   const headers = securityHeaders(); // [['Content-Security-Policy', "default-src 'self';…"], …]
 */
export function securityHeaders(): HeaderPairs {
  const recorded: [string, string][] = [];
  let finished = false;
  const recorder = {
    setHeader(name: string, value: unknown) {
      recorded.push([name, String(value)]);
    },
    // helmet removes X-Powered-By, which Keyhold never sets.
    removeHeader() {},
  };
  helmet()({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
    finished = true;
  });
  /* Postcondition: helmet ran to its end synchronously and set headers, so none depends on the request. */
  if (!finished || recorded.length === 0) throw new Error('helmet did not set its headers synchronously');
  return Object.freeze(recorded.map((pair) => Object.freeze(pair)));
}
