import type { KeyMetadata } from '../protocol/types.js';
import type { KeyRecord } from '../store/records.js';
import { keyArn } from './key-id.js';
import { kindOf } from './key-kinds/index.js';

/** A key's record and aliases as the API returns them (KeyMetadata, AWS KMS's field names). */
export function toKeyMetadata(record: KeyRecord, aliases: string[]): KeyMetadata {
  // The kind's algorithm lists: EncryptionAlgorithms in its place (none for an HMAC key, as in
  // AWS), the others after DeletionDate.
  const { EncryptionAlgorithms, ...kindFields } = kindOf(record).metadata(record);
  const metadata: KeyMetadata = {
    KeyId: record.keyId,
    Arn: keyArn(record.keyId),
    Description: record.description,
    CreationDate: record.creationDate,
    Enabled: record.keyState === 'Enabled',
    KeyState: record.keyState,
    KeySpec: record.keySpec,
    CustomerMasterKeySpec: record.keySpec,
    KeyUsage: record.keyUsage,
    Origin: record.origin,
    KeyManager: 'CUSTOMER',
    ...(EncryptionAlgorithms ? { EncryptionAlgorithms } : {}),
    CurrentKeyVersion: record.currentVersion,
    KeyRotationEnabled: record.rotation?.enabled ?? false,
    Aliases: aliases,
  };
  if (record.rotation?.enabled) {
    metadata.RotationPeriodInDays = record.rotation.periodDays;
    if (record.rotation.nextRotationDate) metadata.NextRotationDate = record.rotation.nextRotationDate;
  }
  if (record.deletionDate) metadata.DeletionDate = record.deletionDate;
  Object.assign(metadata, kindFields);
  if (record.providerKeyId) metadata.ProviderKeyId = record.providerKeyId;
  return metadata;
}
