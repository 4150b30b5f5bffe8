import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_MAX_SKEW_SECONDS, GO_KMS_LEGACY_ACCESS_KEY_ID } from '../auth/verify-signature.js';
import { AccessDeniedException, KmsError, ServiceUnavailableException } from '../errors.js';
import { isUuid } from '../kms/key-id.js';
import { metrics } from '../metrics/metrics.js';
import type { AuditEntry } from '../store/audit-record.js';
import type { AuditItem } from '../protocol/types.js';
import type { RequestFacts } from './access-log.js';
import { BACKUP_ACTION, streamBackup } from './actions/backup-store.js';
import type { ItemRecord } from './action.js';
import type { ActionRouteOptions } from './app-options.js';
import { authorize } from './authorize.js';
import { withinDeadline } from './deadline.js';
import { awsDoor, isAwsDoorPath, nativeDoor, type ActionTarget, type Door } from './doors.js';
import { errorAnswerFor, errorBody } from './error-handler.js';
import { parseRequest } from './fields.js';
import { jsonAnswerBody } from './json-answer.js';
import { readBody } from './request-body.js';
import { parseJsonBody } from './request-json.js';

/** Request bodies above this answer 413 RequestEntityTooLarge (the batch actions take more: their own `maxBodyBytes`). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * `POST /api/v1/kms/<action>` and go-kms's `/api/v1/go-kms/<action>`, case-insensitive, with an
 * optional trailing slash and any query: the paths express's `/:action` route matched.
 */
const ACTION_PATH = /^\/api\/v1\/(kms|go-kms)\/([^/?]+)\/?(?:\?|$)/i;

/** Answers a request if it is an action request and says whether it was one. */
export type ActionRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The action requests, answered on node's own request and response: read the body (at most
 * 64 KiB, 1 MiB for the batch actions), check the signature over it, then validate and run the
 * action and answer its JSON.
 * Every failure is a typed JSON error answer; nothing a request does makes this throw.
 *
 * Three doors lead to the same actions, permissions, audit trail and limits: the native
 * `/api/v1/kms/<action>`, go-kms's `/api/v1/go-kms/<action>`, and the AWS door (`POST /` with
 * `X-Amz-Target: TrentService.<Action>`, SigV4, AWS JSON 1.1). A door only reads requests and
 * writes answers in its own way (src/api/doors.ts).
 *
 * @example
 *   const route = actionRoute(options);
 *   server.on('request', (req, res) => route(req, res) || otherRoutes(req, res));
 */
export function actionRoute(options: ActionRouteOptions): ActionRoute {
  const native = nativeDoor('kms', options);
  const goKms = nativeDoor('go-kms', options);
  const aws = awsDoor(options);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    let door: Door;
    let target: ActionTarget;
    const path = ACTION_PATH.exec(url);
    if (path) {
      door = path[1]!.toLowerCase() === 'go-kms' ? goKms : native;
      target = door.target(req, path[2]!);
    } else if (isAwsDoorPath(url)) {
      door = aws;
      target = door.target(req, '');
    } else {
      return false;
    }
    const facts: RequestFacts = { requestId: randomUUID() };
    options.logAccess(req, res, facts);
    const started = metrics.requestStarted();
    // answerAction answers every error itself; should even that fail, the connection is dropped.
    answerAction(options, door, target, req, res, facts).then(
      (outcome) => metrics.requestFinished(door.dialect, actionLabel(target), outcome, started),
      () => {
        res.destroy();
        metrics.requestFinished(door.dialect, actionLabel(target), 'ConnectionDropped', started);
      },
    );
    return true;
  };
}

/** The action as a metric label: the registry's name, never what the request wrote (which may be anything). */
function actionLabel(target: ActionTarget): string {
  return target.action?.name ?? (target.backup ? BACKUP_ACTION : 'unknown');
}

async function answerAction(
  options: ActionRouteOptions,
  door: Door,
  target: ActionTarget,
  req: IncomingMessage,
  res: ServerResponse,
  facts: RequestFacts,
): Promise<string> {
  const { action, backup } = target;
  // The request's one audit record: filled in on the way, written before the answer is sent.
  const record: AuditEntry = {
    Time: options.clock().toISOString(),
    RequestId: facts.requestId,
    Principal: 'anonymous',
    SourceIp: req.socket.remoteAddress ?? null,
    Action: backup ? 'BackupStore' : (action?.access.policyAction ?? target.name),
    KeyId: null,
    Outcome: 'Success',
  };
  let answer: { status: number; body: string | Buffer };
  let input: Record<string, unknown> | undefined;
  // A batch's items, which its one record lists once it has run.
  let items: ItemRecord[] | undefined;
  // Where a failure happened: a refusal while authenticating is an authentication failure, an
  // AccessDeniedException while authorizing a policy denial (not one of a remote KMS's refusals).
  let phase: 'authenticating' | 'authorizing' | undefined;
  try {
    // The body is read first (the limit, the named action's, holds before authentication), then
    // the signature, which covers its exact bytes, is checked before anything else looks at it.
    const body = await readBody(req, action?.maxBodyBytes ?? MAX_BODY_BYTES);
    record.Principal = door.claimedAccessKeyId(req);
    phase = 'authenticating';
    facts.principal = door.authenticate(req, body);
    phase = undefined;
    record.Principal = facts.principal.accessKeyId;
    if (backup) {
      phase = 'authorizing';
      return await answerBackup(options, res, facts, record, body, () => (phase = undefined));
    }
    if (!action) throw target.refusal();
    facts.action = action.name;
    input = parseRequest(action.schema, door.fields(req, body)) as Record<string, unknown>;
    const context = action.access.contextField === undefined ? undefined : (input[action.access.contextField] as Record<string, string> | undefined);
    if (context !== undefined) record.EncryptionContext = context;
    if (action.access.changesState) await options.replay.claim(replayFingerprint(req.headers.authorization, body), door.signedAt(req) + DEFAULT_MAX_SKEW_SECONDS * 1000 + 1000);
    phase = 'authorizing';
    record.KeyId = (await authorize(facts.principal, action.access, input, options.keyService, (keyId) => (record.KeyId = keyId))) ?? null;
    phase = undefined;
    noteCredentialUse(options, facts.principal.accessKeyId);
    const caller = { principal: facts.principal.accessKeyId, request: { requestId: facts.requestId, sourceIp: record.SourceIp, action: record.Action, encryptionContext: context } };
    const handling = { keyService: options.keyService, credentials: options.credentials, audit: options.audit, principal: facts.principal, caller, dialect: door.dialect, aws: options.aws, recordItems: (records: ItemRecord[]) => (items = records) };
    const result = await withinDeadline(action.handle(input as never, handling), options.requestTimeoutMs);
    record.KeyId ??= keyIdOf(result) ?? keyIdOf(input) ?? null;
    answer = { status: 200, body: jsonAnswerBody(door.result(action, result)) };
  } catch (error) {
    const kmsError = errorAnswerFor(error, facts, options.logger, options.isHealthy);
    record.Outcome = kmsError.type;
    if (phase === 'authenticating') metrics.authenticationFailed(kmsError.type);
    else if (phase === 'authorizing' && kmsError.type === 'AccessDeniedException') metrics.policyDenied(actionLabel(target));
    // A refused request names its key in the record too, when the request named it by KeyId.
    record.KeyId ??= keyIdOf(input) ?? null;
    answer = { status: door.status(kmsError), body: JSON.stringify(errorBody(kmsError)) };
  }
  if (res.headersSent) {
    res.destroy();
    return 'ConnectionDropped';
  }
  // A batch's record lists its items; a batch that failed as a whole (a deadline passed while its items ran) lists none.
  const changedNothing = action?.access.changesState !== true;
  const written = items !== undefined && answer.status === 200 ? await writeRecords(options, batchRecords(record, items), facts, changedNothing) : await writeRecords(options, [record], facts, changedNothing);
  let outcome = record.Outcome;
  if (written !== true) {
    answer = auditUnavailable(facts, written);
    outcome = facts.errorType!;
  }
  door.answer(res, answer.status, facts.requestId, answer.body);
  return outcome;
}

/** A batch record's Items hold about this much JSON at most: a batch whose items say more has several records. */
const BATCH_RECORD_BYTES = 48 * 1024;

/**
 * A batch's record: its items in order (each one's key, outcome and context), and the key they
 * all used, if one. Items with large encryption contexts go into several records, each with
 * `Detail: { Part, Parts, FirstItem }`, so that no record grows past what a stored entry and a
 * backup's line hold (a batch's body may be 1 MiB of contexts).
 */
function batchRecords(record: AuditEntry, items: ItemRecord[]): AuditEntry[] {
  const parts: AuditItem[][] = [[]];
  let size = 0;
  for (const item of items) {
    const listed: AuditItem = item.encryptionContext === undefined ? { KeyId: item.keyId, Outcome: item.outcome } : { KeyId: item.keyId, Outcome: item.outcome, EncryptionContext: item.encryptionContext };
    const itemSize = 80 + (item.encryptionContext === undefined ? 0 : JSON.stringify(item.encryptionContext).length);
    if (parts.at(-1)!.length > 0 && size + itemSize > BATCH_RECORD_BYTES) {
      parts.push([]);
      size = 0;
    }
    parts.at(-1)!.push(listed);
    size += itemSize;
  }
  let firstItem = 0;
  return parts.map((part, index) => {
    const first = part[0]?.KeyId ?? null;
    const entry: AuditEntry = { ...record, KeyId: part.every((item) => item.KeyId === first) ? first : null, Items: part };
    if (parts.length > 1) entry.Detail = { Part: index + 1, Parts: parts.length, FirstItem: firstItem };
    firstItem += part.length;
    return entry;
  });
}

/**
 * BackupStore answers a stream: its record (admins only) is written before the first byte.
 */
async function answerBackup(options: ActionRouteOptions, res: ServerResponse, facts: RequestFacts, record: AuditEntry, body: Buffer, authorized: () => void): Promise<string> {
  facts.action = BACKUP_ACTION;
  parseJsonBody(body);
  if (!facts.principal!.admin) throw new AccessDeniedException(`${facts.principal!.accessKeyId} is not authorized to perform kms:BackupStore: it needs an admin credential`);
  authorized();
  const written = await writeRecords(options, [record], facts, false);
  if (written !== true) {
    const unavailable = auditUnavailable(facts, written);
    options.answer(res, unavailable.status, facts.requestId, unavailable.body);
    return facts.errorType!;
  }
  const { backupSource: source, security, clock } = options;
  await streamBackup(res, { source, principal: facts.principal!, requestId: facts.requestId, security, clock });
  return 'Success';
}

/**
 * Writes the request's audit records (one, or a large batch's parts) in one store write; the
 * cause when they could not be written (the request then fails: fail closed).
 */
async function writeRecords(options: ActionRouteOptions, records: AuditEntry[], facts: RequestFacts, changedNothing: boolean): Promise<true | string> {
  const started = metrics.enabled ? performance.now() : 0;
  try {
    await withinDeadline(records.length === 1 ? options.audit.record(records[0]!, { changedNothing }) : options.audit.recordAll(records), options.requestTimeoutMs);
    metrics.auditWritten(started, false);
    return true;
  } catch (error) {
    metrics.auditWritten(started, true);
    const cause = error instanceof KmsError ? error.message : 'an internal error';
    options.logger.error({ requestId: facts.requestId, cause }, 'the audit record of a request could not be written: the request fails with 503');
    return cause;
  }
}

/** The answer of a request whose audit record could not be written (fail closed), with the store's cause. */
function auditUnavailable(facts: RequestFacts, cause: string): { status: number; body: string } {
  const error = new ServiceUnavailableException(`The audit trail cannot be written; nothing was done (${cause})`);
  facts.errorType = error.type;
  return { status: error.status, body: JSON.stringify(errorBody(error)) };
}

/** LastUsedDate is coarse: each process asks for it to be written at most hourly per credential. */
function noteCredentialUse(options: ActionRouteOptions, accessKeyId: string): void {
  if (accessKeyId === GO_KMS_LEGACY_ACCESS_KEY_ID || !options.credentials.dueForUseNote(accessKeyId)) return;
  options.credentials.noteUse(accessKeyId).catch(() => {});
}

/** What identifies one signed request: its Authorization (the signature) and body (go-kms's signatures do not cover it). */
function replayFingerprint(authorization: string | undefined, body: Buffer): string {
  return createHash('sha256').update(authorization ?? '').update('\n').update(body).digest('base64').slice(0, 22);
}

/** The KeyId an answer or a request names, for its audit record. */
function keyIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const object = value as { KeyId?: unknown; keyid?: unknown; KeyMetadata?: { KeyId?: unknown } };
  const keyId = object.KeyId ?? object.KeyMetadata?.KeyId ?? object.keyid;
  return typeof keyId === 'string' && isUuid(keyId) ? keyId.toLowerCase() : undefined;
}
