import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { KeyholdConfig } from '../config.js';

/** How often node looks for connections past their header or request timeout (its default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * The HTTPS server of a serving process (the single process, or each cluster worker), with
 * the connection limits of the configuration: a client that sends its headers slowly is cut
 * off after KEYHOLD_HEADERS_TIMEOUT_MS, a whole request (at most 64 KiB of body) must arrive
 * within that plus KEYHOLD_REQUEST_TIMEOUT_MS, an idle keep-alive connection closes after
 * KEYHOLD_KEEPALIVE_TIMEOUT_MS, and past KEYHOLD_MAX_CONNECTIONS open connections node closes
 * each new one as it arrives.
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
  const server = https.createServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      headersTimeout: headersTimeoutMs,
      // node refuses a request timeout below the header timeout; the body comes after the headers.
      requestTimeout: headersTimeoutMs + config.requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, headersTimeoutMs),
    },
    handler,
  );
  server.maxConnections = maxConnections;
  return server;
}
