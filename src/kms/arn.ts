/**
 * AWS-form resource names (ARNs): `arn:aws:kms:<region>:<account>:key/<uuid>` and
 * `arn:aws:kms:<region>:<account>:alias/<name>`. Accepted in every KeyId field on both doors;
 * the AWS door also answers with them. Region and account are Keyhold's configuration
 * (KEYHOLD_AWS_REGION, KEYHOLD_AWS_ACCOUNT_ID): an ARN naming another is a key that does not
 * exist here, as AWS answers for a key of another account.
 */
import type { AwsIdentity } from '../config.js';

const ARN = /^arn:aws:kms:([^:]*):([^:]*):(key|alias)\/(.+)$/;

export type ParsedArn =
  | { kind: 'key' | 'alias'; ours: true; resource: string }
  | { kind: 'key' | 'alias'; ours: false; resource: string };

/** `key/<id>` or `alias/<name>` of an ARN, and whether it is in this region and account; undefined if not an ARN. */
export function parseKmsArn(value: string, identity: AwsIdentity): ParsedArn | undefined {
  const match = ARN.exec(value);
  if (!match) return undefined;
  const kind = match[3] as 'key' | 'alias';
  const name = match[4]!;
  const ours = match[1] === identity.region && match[2] === identity.accountId;
  return { kind, ours, resource: kind === 'key' ? name : `alias/${name}` };
}

export function keyArnOf(keyId: string, identity: AwsIdentity): string {
  return `arn:aws:kms:${identity.region}:${identity.accountId}:key/${keyId}`;
}

export function aliasArnOf(aliasName: string, identity: AwsIdentity): string {
  return `arn:aws:kms:${identity.region}:${identity.accountId}:${aliasName}`;
}
