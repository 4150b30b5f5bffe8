import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { canonicalEncryptionContext, type EncryptionContext } from '../crypto/index.js';
import { ValidationException } from '../errors.js';
import { MAX_PLAINTEXT_BYTES } from '../kms/key-service.js';
import { decodeStandardBase64 } from '../protocol/base64.js';
import { validationMessage } from '../validation-message.js';

/**
 * Request field schemas shared by the actions. Requests use AWS KMS field names, matched
 * case-insensitively (go-kms clients send `KeyID`): each action's schema is written with
 * lower-case names and `normalizeFields` lower-cases the body's top-level names first.
 */

const MAX_CONTEXT_PAIRS = 64;
const MAX_CONTEXT_BYTES = 8192;

/** The AWS spelling of each field, for error messages. */
const DISPLAY_NAMES: Record<string, string> = {
  keyid: 'KeyId',
  plaintext: 'Plaintext',
  ciphertextblob: 'CiphertextBlob',
  encryptioncontext: 'EncryptionContext',
  sourceencryptioncontext: 'SourceEncryptionContext',
  destinationencryptioncontext: 'DestinationEncryptionContext',
  sourcekeyid: 'SourceKeyId',
  destinationkeyid: 'DestinationKeyId',
  keyspec: 'KeySpec',
  keyusage: 'KeyUsage',
  numberofbytes: 'NumberOfBytes',
  description: 'Description',
  tags: 'Tags',
  limit: 'Limit',
  marker: 'Marker',
  pendingwindowindays: 'PendingWindowInDays',
  rotationperiodindays: 'RotationPeriodInDays',
  aliasname: 'AliasName',
  targetkeyid: 'TargetKeyId',
  tagkeys: 'TagKeys',
  origin: 'Origin',
  providerkeyid: 'ProviderKeyId',
  message: 'Message',
  messagetype: 'MessageType',
  signature: 'Signature',
  signingalgorithm: 'SigningAlgorithm',
  encryptionalgorithm: 'EncryptionAlgorithm',
  accesskeyid: 'AccessKeyId',
  admin: 'Admin',
  policy: 'Policy',
  starttime: 'StartTime',
  endtime: 'EndTime',
  principal: 'Principal',
  action: 'Action',
  outcome: 'Outcome',
  verify: 'Verify',
  keypairspec: 'KeyPairSpec',
  recipient: 'Recipient',
  mac: 'Mac',
  macalgorithm: 'MacAlgorithm',
  wrappingalgorithm: 'WrappingAlgorithm',
  wrappingkeyspec: 'WrappingKeySpec',
  importtoken: 'ImportToken',
  encryptedkeymaterial: 'EncryptedKeyMaterial',
  expirationmodel: 'ExpirationModel',
  validto: 'ValidTo',
  importtype: 'ImportType',
  keymaterialid: 'KeyMaterialId',
  items: 'Items',
  customermasterkeyspec: 'CustomerMasterKeySpec',
  multiregion: 'MultiRegion',
  customkeystoreid: 'CustomKeyStoreId',
  xkskeyid: 'XksKeyId',
  bypasspolicylockoutsafetycheck: 'BypassPolicyLockoutSafetyCheck',
  policyname: 'PolicyName',
};

export const keyIdField = z.string().min(1).max(2048);

/**
 * A base64 field decoded to bytes, `min..max` bytes long. Its limits are told in bytes, the
 * unit the caller thinks in, not in base64 characters; `tooLongHint` says what to do instead.
 */
export function bytesField(min: number, max: number, tooLongHint?: string) {
  const tooLong = `is at most ${max} bytes${tooLongHint ? `; ${tooLongHint}` : ''}`;
  return z
    .string()
    // A length check (not a refinement), so that the JSON Schema made from this one keeps maxLength.
    .max(Math.ceil(max / 3) * 4, { error: tooLong, abort: true })
    // One decoding checks the text and makes the bytes; an issue here stops the checks below.
    .transform((text, ctx) => {
      const bytes = decodeStandardBase64(text);
      if (bytes !== undefined) return bytes;
      ctx.addIssue({ code: 'custom', message: 'must be standard base64', input: text });
      return z.NEVER;
    })
    .refine((bytes) => bytes.length >= min, min === 1 ? 'must not be empty' : `is at least ${min} bytes`)
    .refine((bytes) => bytes.length <= max, tooLong)
    .meta({ contentEncoding: 'base64', description: `Standard base64 of ${min} to ${max} bytes` });
}

export const plaintextField = bytesField(1, MAX_PLAINTEXT_BYTES, 'use encrypt-file for files (or encrypt under a data key from GenerateDataKey)');
export const ciphertextBlobField = bytesField(1, 6144);

/** Algorithm names are checked against the key by the KMS layer; here only their shape. */
export const algorithmField = z.string().min(1).max(64);
export const messageTypeField = z.enum(['RAW', 'DIGEST']);

/**
 * An encryption context: a JSON object of string to string. Built with Object.fromEntries
 * so that a `__proto__` pair stays an ordinary pair (and is bound into the AAD) instead of
 * being dropped by an assignment.
 */
export const encryptionContextField = z.unknown().transform((value, ctx): EncryptionContext => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be an object whose values are strings' });
    return z.NEVER;
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_CONTEXT_PAIRS) {
    ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_CONTEXT_PAIRS} pairs` });
    return z.NEVER;
  }
  for (const [key, pairValue] of entries) {
    if (key.length === 0 || typeof pairValue !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'keys must be non-empty strings and values strings' });
      return z.NEVER;
    }
    // A lone surrogate has no UTF-8 form: two different contexts would share one AAD.
    if (!key.isWellFormed() || !pairValue.isWellFormed()) {
      ctx.addIssue({ code: 'custom', message: 'keys and values must be well-formed Unicode' });
      return z.NEVER;
    }
  }
  const context = Object.freeze(Object.fromEntries(entries) as Record<string, string>);
  if (canonicalEncryptionContext(context).length > MAX_CONTEXT_BYTES) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_CONTEXT_BYTES} bytes` });
    return z.NEVER;
  }
  return context;
}).meta({
  // What the transform above accepts, for the OpenAPI description (src/api/openapi/).
  type: 'object',
  additionalProperties: { type: 'string' },
  maxProperties: MAX_CONTEXT_PAIRS,
  description: `String keys and values, at most ${MAX_CONTEXT_PAIRS} pairs and ${MAX_CONTEXT_BYTES} bytes`,
});

// Tag limits (count, lengths) are checked by the KMS layer, which answers them with AWS's
// TagException and LimitExceededException; the schema only checks the shape.
export const tagsField = z
  .array(z.object({ TagKey: z.string().max(1024), TagValue: z.string().max(1024) }))
  .max(1000);

// Every AWS KMS field name is ASCII. String.prototype.toLowerCase folds some other characters
// into ASCII letters (U+212A KELVIN SIGN into `k`), which would make `\u212AeyId` a KeyId.
const ASCII_NAME = /^[\x00-\x7f]*$/;

/**
 * Lower-cases the top-level field names of a request body. Two spellings of one field
 * are ambiguous and refused, and so is a name with a character outside ASCII, which could
 * match a field only after Unicode case folding. Nested objects (EncryptionContext) keep
 * their exact names.
 */
export function normalizeFields(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationException('The request body must be a JSON object');
  }
  // Assigned one by one (about 0.5 µs a request instead of 2 for entries, a Set and
  // fromEntries); only `__proto__` is defined, so that it stays an ordinary field.
  const fields: Record<string, unknown> = {};
  let nulls: Set<string> | undefined;
  for (const name of Object.keys(body)) {
    /* Precondition: field names are ASCII, so that no other character folds into one (the Kelvin sign into `k`). */
    if (!ASCII_NAME.test(name)) throw new ValidationException('Field names must be ASCII');
    const lower = name.toLowerCase();
    if (Object.hasOwn(fields, lower) || nulls?.has(lower)) throw new ValidationException(`Field '${displayName(lower)}' is given twice`);
    const value = (body as Record<string, unknown>)[name];
    // JSON null means "not given", as AWS SDKs treat it.
    if (value === null) (nulls ??= new Set()).add(lower);
    else if (lower === '__proto__') Object.defineProperty(fields, lower, { value, enumerable: true, writable: true, configurable: true });
    else fields[lower] = value;
  }
  return fields;
}

export function displayName(lowerName: string): string {
  return Object.hasOwn(DISPLAY_NAMES, lowerName) ? DISPLAY_NAMES[lowerName]! : lowerName;
}

/** Parses a normalized body with an action's schema; the first problems become one message. */
export function parseRequest<S extends z.ZodType>(schema: S, fields: Record<string, unknown>): z.output<S> {
  const result = schema.safeParse(fields);
  if (result.success) return result.data;
  // Messages name the field and the rule, never the value: it may be plaintext.
  throw new ValidationException(validationMessage(result.error.issues, fields, displayName));
}
