/**
 * The typed records persisted in LevelDB. Byte fields are standard base64 strings so that
 * every sublevel but `versions` is plain JSON, readable with any LevelDB tool.
 */

/**
 * The kinds of record a Keyhold store keeps, each in a sublevel (LevelDB) or table (PostgreSQL)
 * of this name, in the order a verifier walks them.
 */
export const SUBLEVEL_NAMES = ['meta', 'keys', 'versions', 'aliases', 'rotations', 'schedule', 'credentials', 'audit'] as const;
export type SublevelName = (typeof SUBLEVEL_NAMES)[number];

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC';
export type KeyOrigin = 'KEYHOLD' | 'AWS_KMS' | 'GCP_KMS' | 'EXTERNAL';

export interface Tag {
  TagKey: string;
  TagValue: string;
}

/** One customer master key's metadata (sublevel `keys`, by KeyId). */
export interface KeyRecord {
  keyId: string;
  description: string;
  keySpec: string;
  keyUsage: KeyUsage;
  keyState: KeyState;
  origin: KeyOrigin;
  /** RFC 3339. */
  creationDate: string;
  /** RFC 3339; set while the key is PendingDeletion. */
  deletionDate?: string;
  tags: Tag[];
  /** The newest version: encryption uses it; versions 1..currentVersion exist. */
  currentVersion: number;
  /** Automatic rotation; absent means never enabled. */
  rotation?: RotationSettings;
  /** Asymmetric keys: base64 of the DER SubjectPublicKeyInfo. */
  publicKey?: string;
  /** Asymmetric keys: the algorithms the key offers (AWS KMS's names). */
  signingAlgorithms?: string[];
  encryptionAlgorithms?: string[];
  /** Keys of another KMS (origin AWS_KMS or GCP_KMS): the key's name there. */
  providerKeyId?: string;
  /** Origin EXTERNAL, once material was imported (kept after the material is deleted or expires). */
  importedMaterial?: ImportedMaterial;
  /** Origin EXTERNAL: the newest GetParametersForImport's wrapping key, until used. */
  importParameters?: ImportParameters;
}

/** What the store keeps of imported key material besides its wrapped copy (the key's version 1). */
export interface ImportedMaterial {
  /** Base64 HMAC-SHA-256 of the material under a key derived from the root key: a reimport must match it. */
  fingerprint: string;
  expirationModel: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  /** RFC 3339; when the material expires (KEY_MATERIAL_EXPIRES). */
  validTo?: string;
  /** Set when the material was deleted or expired: version 1 is gone until it is imported again. */
  deleted?: true;
}

/** A wrapping key pair and its import token (GetParametersForImport), single-use. */
export interface ImportParameters {
  /** Base64 of the import token. */
  token: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  /** RFC 3339; 24 hours after it was made. */
  validTo: string;
  /** Base64 of the private key (PKCS#8 DER) wrapped under the root key; dropped when it expires. */
  wrappedPrivateKey?: string;
}

export interface RotationSettings {
  enabled: boolean;
  periodDays: number;
  /** RFC 3339; set while enabled. */
  nextRotationDate?: string;
}

/** One rotation of a key (sublevel `rotations`, by `<KeyId>!<version>`). */
export interface RotationRecord {
  keyId: string;
  version: number;
  /** RFC 3339. */
  rotationDate: string;
  rotationType: 'AUTOMATIC' | 'ON_DEMAND';
}

/** An alias (sublevel `aliases`, by alias name). */
export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  creationDate: string;
  lastUpdatedDate: string;
}

/** How the root key is wrapped: the store describes itself (sublevel `meta`, key `root`). */
export type MasterKeyDescriptor =
  | {
      kind: 'passphrase';
      kdf: 'pbkdf2-sha256';
      iterations: number;
      salt: string;
    }
  | {
      kind: 'passphrase';
      kdf: 'argon2id';
      memoryKiB: number;
      timeCost: number;
      parallelism: number;
      salt: string;
    }
  | {
      kind: 'pkcs11';
      keyLabel: string;
      mechanism: 'CKM_AES_GCM' | 'CKM_AES_KEY_WRAP_PAD';
    };

export interface RootKeyRecord {
  storeVersion: 1 | 2;
  master: MasterKeyDescriptor;
  /** Base64 of the root key wrapped by the master key (KEK). */
  wrappedRootKey: string;
  /** Base64 of the key-check value of the root key. */
  keyCheckValue: string;
  createdAt: string;
  /** When the root key was last rewrapped under a new master key. */
  rekeyedAt?: string;
}

/** An API credential (sublevel `credentials`, by AccessKeyId). */
export interface CredentialRecord {
  accessKeyId: string;
  /** Base64 of the 32-byte secret wrapped by the root key. */
  wrappedSecret: string;
  admin: boolean;
  description: string;
  createdAt: string;
  /** Absent in credentials made before credentials could be disabled: enabled. */
  enabled?: boolean;
  /** The policy document of a non-admin credential (validated when written). */
  policy?: object;
}

/**
 * One line of the audit trail as stores made before the chained trail (src/audit) wrote it
 * (sublevel `audit`, by time-ordered id); chained records follow them under `c!<Seq>`.
 */
export interface AuditRecord {
  time: string;
  action: string;
  principal: string;
  keyId?: string;
  detail?: string;
}
