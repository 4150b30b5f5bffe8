import { ALIAS_RESOURCE_PREFIX } from '../kms/key-registry.js';
import type { AwsIdentity } from '../config.js';
import { aliasArnOf, keyArnOf } from '../kms/arn.js';
import { isUuid, KEY_RESOURCE_PREFIX } from '../kms/key-id.js';

/**
 * Every AWS KMS action (the TrentService operations of @aws-sdk/client-kms 3.1164). The AWS
 * door answers the ones Keyhold has; any other name here is UnsupportedOperationException,
 * and a name that is not here at all UnknownOperationException, as AWS answers it.
 */
export const AWS_KMS_ACTIONS: ReadonlySet<string> = new Set([
  'CancelKeyDeletion', 'ConnectCustomKeyStore', 'CreateAlias', 'CreateCustomKeyStore', 'CreateGrant', 'CreateKey',
  'Decapsulate', 'Decrypt', 'DeleteAlias', 'DeleteCustomKeyStore', 'DeleteImportedKeyMaterial', 'DeriveSharedSecret',
  'DescribeCustomKeyStores', 'DescribeKey', 'DisableKey', 'DisableKeyRotation', 'DisconnectCustomKeyStore', 'EnableKey',
  'EnableKeyRotation', 'Encapsulate', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext', 'GenerateDataKeyWithoutPlaintext', 'GenerateMac', 'GenerateRandom',
  'GetKeyLastUsage', 'GetKeyPolicy', 'GetKeyRotationStatus', 'GetParametersForImport', 'GetPublicKey',
  'ImportKeyMaterial', 'ListAliases', 'ListGrants', 'ListKeyPolicies', 'ListKeyRotations', 'ListKeys',
  'ListResourceTags', 'ListRetirableGrants', 'PutKeyPolicy', 'ReEncrypt', 'ReplicateKey', 'RetireGrant', 'RevokeGrant',
  'RotateKeyOnDemand', 'ScheduleKeyDeletion', 'Sign', 'TagResource', 'UntagResource', 'UpdateAlias',
  'UpdateCustomKeyStore', 'UpdateKeyDescription', 'UpdatePrimaryRegion', 'Verify', 'VerifyMac',
]);

/**
 * Keyhold's own actions that the AWS door answers too (AWS KMS has no batch operations): sent
 * as `X-Amz-Target: TrentService.BatchEncrypt` …, with the AWS shapes of their items.
 */
export const KEYHOLD_AWS_EXTENSIONS: ReadonlySet<string> = new Set(['BatchEncrypt', 'BatchDecrypt', 'BatchReEncrypt', 'BatchGenerateDataKey']);

/** The single action whose answer each item of a batch answer is. */
export const BATCH_ITEM_ACTIONS: Readonly<Record<string, string>> = {
  batchencrypt: 'encrypt',
  batchdecrypt: 'decrypt',
  batchreencrypt: 'reencrypt',
  batchgeneratedatakey: 'generatedatakey',
};

/** Results whose top-level KeyId (and ReEncrypt's SourceKeyId) AWS answers as the key ARN. */
const KEY_ARN_RESULTS = new Set([
  'encrypt', 'decrypt', 'reencrypt', 'generatedatakey', 'generatedatakeywithoutplaintext', 'sign',
  'verify', 'getpublickey', 'schedulekeydeletion', 'cancelkeydeletion', 'getkeyrotationstatus',
  'generatedatakeypair', 'generatedatakeypairwithoutplaintext',
  'generatemac', 'verifymac',
  'getparametersforimport', 'importkeymaterial', 'deleteimportedkeymaterial',
]);

/** Timestamps: the `…Date` fields, and ValidTo and ParametersValidTo of imported material. */
export function isTimestamp(name: string): boolean {
  return name.endsWith('Date') || name.endsWith('ValidTo');
}

/**
 * A native result in AWS JSON 1.1's shape: timestamps (`…Date` fields) as epoch seconds, the
 * JSON numbers the AWS SDKs parse (the JavaScript SDK throws on the native RFC 3339 strings);
 * resource names as AWS ARNs; KeyMetadata with AWSAccountId; KeyId as the key ARN where AWS
 * answers one. The native result is not changed.
 */
export function awsResult(actionName: string, result: object, identity: AwsIdentity): object {
  const shaped = awsValue(result, identity) as Record<string, unknown>;
  // The native ListKeys lists whole KeyMetadata; AWS lists KeyId and KeyArn only.
  if (actionName === 'listkeys' && Array.isArray(shaped.Keys)) {
    shaped.Keys = (shaped.Keys as { KeyId: string }[]).map(({ KeyId }) => ({ KeyId, KeyArn: keyArnOf(KeyId, identity) }));
  }
  if (KEY_ARN_RESULTS.has(actionName)) keyIdsAsArns(shaped, identity);
  // A batch's items are answered as the single action's answers (its errors as they are).
  if (Object.hasOwn(BATCH_ITEM_ACTIONS, actionName) && Array.isArray(shaped.Results)) {
    for (const item of shaped.Results as Record<string, unknown>[]) if (item.Error === undefined) keyIdsAsArns(item, identity);
  }
  return shaped;
}

function keyIdsAsArns(shaped: Record<string, unknown>, identity: AwsIdentity): void {
  for (const field of ['KeyId', 'SourceKeyId']) {
    const value = shaped[field];
    if (typeof value === 'string' && isUuid(value)) shaped[field] = keyArnOf(value, identity);
  }
}

function awsValue(value: unknown, identity: AwsIdentity): unknown {
  if (Array.isArray(value)) return value.map((item) => awsValue(item, identity));
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const shaped: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    if (typeof field === 'string' && isTimestamp(name)) shaped[name] = epochSeconds(field);
    else if (typeof field === 'string' && (name === 'Arn' || name === 'KeyArn' || name === 'AliasArn')) shaped[name] = awsArn(field, identity);
    else shaped[name] = name === 'KeyMetadata' && !Array.isArray(field) ? { AWSAccountId: identity.accountId, ...(awsValue(field, identity) as object) } : awsValue(field, identity);
  }
  return shaped;
}

/** `2026-12-05T08:00:00.123Z` → 1796457600.123; a string that is no date is left as it is. */
function epochSeconds(text: string): number | string {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : ms / 1000;
}

function awsArn(name: string, identity: AwsIdentity): string {
  if (name.startsWith(KEY_RESOURCE_PREFIX)) return keyArnOf(name.slice(KEY_RESOURCE_PREFIX.length), identity);
  if (name.startsWith(ALIAS_RESOURCE_PREFIX)) return aliasArnOf(`alias/${name.slice(ALIAS_RESOURCE_PREFIX.length)}`, identity);
  return name;
}
