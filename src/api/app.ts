import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import { verifyRequestSignature, type CredentialLookup } from '../auth/verify-signature.js';
import { UnknownOperationException, ValidationException } from '../errors.js';
import type { KeyService } from '../kms/key-service.js';
import { actions } from './actions/index.js';
import { errorHandler, notFound } from './error-handler.js';
import { normalizeFields, parseRequest } from './fields.js';

/** Request bodies above this answer 413 RequestEntityTooLarge. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The canonical prefix, and go-kms's, answered by the same handlers. */
const PREFIXES = [
  { path: '/api/v1/kms', dialect: 'kms' },
  { path: '/api/v1/go-kms', dialect: 'go-kms' },
] as const;

export interface AppOptions {
  keyService: KeyService;
  lookupCredential: (accessKeyId: string) => CredentialLookup | undefined;
  logger: Logger;
  /** Bytes of KEYHOLD_GOKMS_AUTH_KEY; enables go-kms's legacy signature scheme. */
  goKmsAuthKey?: Buffer;
  /** Whether the service can answer: false while sealed or when the store is down. */
  isHealthy: () => boolean;
  clock?: () => Date;
}

interface Locals {
  requestId: string;
  principal?: Principal;
  action?: string;
  errorType?: string;
}

/**
 * The Keyhold HTTP application: one POST route per action under each prefix, every
 * request signed, every error a typed JSON answer.
 */
export function createApp(options: AppOptions): express.Express {
  const clock = options.clock ?? (() => new Date());
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((_req, res, next) => {
    const requestId = randomUUID();
    (res.locals as Locals).requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    next();
  });
  app.use(helmet());
  app.use(accessLog(options.logger));

  app.get('/healthz', (_req, res) => {
    if (options.isHealthy()) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable' });
  });

  // The raw body is kept: the signature covers its exact bytes, so JSON is parsed after.
  const rawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  // go-kms's legacy signatures (which cover neither body nor query) are accepted on the
  // go-kms prefix only, and only when KEYHOLD_GOKMS_AUTH_KEY is set.
  const authenticate = (dialect: 'kms' | 'go-kms') => (req: Request, res: Response, next: NextFunction) => {
    (res.locals as Locals).principal = verifyRequestSignature(
      { method: req.method, pathWithQuery: req.originalUrl, headers: req.headers, body: bodyOf(req) },
      {
        lookupCredential: options.lookupCredential,
        now: clock(),
        goKmsAuthKey: dialect === 'go-kms' ? options.goKmsAuthKey : undefined,
      },
    );
    next();
  };

  for (const prefix of PREFIXES) {
    app.post(`${prefix.path}/:action`, rawBody, authenticate(prefix.dialect), async (req: Request, res: Response) => {
      const locals = res.locals as Locals;
      const name = String(req.params.action).toLowerCase();
      const action = actions.get(name);
      if (!action) throw new UnknownOperationException(`No such action: ${name.slice(0, 64)}`);
      locals.action = action.name;
      const input = parseRequest(action.schema, normalizeFields(parseJson(bodyOf(req))));
      const result = await action.handle(input, {
        keyService: options.keyService,
        principal: locals.principal!,
        dialect: prefix.dialect,
      });
      res.json(result);
    });
  }

  app.use(notFound);
  app.use(errorHandler(options.logger, options.isHealthy));
  return app;
}

function bodyOf(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function parseJson(body: Buffer): unknown {
  // An empty body is an empty request: listkeys and createkey need no fields.
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ValidationException('The request body is not valid JSON');
  }
}

/** One structured line per request: never a body, a header value or a secret. */
function accessLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const locals = res.locals as Locals;
      logger.info(
        {
          requestId: locals.requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
          action: locals.action,
          accessKeyId: locals.principal?.accessKeyId,
          errorType: locals.errorType,
        },
        'request',
      );
    });
    next();
  };
}
