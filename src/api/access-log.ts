import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import { flatInfoLogger } from '../runtime/logger.js';

/** What a request learns about itself on the way, for its access log line and its errors. */
export interface RequestFacts {
  requestId: string;
  principal?: Principal;
  action?: string;
  errorType?: string;
}

/** Arranges the access log line of one request; see {@link accessLog}. */
export type AccessLog = (req: IncomingMessage, res: ServerResponse, facts: RequestFacts) => void;

/**
 * Arranges, for each request, one structured access log line at info level for when the answer
 * has been sent: request id, method, path, status, duration, action, access key id and error
 * type, never a body, a header value or a secret. When info lines are dropped, nothing is set up.
 *
 * @example
 *   const logAccess = accessLog(logger);
 *   logAccess(req, res, facts); // before the answer is written
 */
export function accessLog(logger: Logger): AccessLog {
  const writeLine = flatInfoLogger(logger);
  return (req, res, facts) => {
    if (!logger.isLevelEnabled('info')) return;
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      writeLine(
        {
          requestId: facts.requestId,
          method: req.method,
          path: pathOf(req.url ?? ''),
          status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
          action: facts.action,
          accessKeyId: facts.principal?.accessKeyId,
          errorType: facts.errorType,
        },
        'request',
      );
    });
  };
}

/** The path of a request target, without its query (which is not logged). */
export function pathOf(target: string): string {
  const queryAt = target.indexOf('?');
  return queryAt === -1 ? target : target.slice(0, queryAt);
}
