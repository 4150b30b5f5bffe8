import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { KMSInternalException, KmsError, ServiceUnavailableException, ValidationException } from '../errors.js';
import type { RequestFacts } from './access-log.js';

/** The JSON body of every error answer. */
export interface ErrorAnswer {
  __type: string;
  message: string;
}

/**
 * Maps every error to HTTP, in one place: `{"__type": ..., "message": ...}` with the
 * status of the error table (docs/api.md, Errors). Anything that is not a KmsError is logged (by type and
 * stack, never with request data) and answered as KMSInternalException without details.
 * Records the error type in the request's facts for its access log line.
 *
 * @example
 *   const kmsError = errorAnswerFor(error, facts, logger, isHealthy);
 *   answer(res, kmsError.status, facts.requestId, JSON.stringify(errorBody(kmsError)));
 */
export function errorAnswerFor(error: unknown, facts: RequestFacts, logger: Logger, isHealthy: () => boolean): KmsError {
  // An unexpected error while the store is down is the store being down: 503, not 500.
  const kmsError =
    !(error instanceof KmsError) && !isHealthy()
      ? new ServiceUnavailableException('The key store is not available')
      : toKmsError(error);
  if (kmsError.status === 500) {
    logger.error({ requestId: facts.requestId, err: error }, 'internal error');
  }
  facts.errorType = kmsError.type;
  return kmsError;
}

export function errorBody(error: KmsError): ErrorAnswer {
  return { __type: error.type, message: error.message };
}

/** The same mapping as express error middleware, for the routes express serves. */
export function errorHandler(logger: Logger, isHealthy: () => boolean) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const kmsError = errorAnswerFor(error, res.locals as RequestFacts, logger, isHealthy);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(kmsError.status).json(errorBody(kmsError));
  };
}

/** Routes that are not actions. */
export function notFound(req: Request, res: Response) {
  res.locals.errorType = 'NotFoundException';
  res.status(404).json({ __type: 'NotFoundException', message: `No route for ${req.method} ${req.path.slice(0, 128)}` });
}

function toKmsError(error: unknown): KmsError {
  if (error instanceof KmsError) return error;
  // Errors of express carry a 4xx `status`; they describe the request only.
  const requestError = error as { status?: number };
  if (typeof requestError.status === 'number' && requestError.status >= 400 && requestError.status < 500) {
    return new ValidationException('The request body could not be read');
  }
  return new KMSInternalException('An internal error occurred');
}
