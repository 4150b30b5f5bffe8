import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { verifyRequestSignature, type CredentialLookup } from '../auth/verify-signature.js';
import { UnknownOperationException } from '../errors.js';
import type { KeyService } from '../kms/key-service.js';
import type { AccessLog, RequestFacts } from './access-log.js';
import { BACKUP_ACTION, streamBackup } from './actions/backup-store.js';
import { actions } from './actions/index.js';
import { withinDeadline } from './deadline.js';
import { errorAnswerFor, errorBody } from './error-handler.js';
import { normalizeFields, parseRequest } from './fields.js';
import type { JsonAnswerWriter } from './json-answer.js';
import { readBody } from './request-body.js';
import { parseJsonBody } from './request-json.js';
import type { HeaderPairs } from './security-headers.js';
import type { SnapshotSource } from '../store/snapshots.js';

/** Request bodies above this answer 413 RequestEntityTooLarge. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * `POST /api/v1/kms/<action>` and go-kms's `/api/v1/go-kms/<action>`, case-insensitive, with an
 * optional trailing slash and any query: the paths express's `/:action` route matched.
 */
const ACTION_PATH = /^\/api\/v1\/(kms|go-kms)\/([^/?]+)\/?(?:\?|$)/i;

export interface ActionRouteOptions {
  keyService: KeyService;
  lookupCredential: (accessKeyId: string) => CredentialLookup | undefined;
  logger: Logger;
  /** Bytes of KEYHOLD_GOKMS_AUTH_KEY; enables go-kms's legacy signature scheme. */
  goKmsAuthKey?: Buffer;
  isHealthy: () => boolean;
  /** An action not answered within this answers 503 (counted from the moment its body is read). */
  requestTimeoutMs: number;
  clock: () => Date;
  answer: JsonAnswerWriter;
  logAccess: AccessLog;
  /** The store's snapshots, for BackupStore; undefined where backups are not offered. */
  backupSource?: SnapshotSource;
  /** The security headers, for the answers not written by `answer` (BackupStore's stream). */
  security: HeaderPairs;
}

/** Answers a request if it is an action request and says whether it was one. */
export type ActionRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The action requests, answered on node's own request and response: read the body (at most
 * 64 KiB), check the signature over it, then validate and run the action and answer its JSON.
 * Every failure is a typed JSON error answer; nothing a request does makes this throw.
 *
 * @example
 *   const route = actionRoute(options);
 *   server.on('request', (req, res) => route(req, res) || otherRoutes(req, res));
 */
export function actionRoute(options: ActionRouteOptions): ActionRoute {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const path = ACTION_PATH.exec(req.url ?? '');
    if (!path) return false;
    const facts: RequestFacts = { requestId: randomUUID() };
    options.logAccess(req, res, facts);
    const dialect = path[1]!.toLowerCase() === 'go-kms' ? 'go-kms' : 'kms';
    // answerAction answers every error itself; should even that fail, the connection is dropped.
    answerAction(options, req, res, facts, dialect, path[2]!).catch(() => res.destroy());
    return true;
  };
}

async function answerAction(
  options: ActionRouteOptions,
  req: IncomingMessage,
  res: ServerResponse,
  facts: RequestFacts,
  dialect: 'kms' | 'go-kms',
  actionSegment: string,
): Promise<void> {
  try {
    // The body is read first (the limit holds before authentication), then the signature,
    // which covers its exact bytes, is checked before anything else looks at it.
    const body = await readBody(req, MAX_BODY_BYTES);
    // go-kms's legacy signatures (which cover neither body nor query) are accepted on the
    // go-kms prefix only, and only when KEYHOLD_GOKMS_AUTH_KEY is set.
    facts.principal = verifyRequestSignature(
      { method: 'POST', pathWithQuery: req.url!, headers: req.headersDistinct, body },
      {
        lookupCredential: options.lookupCredential,
        now: options.clock(),
        goKmsAuthKey: dialect === 'go-kms' ? options.goKmsAuthKey : undefined,
      },
    );
    const name = decodeSegment(actionSegment).toLowerCase();
    if (name === BACKUP_ACTION && dialect === 'kms') {
      facts.action = BACKUP_ACTION;
      parseJson(body);
      const { backupSource: source, security, clock } = options;
      await streamBackup(res, { source, principal: facts.principal, requestId: facts.requestId, security, clock });
      return;
    }
    const action = actions.get(name);
    if (!action) throw new UnknownOperationException(`No such action: ${name.slice(0, 64)}`);
    facts.action = action.name;
    const input = parseRequest(action.schema, normalizeFields(parseJson(body)));
    const result = await withinDeadline(action.handle(input, { keyService: options.keyService, principal: facts.principal, dialect }), options.requestTimeoutMs);
    options.answer(res, 200, facts.requestId, JSON.stringify(result));
  } catch (error) {
    const kmsError = errorAnswerFor(error, facts, options.logger, options.isHealthy);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    options.answer(res, kmsError.status, facts.requestId, JSON.stringify(errorBody(kmsError)));
  }
}

/** The action name as written in the path, percent-decoded as express decoded route parameters. */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    // Not a valid escape: no action has that name, and the caller learns so.
    return segment;
  }
}

function parseJson(body: Buffer): unknown {
  return parseJsonBody(body);
}
