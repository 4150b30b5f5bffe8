import type { KeyRecord } from '../store/records.js';
import { keyArn } from './key-id.js';

/** KeyMetadata as the API returns it, with AWS KMS's field names. */
export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  Description: string;
  CreationDate: string;
  Enabled: boolean;
  KeyState: KeyRecord['keyState'];
  KeySpec: string;
  CustomerMasterKeySpec: string;
  KeyUsage: KeyRecord['keyUsage'];
  Origin: KeyRecord['origin'];
  KeyManager: 'CUSTOMER';
  EncryptionAlgorithms: string[];
  SigningAlgorithms?: string[];
  ProviderKeyId?: string;
  CurrentKeyVersion: number;
  KeyRotationEnabled: boolean;
  RotationPeriodInDays?: number;
  NextRotationDate?: string;
  Aliases: string[];
  DeletionDate?: string;
}

export function toKeyMetadata(record: KeyRecord, aliases: string[]): KeyMetadata {
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
    EncryptionAlgorithms:
      record.keySpec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : [...(record.encryptionAlgorithms ?? [])],
    CurrentKeyVersion: record.currentVersion,
    KeyRotationEnabled: record.rotation?.enabled ?? false,
    Aliases: aliases,
  };
  if (record.rotation?.enabled) {
    metadata.RotationPeriodInDays = record.rotation.periodDays;
    if (record.rotation.nextRotationDate) metadata.NextRotationDate = record.rotation.nextRotationDate;
  }
  if (record.deletionDate) metadata.DeletionDate = record.deletionDate;
  if (record.keySpec !== 'SYMMETRIC_DEFAULT') metadata.SigningAlgorithms = [...(record.signingAlgorithms ?? [])];
  if (record.providerKeyId) metadata.ProviderKeyId = record.providerKeyId;
  return metadata;
}
