/**
 * What the convenience methods of KeyholdClient take and return. Options are camelCase and
 * bytes are Buffers; on the wire they become the AWS KMS field names and standard base64.
 * Key metadata, credentials and audit records are returned as the server sends them, with
 * AWS field names (src/protocol/types.ts).
 */
import type { AuditEvent, Credential, KeyMetadata } from '../protocol/types.js';
import type { KeyholdApiError } from './errors.js';

export type { AuditEvent, Credential, KeyMetadata, KeyState } from '../protocol/types.js';

export type EncryptionContext = Record<string, string>;

/** `SYMMETRIC_DEFAULT` (AES-256-GCM, the default) or an asymmetric spec. */
export type KeySpec =
  | 'SYMMETRIC_DEFAULT'
  | 'RSA_2048'
  | 'RSA_3072'
  | 'RSA_4096'
  | 'ECC_NIST_P256'
  | 'ECC_NIST_P384'
  | 'HMAC_224'
  | 'HMAC_256'
  | 'HMAC_384'
  | 'HMAC_512'
  | (string & {});

/** `GENERATE_VERIFY_MAC` is the usage of HMAC keys, and must be given with an HMAC KeySpec. */
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | (string & {});

/** Where the private key lives: in Keyhold (`KEYHOLD`, default), or in AWS KMS / Google Cloud KMS. */
export type KeyOrigin = 'KEYHOLD' | 'AWS_KMS' | 'GCP_KMS' | 'EXTERNAL' | (string & {});

/** AWS KMS's names. ECDSA signatures are DER-encoded; PSS uses a salt as long as the hash. */
export type SigningAlgorithm =
  | 'RSASSA_PSS_SHA_256'
  | 'RSASSA_PSS_SHA_384'
  | 'RSASSA_PSS_SHA_512'
  | 'RSASSA_PKCS1_V1_5_SHA_256'
  | 'RSASSA_PKCS1_V1_5_SHA_384'
  | 'RSASSA_PKCS1_V1_5_SHA_512'
  | 'ECDSA_SHA_256'
  | 'ECDSA_SHA_384'
  | (string & {});

/** `SYMMETRIC_DEFAULT` for symmetric keys; RSAES-OAEP for RSA ENCRYPT_DECRYPT keys. */
export type EncryptionAlgorithm = 'SYMMETRIC_DEFAULT' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | (string & {});

/** `RAW`: the server hashes the message (1..4096 bytes). `DIGEST`: the message is the hash already. */
export type MessageType = 'RAW' | 'DIGEST';

export interface CreateKeyOptions {
  description?: string;
  keySpec?: KeySpec;
  keyUsage?: KeyUsage;
  /** `AWS_KMS` or `GCP_KMS` registers a remote key named by providerKeyId; its spec and usage are read from it. */
  origin?: KeyOrigin;
  /** AWS: the key ARN. GCP: `projects/…/locations/…/keyRings/…/cryptoKeys/…/cryptoKeyVersions/N`. */
  providerKeyId?: string;
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
  /** Required for an RSA ENCRYPT_DECRYPT key (`RSAES_OAEP_SHA_1` or `RSAES_OAEP_SHA_256`). */
  encryptionAlgorithm?: EncryptionAlgorithm;
}

export interface EncryptResult {
  /** For an RSA key, the raw RSAES-OAEP ciphertext (as long as the modulus). */
  ciphertextBlob: Buffer;
  keyId: string;
  /** As the server reports it; absent from servers that predate asymmetric keys. */
  encryptionAlgorithm?: EncryptionAlgorithm;
}

export interface DecryptOptions {
  ciphertextBlob: Buffer;
  encryptionContext?: EncryptionContext;
  /**
   * When given, the server refuses a blob made under another key (IncorrectKeyException).
   * Required for an RSA key: its ciphertext does not name the key.
   */
  keyId?: string;
  /** Required for an RSA key: the algorithm it was encrypted with. */
  encryptionAlgorithm?: EncryptionAlgorithm;
}

export interface DecryptResult {
  plaintext: Buffer;
  keyId: string;
  encryptionAlgorithm?: EncryptionAlgorithm;
}

export interface GetPublicKeyResult {
  keyId: string;
  /** DER SubjectPublicKeyInfo; `crypto.createPublicKey({ key, format: 'der', type: 'spki' })` reads it. */
  publicKey: Buffer;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  /** Empty unless the key is for SIGN_VERIFY. */
  signingAlgorithms: SigningAlgorithm[];
  /** Empty unless the key is for ENCRYPT_DECRYPT. */
  encryptionAlgorithms: EncryptionAlgorithm[];
}

export interface SignOptions {
  keyId: string;
  /** RAW: 1..4096 bytes, hashed by the server. DIGEST: exactly the algorithm's hash length. */
  message: Buffer;
  /** Default `RAW`. */
  messageType?: MessageType;
  signingAlgorithm: SigningAlgorithm;
}

export interface SignResult {
  keyId: string;
  /** ECDSA: DER-encoded `ECDSA-Sig-Value`, as AWS KMS returns it. */
  signature: Buffer;
  signingAlgorithm: SigningAlgorithm;
}

export interface VerifyOptions extends SignOptions {
  signature: Buffer;
}

export interface VerifyResult {
  keyId: string;
  /** `false` when the server answered KMSInvalidSignatureException; every other error throws. */
  signatureValid: boolean;
  signingAlgorithm: SigningAlgorithm;
}

export interface ReEncryptOptions {
  ciphertextBlob: Buffer;
  sourceEncryptionContext?: EncryptionContext;
  /** When given, the server refuses a blob made under another key (IncorrectKeyException). */
  sourceKeyId?: string;
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

/**
 * One item's outcome in a batch (batchEncrypt, …): its result, or the typed error of that item
 * alone (`error.type` as a single call would have answered it; `error.status` is 200, the batch's).
 */
export type BatchItemResult<T> = { ok: true; result: T } | { ok: false; error: KeyholdApiError };

export interface GenerateDataKeyWithoutPlaintextResult {
  ciphertextBlob: Buffer;
  keyId: string;
}

export type DataKeyPairSpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096' | 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521' | 'ECC_SECG_P256K1';

export interface GenerateDataKeyPairOptions {
  /** The symmetric key that encrypts the private key. */
  keyId: string;
  keyPairSpec: DataKeyPairSpec;
  encryptionContext?: EncryptionContext;
}

export interface GenerateDataKeyPairWithoutPlaintextResult {
  /** The private key encrypted under keyId: `decrypt` (with the same context) gives back its PKCS#8 DER. */
  privateKeyCiphertextBlob: Buffer;
  /** DER X.509 SubjectPublicKeyInfo. */
  publicKey: Buffer;
  keyId: string;
  keyPairSpec: DataKeyPairSpec;
}

export interface GenerateDataKeyPairResult extends GenerateDataKeyPairWithoutPlaintextResult {
  /** DER PKCS#8 PrivateKeyInfo. Zero it when done. */
  privateKeyPlaintext: Buffer;
}

export interface CreateCredentialOptions {
  description?: string;
  /** An admin may do everything, credential actions included; it takes no policy. */
  admin?: boolean;
  /** The policy document, as an object or its JSON text; required unless `admin`. */
  policy?: object | string;
}

export interface CreateCredentialResult {
  credential: Credential;
  /** The 32-byte secret. The server shows it this once; wipe it (`fill(0)`) once stored. */
  secretKey: Buffer;
}

export interface ListCredentialsOptions {
  limit?: number;
  marker?: string;
}

export interface ListCredentialsResult {
  credentials: Credential[];
  nextMarker?: string;
  truncated: boolean;
}

export interface ListAuditEventsOptions {
  /** A Date, or a string the server reads: RFC 3339 / ISO 8601. */
  startTime?: Date | string;
  endTime?: Date | string;
  /** The key's UUID, as records name it. */
  keyId?: string;
  principal?: string;
  action?: string;
  outcome?: string;
  /** 1..1000; the server's default is 100. */
  limit?: number;
  marker?: string;
  /**
   * Mark each record `Verified: true|false`: its MAC is right and it follows the record before
   * it. It does not show that records were removed from the end (`keyhold admin audit verify` does).
   */
  verify?: boolean;
}

export interface ListAuditEventsResult {
  /** Oldest first. */
  events: AuditEvent[];
  /**
   * Where the next call goes on from. Given whenever the server read any record, also when
   * `truncated` is false: a follower calls again with it to get only newer records.
   */
  nextMarker?: string;
  /** More records existed after this page when it was read. */
  truncated: boolean;
}

/** The one MAC algorithm of each HMAC KeySpec: `HMAC_SHA_256` for `HMAC_256`, and so on. */
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512' | (string & {});

export interface GenerateMacOptions {
  keyId: string;
  /** 1..4096 bytes. */
  message: Buffer;
  macAlgorithm: MacAlgorithm;
}

export interface GenerateMacResult {
  keyId: string;
  /** The HMAC (RFC 2104) of the message under the key's secret: as long as the algorithm's hash. */
  mac: Buffer;
  macAlgorithm: MacAlgorithm;
}

export interface VerifyMacOptions extends GenerateMacOptions {
  mac: Buffer;
}

export interface VerifyMacResult {
  keyId: string;
  /** `false` when the server answered KMSInvalidMacException; every other error throws. */
  macValid: boolean;
  macAlgorithm: MacAlgorithm;
}

/** getParametersForImport: how the material will be wrapped (AWS KMS's names). */
export interface GetParametersForImportOptions {
  keyId: string;
  wrappingAlgorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256';
  wrappingKeySpec: 'RSA_2048' | 'RSA_3072' | 'RSA_4096';
}

export interface GetParametersForImportResult {
  keyId: string;
  importToken: Buffer;
  /** DER SubjectPublicKeyInfo of the RSA wrapping key. */
  publicKey: Buffer;
  /** RFC 3339: 24 hours after the call. */
  parametersValidTo: string;
}

export interface ImportKeyMaterialOptions {
  keyId: string;
  importToken: Buffer;
  encryptedKeyMaterial: Buffer;
  /** Default (the server's) KEY_MATERIAL_EXPIRES, which needs validTo. */
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  validTo?: Date | string;
}

export interface ImportKeyMaterialResult {
  keyId: string;
  /** Hex; names this key's material (the same on every reimport). */
  keyMaterialId: string;
}
