import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { KeyholdConfig } from '../config.js';

/** How often node looks for connections past their header or request timeout (its default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * The HTTPS server of a serving process (the single process, or each cluster worker), with
 * the connection limits of the configuration: a client that sends its headers slowly is cut
 * off after KEYHOLD_HEADERS_TIMEOUT_MS, a whole request (at most 64 KiB of body, 1 MiB for a
 * batch) must arrive within that plus KEYHOLD_REQUEST_TIMEOUT_MS, an idle keep-alive
 * connection closes after KEYHOLD_KEEPALIVE_TIMEOUT_MS, a connection on which nothing moves
 * either way for the header timeout plus the request timeout is destroyed (a client that stops
 * reading its answer), and past KEYHOLD_MAX_CONNECTIONS open connections node closes each new
 * one as it arrives.
 *
 * @example
 *   const server = createHttpsServer(tls, config, app);
 *   await listen(server, config);
 */
export function createHttpsServer(
  tls: { cert: string | Buffer; key: string | Buffer },
  config: Pick<KeyholdConfig, 'connections' | 'requestTimeoutMs'>,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): https.Server {
  const { headersTimeoutMs, keepAliveTimeoutMs, maxConnections } = config.connections;
  // A whole request's time, and the longest a served connection stays silent (25 s by default).
  const wholeRequestMs = headersTimeoutMs + config.requestTimeoutMs;
  const server = https.createServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      headersTimeout: headersTimeoutMs,
      // node refuses a request timeout below the header timeout; the body comes after the headers.
      requestTimeout: wholeRequestMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, headersTimeoutMs),
    },
    handler,
  );
  server.maxConnections = maxConnections;
  // Node's socket timeout: no byte read or written for this long destroys the connection. The
  // longest silence of a client that is served is shorter: its headers and body arrive within
  // the request timeout, and its answer comes within KEYHOLD_REQUEST_TIMEOUT_MS of its body. Without
  // it, an answer larger than the kernel's buffers that the client never reads would hold its
  // connection, and the answer's memory, for good: node only starts the keep-alive timer once
  // an answer has been written out. node counts a write when it is made and when the kernel
  // has taken all of it, so a client reading a multi-megabyte answer slower than about
  // 120 KB/s is cut off too (decision 116).
  server.timeout = wholeRequestMs;
  return server;
}
