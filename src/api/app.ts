import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { CredentialLookup } from '../auth/verify-signature.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../config.js';
import type { AuditSink } from '../audit/audit-trail.js';
import type { CompiledPolicy } from '../auth/policy.js';
import type { ReplayGuard } from '../auth/replay-guard.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { KeyService } from '../kms/key-service.js';
import type { SnapshotSource } from '../store/snapshots.js';
import { DEFAULT_AWS_IDENTITY, type AwsIdentity } from '../kms/arn.js';
import { accessLog, type RequestFacts } from './access-log.js';
import { actionRoute } from './action-route.js';
import { errorHandler, notFound } from './error-handler.js';
import { jsonAnswerWriter } from './json-answer.js';
import { securityHeaders } from './security-headers.js';

export { MAX_BODY_BYTES } from './action-route.js';

export interface AppOptions {
  keyService: KeyService;
  credentials: CredentialService;
  /** Where each action request's audit record is written (before it is answered). */
  audit: AuditSink;
  /** Where state-changing requests' signatures are claimed, once. */
  replay: ReplayGuard;
  /** KEYHOLD_GOKMS_POLICY_FILE's policy for the go-kms legacy principal (admin when unset). */
  goKmsPolicy?: CompiledPolicy;
  /** Default: the credentials' own lookup. */
  lookupCredential?: (accessKeyId: string) => CredentialLookup | undefined;
  logger: Logger;
  /** Bytes of KEYHOLD_GOKMS_AUTH_KEY; enables go-kms's legacy signature scheme. */
  goKmsAuthKey?: Buffer;
  /** Whether the service can answer: false while sealed, when the store is down or the primary process hung. */
  isHealthy: () => boolean;
  /** KEYHOLD_REQUEST_TIMEOUT_MS: past it an action answers 503. */
  requestTimeoutMs?: number;
  clock?: () => Date;
  /** The store's snapshots: enables BackupStore (admin credentials only). */
  backupSource?: SnapshotSource;
  /** KEYHOLD_AWS_REGION and KEYHOLD_AWS_ACCOUNT_ID (default us-east-1, 111122223333). */
  aws?: AwsIdentity;
}

type Handle = (req: IncomingMessage, res: ServerResponse, next?: NextFunction) => void;

/**
 * The Keyhold HTTP application: one POST route per action under each prefix, every
 * request signed, every error a typed JSON answer; `GET /healthz` and `GET /readyz`; 404 for anything else.
 * Every response carries an X-Request-Id and the same security headers.
 *
 * Action requests are answered before express sees them (src/api/action-route.ts): express
 * swaps the prototypes of every request and response it handles, which alone cost about 25 µs
 * of CPU per request here, a third of what a whole encrypt now costs (bench/RESULTS.md,
 * "#7 hot path"). Express serves the rest.
 */
export function createApp(options: AppOptions): express.Express {
  const security = securityHeaders();
  const logAccess = accessLog(options.logger);
  const routeAction = actionRoute({
    keyService: options.keyService,
    credentials: options.credentials,
    audit: options.audit,
    replay: options.replay,
    goKmsPolicy: options.goKmsPolicy,
    lookupCredential: options.lookupCredential ?? ((accessKeyId) => options.credentials.lookup(accessKeyId)),
    logger: options.logger,
    goKmsAuthKey: options.goKmsAuthKey,
    isHealthy: options.isHealthy,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    clock: options.clock ?? (() => new Date()),
    answer: jsonAnswerWriter(security),
    logAccess,
    backupSource: options.backupSource,
    security,
    aws: options.aws ?? DEFAULT_AWS_IDENTITY,
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

  // Both unauthenticated, for load balancers and orchestrators. They answer the same today:
  // a server that cannot reach its store, or whose primary process hung, is neither.
  const health = (_req: Request, res: Response) => {
    if (options.isHealthy()) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable' });
  };
  app.get('/healthz', health);
  app.get('/readyz', health);

  app.use(notFound);
  app.use(errorHandler(options.logger, options.isHealthy));

  // express calls `app.handle` for every request it is given (as a server's listener or
  // through supertest): action requests go to their own route first.
  const expressApp = app as unknown as { handle: Handle };
  const handleWithExpress = expressApp.handle;
  expressApp.handle = function handle(this: unknown, req, res, next) {
    if (!routeAction(req, res)) handleWithExpress.call(this, req, res, next);
  };
  return app;
}
