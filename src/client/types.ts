/**
 * What the convenience methods of KeyholdClient take and return. Options are camelCase and
 * bytes are Buffers; on the wire they become the AWS KMS field names and standard base64.
 * Key metadata is returned as the server sends it, with AWS field names.
 */

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | (string & {});

/** DESIGN.md "HTTP API": `KeyMetadata`, as sent by the server. */
export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  Description: string;
  /** RFC 3339. */
  CreationDate: string;
  Enabled: boolean;
  KeyState: KeyState;
  KeySpec: string;
  KeyUsage: string;
  Origin: string;
  /** RFC 3339, while PendingDeletion. */
  DeletionDate?: string;
  [field: string]: unknown;
}

export type EncryptionContext = Record<string, string>;

export interface CreateKeyOptions {
  description?: string;
  keySpec?: string;
  keyUsage?: 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | (string & {});
  /** Sent as AWS `Tags: [{ TagKey, TagValue }]`. */
  tags?: Record<string, string>;
}

export interface ListKeysOptions {
  limit?: number;
  marker?: string;
}

export interface ListKeysResult {
  keys: KeyMetadata[];
  nextMarker?: string;
  truncated: boolean;
}

export interface ScheduleKeyDeletionResult {
  keyId: string;
  /** RFC 3339. */
  deletionDate: string;
}

export interface EncryptOptions {
  keyId: string;
  plaintext: Buffer;
  encryptionContext?: EncryptionContext;
}

export interface EncryptResult {
  ciphertextBlob: Buffer;
  keyId: string;
}

export interface DecryptOptions {
  ciphertextBlob: Buffer;
  encryptionContext?: EncryptionContext;
  /** When given, the server refuses a blob made under another key (IncorrectKeyException). */
  keyId?: string;
}

export interface DecryptResult {
  plaintext: Buffer;
  keyId: string;
}

export interface ReEncryptOptions {
  ciphertextBlob: Buffer;
  sourceEncryptionContext?: EncryptionContext;
  destinationKeyId: string;
  destinationEncryptionContext?: EncryptionContext;
}

export interface ReEncryptResult {
  ciphertextBlob: Buffer;
  keyId: string;
  sourceKeyId: string;
}

export interface GenerateDataKeyOptions {
  keyId: string;
  /** `AES_256` or `AES_128`; give this or numberOfBytes. */
  keySpec?: 'AES_256' | 'AES_128';
  /** 1..1024. */
  numberOfBytes?: number;
  encryptionContext?: EncryptionContext;
}

export interface GenerateDataKeyResult {
  plaintext: Buffer;
  ciphertextBlob: Buffer;
  keyId: string;
}

export interface GenerateDataKeyWithoutPlaintextResult {
  ciphertextBlob: Buffer;
  keyId: string;
}
