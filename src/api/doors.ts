import type { IncomingMessage } from 'node:http';
import type { CompiledPolicy } from '../auth/policy.js';
import type { Principal } from '../auth/principal.js';
import { amzDateOf, verifySigV4Request } from '../auth/verify-sigv4.js';
import { GO_KMS_LEGACY_ACCESS_KEY_ID, parseKmsDate, verifyRequestSignature } from '../auth/verify-signature.js';
import { KmsError, SerializationException, UnknownOperationException, UnsupportedOperationException, ValidationException } from '../errors.js';
import type { Action, Dialect } from './action.js';
import { BACKUP_ACTION } from './actions/backup-store.js';
import { actions } from './actions/index.js';
import type { ActionRouteOptions } from './app-options.js';
import { AWS_KMS_ACTIONS, awsResult, KEYHOLD_AWS_EXTENSIONS } from './aws-shapes.js';
import { normalizeFields } from './fields.js';
import { jsonAnswerWriter, type JsonAnswerWriter } from './json-answer.js';
import { parseJsonBody } from './request-json.js';

/** The action a request names, found before it is authenticated (its audit record needs a name). */
export interface ActionTarget {
  /** The name for the audit record when no action answers it (as the request spelled it, at most 64 characters). */
  name: string;
  action?: Action;
  /** BackupStore (native door only): a stream, not a JSON answer. */
  backup?: boolean;
  /** What a request that names no action of this door is answered, once it is authenticated. */
  refusal: () => KmsError;
}

/**
 * How one door reads requests and writes answers. Everything between (permissions, the audit
 * record, replay, the action itself) is the same for every door: src/api/action-route.ts.
 */
export interface Door {
  dialect: Dialect;
  target(req: IncomingMessage, pathSegment: string): ActionTarget;
  /** The access key id the request claims, for the record of a failed authentication; `anonymous` if none. */
  claimedAccessKeyId(req: IncomingMessage): string;
  /** Checks the signature over the exact body; throws the door's own authentication errors. */
  authenticate(req: IncomingMessage, body: Buffer): Principal;
  /** The body as lower-cased top-level fields, for the action's schema. */
  fields(req: IncomingMessage, body: Buffer): Record<string, unknown>;
  /** When the request says it was signed (ms): its signature is remembered until that leaves the window. */
  signedAt(req: IncomingMessage): number;
  result(action: Action, result: object): object;
  status(error: KmsError): number;
  answer: JsonAnswerWriter;
}

/** `/api/v1/kms/<action>` (`kms`) and go-kms's `/api/v1/go-kms/<action>`: Keyhold's own signatures and shapes. */
export function nativeDoor(dialect: 'kms' | 'go-kms', options: ActionRouteOptions): Door {
  return {
    dialect,
    target(_req, pathSegment) {
      const name = decodeSegment(pathSegment).toLowerCase();
      const backup = name === BACKUP_ACTION && dialect === 'kms';
      return { name: name.slice(0, 64), action: backup ? undefined : actions.get(name), backup, refusal: () => new UnknownOperationException(`No such action: ${name.slice(0, 64)}`) };
    },
    claimedAccessKeyId: (req) => claimed(NATIVE_CLAIM, req.headers.authorization),
    authenticate(req, body) {
      const principal = verifyRequestSignature(
        { method: 'POST', pathWithQuery: req.url!, headers: req.headersDistinct, body },
        {
          lookupCredential: options.lookupCredential,
          now: options.clock(),
          // go-kms's legacy signatures (which cover neither body nor query) are accepted on the
          // go-kms prefix only, and only when KEYHOLD_GOKMS_AUTH_KEY is set.
          goKmsAuthKey: dialect === 'go-kms' ? options.goKmsAuthKey : undefined,
        },
      );
      return actAs(principal, options.goKmsPolicy);
    },
    fields: (_req, body) => normalizeFields(parseJsonBody(body)),
    signedAt(req) {
      const date = req.headers['x-kms-date'];
      return typeof date === 'string' ? parseKmsDate(date).getTime() : Date.now();
    },
    result: (_action, result) => result,
    status: (error) => error.status,
    answer: options.answer,
  };
}

const AWS_CONTENT_TYPE = 'application/x-amz-json-1.1';
const AWS_TARGET = /^TrentService\.([A-Za-z]{1,64})$/;

/**
 * The AWS door: `POST /` with `X-Amz-Target: TrentService.<Action>`, SigV4 and AWS JSON 1.1,
 * answered as AWS KMS answers (every client error 400, `x-amzn-RequestId`), so that the aws
 * CLI, boto3 and the AWS SDKs work with an endpoint override.
 */
export function awsDoor(options: ActionRouteOptions): Door {
  const answer = jsonAnswerWriter(options.security, { requestIdHeader: 'x-amzn-RequestId', contentType: AWS_CONTENT_TYPE });
  return {
    dialect: 'aws',
    target(req) {
      const header = req.headers['x-amz-target'];
      const name = typeof header === 'string' ? AWS_TARGET.exec(header)?.[1] : undefined;
      if (name === undefined) {
        const refusal = () => new UnknownOperationException(header === undefined ? 'The X-Amz-Target header is missing' : 'X-Amz-Target must be TrentService.<Action>');
        return { name: 'Unknown', refusal };
      }
      if (!AWS_KMS_ACTIONS.has(name) && !KEYHOLD_AWS_EXTENSIONS.has(name)) return { name, refusal: () => new UnknownOperationException(`${name} is not an AWS KMS action`) };
      return { name, action: actions.get(name.toLowerCase()), refusal: () => new UnsupportedOperationException(`Keyhold does not support ${name}`) };
    },
    claimedAccessKeyId: (req) => claimed(AWS_CLAIM, req.headers.authorization),
    authenticate: (req, body) =>
      verifySigV4Request(
        { method: 'POST', pathWithQuery: req.url!, headers: req.headersDistinct, body },
        { lookupCredential: options.lookupCredential, now: options.clock(), region: options.aws.region },
      ),
    fields(req, body) {
      const type = req.headers['content-type'];
      if (type === undefined || !type.toLowerCase().startsWith('application/x-amz-json-1.')) {
        throw new SerializationException(`Content-Type must be ${AWS_CONTENT_TYPE}`);
      }
      let parsed: unknown;
      try {
        parsed = parseJsonBody(body);
      } catch (error) {
        throw error instanceof ValidationException ? new SerializationException(error.message) : error;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SerializationException('The request body must be a JSON object');
      return normalizeFields(parsed);
    },
    signedAt: (req) => amzDateOf(req.headers)?.getTime() ?? Date.now(),
    result: (action, result) => awsResult(action.name, result, options.aws),
    // AWS KMS answers every client error 400; the type tells them apart. A body over the limit
    // stays 413, as documented for every door: its connection is closed with it, unread.
    status: (error) => (error.status < 500 && error.status !== 413 ? 400 : error.status),
    answer,
  };
}

/** `POST /` (with any query): the AWS door's one path. */
export function isAwsDoorPath(url: string): boolean {
  return url === '/' || url.startsWith('/?');
}

/** The go-kms legacy principal acts under KEYHOLD_GOKMS_POLICY_FILE's policy when one is set. */
function actAs(principal: Principal, goKmsPolicy: CompiledPolicy | undefined): Principal {
  if (goKmsPolicy === undefined || principal.accessKeyId !== GO_KMS_LEGACY_ACCESS_KEY_ID) return principal;
  return { accessKeyId: principal.accessKeyId, admin: false, policy: goKmsPolicy };
}

const NATIVE_CLAIM = /^\S+ Credential=([A-Za-z0-9_-]{1,128}),/;
const AWS_CLAIM = /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9_-]{1,128})\//;

function claimed(pattern: RegExp, authorization: string | undefined): string {
  return (authorization === undefined ? undefined : pattern.exec(authorization)?.[1]) ?? 'anonymous';
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
