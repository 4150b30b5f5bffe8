import type { z } from 'zod';
import type { Caller } from '../kms/key-registry.js';
import type { Principal } from '../auth/principal.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { KeyService } from '../kms/key-service.js';
import type { AuditQueries } from '../audit/audit-trail.js';
import type { AwsIdentity } from '../config.js';

/** What an action handler gets besides its validated input. */
export interface ActionContext {
  keyService: KeyService;
  /** The credentials (changes run where the store is). */
  credentials: CredentialService;
  audit: AuditQueries;
  principal: Principal;
  /** Who asks, and the request's facts: every change it makes is audited as this request. */
  caller: Caller;
  /** The door the request came through: the native prefix, go-kms's prefix or the AWS door. */
  dialect: Dialect;
  /** The region and account of the AWS-form ARNs (KEYHOLD_AWS_REGION, KEYHOLD_AWS_ACCOUNT_ID). */
  aws: AwsIdentity;
  /** The batch actions' items, which the request's one audit record lists: each item's key, outcome and context. */
  recordItems(items: ItemRecord[]): void;
}

/** What the audit record of one item of a batch says of it. */
export interface ItemRecord {
  keyId: string | null;
  /** `Success` or the item's error type. */
  outcome: string;
  encryptionContext?: Record<string, string>;
}

export type Dialect = 'kms' | 'go-kms' | 'aws';
export type { AwsIdentity } from '../config.js';

/** A field of the request that names a key (KeyId, alias, resource name), or a blob that does. */
export type KeyReference =
  | { field: string; blob?: undefined; policyAction?: string; contextField?: string }
  | { blob: string; field?: undefined; policyAction?: string; contextField?: string };

/**
 * Who may call an action (src/api/authorize.ts): its policy action, the keys it acts on,
 * and whether a second arrival of the same signed request must be refused.
 */
export interface ActionAccess {
  /** The AWS-style action name: `kms:<policyAction>` in policies, the `Action` of its audit record. */
  policyAction: string;
  /** `keyhold:` instead of `kms:` in policies (Keyhold's own actions). */
  keyholdPrefix?: boolean;
  /** Changes state: accepted once per signature (ReplayedRequestException after). */
  changesState?: boolean;
  /** Admin credentials only, whatever a policy says (the credential actions). */
  adminOnly?: boolean;
  /** The keys it acts on; none: the action matches only a `*` resource. */
  keys?: (input: Record<string, unknown>) => KeyReference[];
  /** The request field holding its encryption context (recorded, and matched by conditions). */
  contextField?: string;
  /**
   * Checked item by item by the action itself (the batch actions): the request as a whole needs
   * no permission of its own, only what each item's single action needs.
   */
  perItem?: boolean;
}

/**
 * One API action: its name (the last path segment), the schema of its request (lower-case
 * field names, see fields.ts), the shape of its answer, who may call it, and the handler that
 * maps it onto KeyService.
 */
export interface Action<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  /** The shape of its answer (src/api/answer-shapes.ts), for the OpenAPI description; not checked at run time. */
  answer: z.ZodType;
  access: ActionAccess;
  /** The largest request body it takes; default MAX_BODY_BYTES (64 KiB). */
  maxBodyBytes?: number;
  handle(input: z.output<S>, context: ActionContext): Promise<object> | object;
}

export function defineAction<S extends z.ZodType>(action: Action<S>): Action<S> {
  return action;
}

/** The one key named by the request's `KeyId` (the usual case). */
export const onKeyId = (): KeyReference[] => [{ field: 'keyid' }];

/** Bytes in a response are standard base64, as in AWS KMS. */
export function base64(bytes: Buffer): string {
  return bytes.toString('base64');
}
