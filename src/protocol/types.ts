/**
 * The shapes the server sends and the client reads, declared once: the server builds its
 * answers as these types and the client returns them as they are. AWS KMS's field names;
 * dates are RFC 3339 strings.
 */

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';

/** A key, as createkey, describekey, listkeys and the key-state actions answer it. */
export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  Description: string;
  /** RFC 3339. */
  CreationDate: string;
  /** Whether KeyState is `Enabled`. */
  Enabled: boolean;
  KeyState: KeyState;
  /** `SYMMETRIC_DEFAULT` (AES-256-GCM), an asymmetric spec (`RSA_2048`, `ECC_NIST_P256`, …) or an HMAC spec (`HMAC_256`, …). */
  KeySpec: string;
  /** The same as KeySpec: AWS KMS's older name for it, which some SDKs still read. */
  CustomerMasterKeySpec: string;
  KeyUsage: 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC';
  /** Where the key lives: in Keyhold, or in AWS KMS / Google Cloud KMS; EXTERNAL: Keyhold, with imported material. */
  Origin: 'KEYHOLD' | 'AWS_KMS' | 'GCP_KMS' | 'EXTERNAL';
  KeyManager: 'CUSTOMER';
  /**
   * `['SYMMETRIC_DEFAULT']` for a symmetric key; the RSAES-OAEP algorithms, or none, for an
   * asymmetric one; absent for an HMAC key, as in AWS KMS.
   */
  EncryptionAlgorithms?: string[];
  /** Asymmetric keys only (empty unless the key is for SIGN_VERIFY). */
  SigningAlgorithms?: string[];
  /** HMAC keys only: the one MAC algorithm of the key's spec (`HMAC_SHA_256` for `HMAC_256`). */
  MacAlgorithms?: string[];
  /** Keys of another KMS (origin AWS_KMS or GCP_KMS): the key's name there. */
  ProviderKeyId?: string;
  /** The newest version: encryption uses it; versions 1..CurrentKeyVersion exist. */
  CurrentKeyVersion: number;
  KeyRotationEnabled: boolean;
  /** While automatic rotation is enabled. */
  RotationPeriodInDays?: number;
  /** RFC 3339, while automatic rotation is enabled. */
  NextRotationDate?: string;
  /** The key's aliases (`alias/…`). */
  Aliases: string[];
  /** RFC 3339, while PendingDeletion. */
  DeletionDate?: string;
  /** Origin EXTERNAL, while the key holds imported material. */
  ExpirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  /** RFC 3339: when the imported material expires (ExpirationModel KEY_MATERIAL_EXPIRES). */
  ValidTo?: string;
}

/** A credential as the server shows it: never its secret. */
export interface Credential {
  AccessKeyId: string;
  Description: string;
  Admin: boolean;
  Enabled: boolean;
  /** RFC 3339. */
  CreationDate: string;
  /** RFC 3339, coarse (written at most hourly). */
  LastUsedDate?: string;
  /** The policy document, for a credential that is not an admin. */
  Policy?: object;
}

/**
 * One audit record, as stored and as listauditevents answers it. Each carries the HMAC of its
 * canonical JSON (Mac) and the Mac of the record before it in its chain (PrevMac).
 */
/** One item of a batch request, as its audit record lists it. */
export interface AuditItem {
  KeyId: string | null;
  /** `Success`, or the item's error type. */
  Outcome: string;
  EncryptionContext?: Record<string, string>;
}

export interface AuditEvent {
  /** The writing process's chain, and the record's number in the trail. */
  Chain: string;
  Seq: number;
  /** RFC 3339. */
  Time: string;
  RequestId: string | null;
  /** An access key id, `go-kms-legacy`, `system` (the scheduler, offline commands) or `anonymous`. */
  Principal: string;
  SourceIp: string | null;
  /** The action's AWS-style name (`Encrypt`, `CreateCredential`, …). */
  Action: string;
  KeyId: string | null;
  /** `Success`, or the error's type (`AccessDeniedException`, …). */
  Outcome: string;
  /** The request's encryption context, as AWS CloudTrail records it (never plaintext). */
  EncryptionContext?: Record<string, string>;
  /** A batch request's items, in order: each item's key, outcome and encryption context (one record per batch). */
  Items?: AuditItem[];
  Detail?: Record<string, string | number | boolean>;
  PrevMac: string;
  Mac: string;
  /**
   * Only in listauditevents' answer when asked (`Verify`), never stored: whether the record's Mac
   * is right under the audit key and it follows the record before it (or the retention anchor).
   */
  Verified?: boolean;
}
