import { z } from 'zod';
import type { AliasListEntry } from '../kms/aliases.js';
import type { RotationStatus } from '../kms/rotation.js';
import type { AuditEvent, Credential, KeyMetadata } from '../protocol/types.js';
import type { Tag } from '../store/records.js';
import type { ErrorAnswer } from './error-handler.js';

/**
 * The shapes of the answers, as zod schemas: each action declares its answer with them
 * (`answer` in src/api/action.ts), and the OpenAPI description (src/api/openapi/) is generated
 * from them and from the request schemas. They describe; they do not check at run time: the
 * test suite checks every answer it receives against the description. Where a TypeScript type
 * of the answer exists, a compile-time check below keeps the two equal.
 */

/** RFC 3339 with milliseconds, as `Date.prototype.toISOString` writes it (the AWS door: epoch seconds). */
export const timestampShape = z.string().meta({ format: 'date-time' });

/** Bytes in an answer: standard base64. */
export const base64Shape = z.string().meta({ contentEncoding: 'base64' });

export const errorAnswerShape = z
  .object({
    __type: z.string().meta({ description: 'The AWS-style error type, e.g. NotFoundException' }),
    message: z.string(),
  })
  .meta({ id: 'ErrorAnswer', description: 'Every error answer: its type and a message that never holds secret data.' });

export const keyMetadataShape = z
  .object({
    KeyId: z.string(),
    Arn: z.string(),
    Description: z.string(),
    CreationDate: timestampShape,
    Enabled: z.boolean(),
    KeyState: z.enum(['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport']),
    KeySpec: z.string(),
    CustomerMasterKeySpec: z.string(),
    KeyUsage: z.enum(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC']),
    Origin: z.enum(['KEYHOLD', 'AWS_KMS', 'GCP_KMS', 'EXTERNAL']),
    KeyManager: z.literal('CUSTOMER'),
    EncryptionAlgorithms: z.array(z.string()).optional(),
    SigningAlgorithms: z.array(z.string()).optional(),
    MacAlgorithms: z.array(z.string()).optional(),
    ProviderKeyId: z.string().optional(),
    CurrentKeyVersion: z.number().int(),
    KeyRotationEnabled: z.boolean(),
    RotationPeriodInDays: z.number().int().optional(),
    NextRotationDate: timestampShape.optional(),
    Aliases: z.array(z.string()),
    DeletionDate: timestampShape.optional(),
    ExpirationModel: z.enum(['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE']).optional(),
    ValidTo: timestampShape.optional(),
  })
  .meta({ id: 'KeyMetadata' });

export const credentialShape = z
  .object({
    AccessKeyId: z.string(),
    Description: z.string(),
    Admin: z.boolean(),
    Enabled: z.boolean(),
    CreationDate: timestampShape,
    LastUsedDate: timestampShape.optional(),
    Policy: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'Credential', description: 'A credential as the server shows it: never its secret.' });

export const auditEventShape = z
  .object({
    Chain: z.string(),
    Seq: z.number().int(),
    Time: timestampShape,
    RequestId: z.string().nullable(),
    Principal: z.string(),
    SourceIp: z.string().nullable(),
    Action: z.string(),
    KeyId: z.string().nullable(),
    Outcome: z.string(),
    EncryptionContext: z.record(z.string(), z.string()).optional(),
    Items: z.array(z.object({ KeyId: z.string().nullable(), Outcome: z.string(), EncryptionContext: z.record(z.string(), z.string()).optional() })).optional(),
    Detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    PrevMac: z.string(),
    Mac: z.string(),
    Verified: z.boolean().optional(),
  })
  .meta({ id: 'AuditEvent' });

export const aliasEntryShape = z
  .object({ AliasName: z.string(), AliasArn: z.string(), TargetKeyId: z.string(), CreationDate: timestampShape, LastUpdatedDate: timestampShape })
  .meta({ id: 'AliasListEntry' });

export const tagShape = z.object({ TagKey: z.string(), TagValue: z.string() }).meta({ id: 'Tag' });

export const rotationStatusShape = z.object({
  KeyId: z.string(),
  KeyRotationEnabled: z.boolean(),
  RotationPeriodInDays: z.number().int().optional(),
  NextRotationDate: timestampShape.optional(),
});

/** The answer of the actions that answer nothing but success. */
export const emptyAnswer = z.object({});

/** A page of a list: the items under `field`, Truncated, and NextMarker while there are more. */
export function pageOf<T extends z.ZodType>(field: string, item: T) {
  return z.object({ [field]: z.array(item), Truncated: z.boolean(), NextMarker: z.string().optional() });
}

// Compile-time checks: the shapes above and the answer types the server builds are the same.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shapesMatchTypes: [
  Same<z.output<typeof keyMetadataShape>, KeyMetadata>,
  // Policy: `object` in the type, a JSON object (a record) in the shape.
  Same<Omit<z.output<typeof credentialShape>, 'Policy'>, Omit<Credential, 'Policy'>>,
  Same<z.output<typeof auditEventShape>, AuditEvent>,
  Same<z.output<typeof aliasEntryShape>, AliasListEntry>,
  Same<z.output<typeof tagShape>, Tag>,
  Same<z.output<typeof rotationStatusShape>, RotationStatus>,
  Same<z.output<typeof errorAnswerShape>, ErrorAnswer>,
] = [true, true, true, true, true, true, true];
void shapesMatchTypes;

/** GET /healthz and GET /readyz: `ok` (200) or `unavailable` (503), and nothing an attacker could use. */
export const healthAnswerShape = z.object({ status: z.enum(['ok', 'unavailable']) }).meta({ id: 'HealthAnswer' });
