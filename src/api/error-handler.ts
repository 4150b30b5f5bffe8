import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { KMSInternalException, KmsError, RequestEntityTooLarge, ServiceUnavailableException, ValidationException } from '../errors.js';

/**
 * Maps every error to HTTP, in one place: `{"__type": ..., "message": ...}` with the
 * status of DESIGN.md's table. Anything that is not a KmsError is logged (by type and
 * stack, never with request data) and answered as KMSInternalException without details.
 */
export function errorHandler(logger: Logger, isHealthy: () => boolean) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // An unexpected error while the store is down is the store being down: 503, not 500.
    const kmsError =
      !(error instanceof KmsError) && !isHealthy()
        ? new ServiceUnavailableException('The key store is not available')
        : toKmsError(error);
    if (kmsError.status === 500) {
      logger.error({ requestId: res.locals.requestId, err: error }, 'internal error');
    }
    res.locals.errorType = kmsError.type;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(kmsError.status).json({ __type: kmsError.type, message: kmsError.message });
  };
}

/** Routes that are not actions. */
export function notFound(req: Request, res: Response) {
  res.locals.errorType = 'NotFoundException';
  res.status(404).json({ __type: 'NotFoundException', message: `No route for ${req.method} ${req.path.slice(0, 128)}` });
}

function toKmsError(error: unknown): KmsError {
  if (error instanceof KmsError) return error;
  // body-parser's errors carry a `type` and a 4xx `status`; they describe the request only.
  const bodyError = error as { type?: string; status?: number };
  if (bodyError.type === 'entity.too.large') {
    return new RequestEntityTooLarge('The request body is larger than 64 KiB');
  }
  if (typeof bodyError.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
    return new ValidationException('The request body could not be read');
  }
  return new KMSInternalException('An internal error occurred');
}
