import { randomUUID } from 'node:crypto';
import {
  algorithmFitsSpec,
  generateKeyPair,
  hashMessage,
  oaepDecrypt,
  oaepEncrypt,
  signDigest,
  signMessage,
  verifyDigest,
  verifyMessage,
} from '../crypto/asymmetric.js';
import {
  algorithmsFor,
  digestLength,
  isAsymmetricEncryptionAlgorithm,
  isAsymmetricKeySpec,
  isRsaSpec,
  isSigningAlgorithm,
  MAX_RAW_MESSAGE_BYTES,
  maxOaepPlaintextBytes,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type AsymmetricKeySpec,
  type SigningAlgorithm,
} from '../crypto/asymmetric-algorithms.js';
import {
  invalidCiphertext,
  InvalidKeyUsageException,
  KMSInternalException,
  KMSInvalidSignatureException,
  ValidationException,
} from '../errors.js';
import type { RemoteKeyProvider, RemoteKeyProviders } from '../providers/remote-keys/remote-key-provider.js';
import type { KeyOrigin, KeyRecord, KeyUsage, Tag } from '../store/records.js';
import type { Caller, KeyRegistry } from './key-registry.js';
import { mergeTags } from './tags.js';

export type MessageType = 'RAW' | 'DIGEST';

export interface CreateAsymmetricRequest {
  description?: string;
  keySpec?: string;
  keyUsage?: string;
  origin: KeyOrigin;
  providerKeyId?: string;
  tags?: Tag[];
}

/** Whether a key is asymmetric (its record has a public key). */
export function isAsymmetric(record: KeyRecord): boolean {
  return record.keySpec !== 'SYMMETRIC_DEFAULT';
}

/**
 * Asymmetric keys: local ones keep their private key in Keyhold, wrapped under the root key
 * like version keys; remote ones (AWS KMS, Google Cloud KMS) keep it in that KMS, and only
 * sign and decrypt go there. Public-key operations (verify, encrypt, getpublickey) are
 * always local, with the public key stored in the key record.
 */
export class AsymmetricOperations {
  constructor(
    private readonly registry: KeyRegistry,
    private readonly providers: RemoteKeyProviders | undefined,
  ) {}

  async create(request: CreateAsymmetricRequest, caller: Caller): Promise<KeyRecord> {
    const keyId = randomUUID();
    const now = this.registry.clock();
    const tags = mergeTags([], request.tags ?? []);
    const base = {
      keyId,
      description: request.description ?? '',
      keyState: 'Enabled' as const,
      origin: request.origin,
      creationDate: now.toISOString(),
      tags,
      currentVersion: 1,
    };
    const batch = this.registry.store.batch().auditChange(caller, { action: 'CreateKey', keyId, detail: { Origin: request.origin } }, now);
    if (request.origin === 'KEYHOLD') {
      /* Precondition: a local asymmetric key names a spec; RSA may encrypt, ECC only signs. */
      if (request.providerKeyId !== undefined) throw new ValidationException('ProviderKeyId is only for Origin AWS_KMS or GCP_KMS');
      const keySpec = requireSpec(request.keySpec);
      const keyUsage = requireUsage(keySpec, request.keyUsage);
      const { privateKey, publicKey } = await generateKeyPair(keySpec);
      const record: KeyRecord = {
        ...base,
        keySpec,
        keyUsage,
        publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        ...algorithmsFor(keySpec, keyUsage),
      };
      await this.registry.create(record, batch, this.registry.wrapPrivateKey(keyId, privateKey));
      return record;
    }
    /* Precondition: a remote key names its key in the other KMS. */
    if (!request.providerKeyId) throw new ValidationException(`ProviderKeyId is required for Origin ${request.origin}`);
    const provider = await this.provider(request.origin);
    const described = await provider.describe(request.providerKeyId);
    if (request.keySpec !== undefined && request.keySpec !== described.keySpec) {
      throw new ValidationException(`KeySpec '${request.keySpec}' does not match the ${request.origin} key, which is ${described.keySpec}`);
    }
    if (request.keyUsage !== undefined && request.keyUsage !== described.keyUsage) {
      throw new ValidationException(`KeyUsage '${request.keyUsage}' does not match the ${request.origin} key, which is ${described.keyUsage}`);
    }
    const record: KeyRecord = {
      ...base,
      keySpec: described.keySpec,
      keyUsage: described.keyUsage,
      publicKey: described.publicKey.toString('base64'),
      signingAlgorithms: described.signingAlgorithms,
      encryptionAlgorithms: described.encryptionAlgorithms,
      providerKeyId: request.providerKeyId,
    };
    await this.registry.create(record, batch, 'none');
    return record;
  }

  async getPublicKey(keyIdInput: string): Promise<{ record: KeyRecord; publicKey: Buffer }> {
    const record = await this.asymmetricKey(keyIdInput, 'GetPublicKey');
    return { record, publicKey: Buffer.from(record.publicKey!, 'base64') };
  }

  async sign(request: {
    keyId: string;
    message: Buffer;
    messageType?: MessageType;
    signingAlgorithm: string;
  }): Promise<{ keyId: string; signature: Buffer; signingAlgorithm: SigningAlgorithm }> {
    const record = await this.signingKey(request.keyId, 'Sign');
    const algorithm = requireSigningAlgorithm(record, request.signingAlgorithm);
    const messageType = request.messageType ?? 'RAW';
    checkMessage(algorithm, request.message, messageType);
    let signature: Buffer;
    if (record.origin === 'KEYHOLD') {
      const privateKey = await this.registry.privateKey(record);
      signature = messageType === 'RAW' ? signMessage(privateKey, algorithm, request.message) : signDigest(privateKey, algorithm, request.message);
    } else {
      // Only the digest leaves Keyhold, whatever the message type.
      const digest = messageType === 'RAW' ? hashMessage(algorithm, request.message) : request.message;
      signature = await (await this.provider(record.origin)).signDigest(record.providerKeyId!, algorithm, digest);
      /* Postcondition: the remote signature verifies with the public key Keyhold stored and answers
         with, so a key that changed behind its name (or a corrupted answer) is never passed on. */
      if (!verifyDigest(this.registry.publicKey(record), algorithm, digest, signature)) {
        throw new KMSInternalException(`The ${record.origin} signature does not verify with the key's registered public key`);
      }
    }
    return { keyId: record.keyId, signature, signingAlgorithm: algorithm };
  }

  /** Verified here with the stored public key, for local and remote keys alike. */
  async verify(request: {
    keyId: string;
    message: Buffer;
    messageType?: MessageType;
    signature: Buffer;
    signingAlgorithm: string;
  }): Promise<{ keyId: string; signingAlgorithm: SigningAlgorithm }> {
    const record = await this.signingKey(request.keyId, 'Verify');
    const algorithm = requireSigningAlgorithm(record, request.signingAlgorithm);
    const messageType = request.messageType ?? 'RAW';
    checkMessage(algorithm, request.message, messageType);
    const publicKey = this.registry.publicKey(record);
    const valid =
      messageType === 'RAW'
        ? verifyMessage(publicKey, algorithm, request.message, request.signature)
        : verifyDigest(publicKey, algorithm, request.message, request.signature);
    if (!valid) throw new KMSInvalidSignatureException('The signature is not valid for this message, key and algorithm');
    return { keyId: record.keyId, signingAlgorithm: algorithm };
  }

  async encrypt(
    record: KeyRecord,
    plaintext: Buffer,
    algorithmInput: string | undefined,
  ): Promise<{ ciphertextBlob: Buffer; keyId: string; encryptionAlgorithm: AsymmetricEncryptionAlgorithm }> {
    const algorithm = requireEncryptionAlgorithm(record, algorithmInput, 'Encrypt');
    const limit = maxOaepPlaintextBytes(record.keySpec as 'RSA_2048', algorithm);
    if (plaintext.length > limit) {
      throw new ValidationException(`Plaintext must be at most ${limit} bytes for ${record.keySpec} with ${algorithm}`);
    }
    return { ciphertextBlob: oaepEncrypt(this.registry.publicKey(record), algorithm, plaintext), keyId: record.keyId, encryptionAlgorithm: algorithm };
  }

  async decrypt(
    record: KeyRecord,
    ciphertext: Buffer,
    algorithmInput: string | undefined,
  ): Promise<{ plaintext: Buffer; keyId: string; encryptionAlgorithm: AsymmetricEncryptionAlgorithm }> {
    const algorithm = requireEncryptionAlgorithm(record, algorithmInput, 'Decrypt');
    const modulusBytes = Number(record.keySpec.slice(4)) / 8;
    /* Precondition: an RSA ciphertext is exactly as long as the modulus. */
    if (ciphertext.length !== modulusBytes) throw invalidCiphertext();
    if (record.origin === 'KEYHOLD') {
      const privateKey = await this.registry.privateKey(record);
      try {
        return { plaintext: oaepDecrypt(privateKey, algorithm, ciphertext), keyId: record.keyId, encryptionAlgorithm: algorithm };
      } catch {
        throw invalidCiphertext();
      }
    }
    const plaintext = await (await this.provider(record.origin)).decrypt(record.providerKeyId!, algorithm, ciphertext);
    return { plaintext, keyId: record.keyId, encryptionAlgorithm: algorithm };
  }

  private async asymmetricKey(keyIdInput: string, action: string): Promise<KeyRecord> {
    const record = await this.registry.usableKey(await this.registry.resolveKeyId(keyIdInput));
    if (!isAsymmetric(record)) {
      throw new InvalidKeyUsageException(`${action} needs an asymmetric key; '${record.keyId}' is SYMMETRIC_DEFAULT`);
    }
    return record;
  }

  private async signingKey(keyIdInput: string, action: string): Promise<KeyRecord> {
    const record = await this.asymmetricKey(keyIdInput, action);
    if (record.keyUsage !== 'SIGN_VERIFY') {
      throw new InvalidKeyUsageException(`${action} needs a SIGN_VERIFY key; '${record.keyId}' is ${record.keyUsage}`);
    }
    return record;
  }

  private async provider(origin: KeyOrigin): Promise<RemoteKeyProvider> {
    if (origin === 'KEYHOLD' || !this.providers) throw new ValidationException(`Origin ${origin} is not available on this server`);
    return this.providers.get(origin);
  }
}

function requireSpec(value: string | undefined): AsymmetricKeySpec {
  if (value === undefined || !isAsymmetricKeySpec(value)) {
    throw new ValidationException(
      `KeySpec '${String(value).slice(0, 64)}' is not supported; use SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256 or ECC_NIST_P384`,
    );
  }
  return value;
}

function requireUsage(spec: AsymmetricKeySpec, value: string | undefined): KeyUsage {
  /* Precondition: the usage is given for asymmetric keys (as AWS KMS requires) and fits the spec. */
  if (value !== 'SIGN_VERIFY' && value !== 'ENCRYPT_DECRYPT') {
    throw new ValidationException(`KeyUsage must be SIGN_VERIFY or ENCRYPT_DECRYPT for a ${spec} key`);
  }
  if (value === 'ENCRYPT_DECRYPT' && !isRsaSpec(spec)) {
    throw new ValidationException(`KeyUsage ENCRYPT_DECRYPT is only for RSA keys; ${spec} keys are SIGN_VERIFY`);
  }
  return value;
}

function requireSigningAlgorithm(record: KeyRecord, value: string): SigningAlgorithm {
  if (!isSigningAlgorithm(value)) throw new ValidationException(`SigningAlgorithm '${value.slice(0, 64)}' is not supported`);
  if (!(record.signingAlgorithms ?? []).includes(value) || !algorithmFitsSpec(value, record.keySpec as AsymmetricKeySpec)) {
    throw new InvalidKeyUsageException(
      `Key '${record.keyId}' does not sign with ${value}; it offers ${(record.signingAlgorithms ?? []).join(', ')}`,
    );
  }
  return value;
}

function requireEncryptionAlgorithm(record: KeyRecord, value: string | undefined, action: string): AsymmetricEncryptionAlgorithm {
  if (record.keyUsage !== 'ENCRYPT_DECRYPT') {
    throw new InvalidKeyUsageException(`${action} needs an ENCRYPT_DECRYPT key; '${record.keyId}' is ${record.keyUsage}`);
  }
  if (value === undefined) throw new ValidationException(`EncryptionAlgorithm is required for the asymmetric key '${record.keyId}'`);
  if (!isAsymmetricEncryptionAlgorithm(value) || !(record.encryptionAlgorithms ?? []).includes(value)) {
    throw new InvalidKeyUsageException(
      `Key '${record.keyId}' does not encrypt with ${value.slice(0, 64)}; it offers ${(record.encryptionAlgorithms ?? []).join(', ')}`,
    );
  }
  return value;
}

function checkMessage(algorithm: SigningAlgorithm, message: Buffer, messageType: MessageType): void {
  if (messageType === 'DIGEST') {
    const length = digestLength(signingHash(algorithm));
    if (message.length !== length) {
      throw new ValidationException(`A DIGEST message for ${algorithm} must be ${length} bytes (a ${signingHash(algorithm).toUpperCase()} digest)`);
    }
  } else if (message.length > MAX_RAW_MESSAGE_BYTES) {
    throw new ValidationException(`A RAW message must be at most ${MAX_RAW_MESSAGE_BYTES} bytes; hash longer ones and send MessageType DIGEST`);
  }
}

