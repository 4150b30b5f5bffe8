/** An action a policy may name: `kms:Encrypt`, `keyhold:ListAuditEvents`. */
export interface PolicyAction {
  prefix: 'kms' | 'keyhold';
  name: string;
}

const KMS_ACTION_NAMES = [
  'Encrypt', 'Decrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext',
  'GenerateRandom', 'CreateKey', 'DescribeKey', 'ListKeys', 'EnableKey', 'DisableKey', 'ScheduleKeyDeletion',
  'CancelKeyDeletion', 'RotateKeyOnDemand', 'EnableKeyRotation', 'DisableKeyRotation', 'GetKeyRotationStatus',
  'ListKeyRotations', 'CreateAlias', 'UpdateAlias', 'DeleteAlias', 'ListAliases', 'TagResource', 'UntagResource',
  'ListResourceTags', 'GetPublicKey', 'Sign', 'Verify', 'UpdateKeyDescription', 'GetKeyPolicy', 'ListKeyPolicies',
  'PutKeyPolicy',
  'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac', 'VerifyMac',
  'GetParametersForImport', 'ImportKeyMaterial', 'DeleteImportedKeyMaterial',
] as const;
// BackupStore is not here: a backup holds every wrapped key, so only an admin credential takes one.

/**
 * Every action name a policy may name, AWS style. `ListAuditEvents` exists only under the
 * `keyhold:` prefix, so `kms:*` never grants reading the audit trail.
 */
export const POLICY_ACTIONS: readonly PolicyAction[] = Object.freeze([
  ...KMS_ACTION_NAMES.map((name) => Object.freeze({ prefix: 'kms' as const, name })),
  Object.freeze({ prefix: 'keyhold' as const, name: 'ListAuditEvents' }),
]);

/** The text a policy's action patterns are matched against: `kms:encrypt` (ASCII lower case). */
export function actionKey(action: PolicyAction): string {
  return lowerAscii(`${action.prefix}:${action.name}`);
}

/**
 * Lower-cases A-Z only. `toLowerCase` maps more (the Kelvin sign U+212A becomes `k`), which
 * would let a name that only looks like `kms:` pass; policy syntax is ASCII.
 */
export function lowerAscii(text: string): string {
  if (!/[A-Z]/.test(text)) return text; // the usual case on the hot path (key ids): no copy
  let lower = '';
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    lower += code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : text[index];
  }
  return lower;
}
