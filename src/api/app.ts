import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DEFAULT_AWS_IDENTITY, DEFAULT_REQUEST_TIMEOUT_MS } from '../config.js';
import { accessLog, type RequestFacts } from './access-log.js';
import { CONSOLE_PATH, consoleFiles } from './console-files.js';
import { actionRoute } from './action-route.js';
import type { AppOptions } from './app-options.js';
import { errorHandler, notFound } from './error-handler.js';
import { jsonAnswerWriter } from './json-answer.js';
import { openApiJson } from './openapi/document.js';
import { securityHeaders } from './security-headers.js';

export { MAX_BODY_BYTES } from './action-route.js';
export type { AppOptions } from './app-options.js';

/** What an HTTPS server calls for each request; supertest's `request()` takes it too. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The Keyhold HTTP application: one POST route per action under each prefix, every
 * request signed, every error a typed JSON answer; `GET /healthz`, `GET /readyz` and
 * `GET /openapi.json`; the web console's static files under `/console/`; 404 for anything else.
 * Every response carries an X-Request-Id and the same security headers.
 *
 * The request path: every request goes to the action route first (src/api/action-route.ts),
 * which answers the action requests on node's own request and response; only what it does not
 * take (the health checks, 404s) goes on to express. Express swaps the prototypes of every
 * request and response it handles, which alone cost about 25 µs of CPU per request here, a
 * third of what a whole encrypt now costs (bench/RESULTS.md, "#7 hot path").
 *
 * @example
 *   const server = createHttpsServer(tls, config, createApp(options));
 */
export function createApp(options: AppOptions): RequestListener {
  const security = securityHeaders();
  const logAccess = accessLog(options.logger);
  const routeAction = actionRoute({
    ...options,
    lookupCredential: options.lookupCredential ?? ((accessKeyId) => options.credentials.lookup(accessKeyId)),
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    clock: options.clock ?? (() => new Date()),
    aws: options.aws ?? DEFAULT_AWS_IDENTITY,
    answer: jsonAnswerWriter(security),
    logAccess,
    security,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const facts = res.locals as RequestFacts;
    facts.requestId = randomUUID();
    res.setHeader('X-Request-Id', facts.requestId);
    for (const [name, value] of security) res.setHeader(name, value);
    logAccess(req, res, facts);
    next();
  });

  // Both unauthenticated, for load balancers and orchestrators, and cheap (a boolean each, no
  // I/O), with nothing in the answer but ok or unavailable. /healthz: this process serves and
  // its store is reachable. /readyz: also every worker listening (a cluster being (re)started,
  // or a worker replaced, is alive but not ready); a server whose primary hung is neither.
  const probe = (ok: () => boolean) => (_req: Request, res: Response) => {
    if (ok()) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable' });
  };
  app.get('/healthz', probe(options.isHealthy));
  app.get('/readyz', probe(options.isReady ?? options.isHealthy));
  // The API's description is public, as the API's documentation is: unauthenticated, and it
  // names no key, credential or server version (docs/openapi.md).
  app.get('/openapi.json', (_req: Request, res: Response) => {
    res.type('application/json').send(openApiJson());
  });
  // The web console's static files; it calls the API like any other client (docs/console.md).
  app.use(CONSOLE_PATH, consoleFiles());

  app.use(notFound);
  app.use(errorHandler(options.logger, options.isHealthy));

  return (req, res) => {
    if (!routeAction(req, res)) app(req, res);
  };
}
