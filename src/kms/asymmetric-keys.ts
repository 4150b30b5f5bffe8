import { algorithmFitsSpec, oaepEncrypt, verifyDigest, verifyMessage } from '../crypto/asymmetric.js';
import {
  digestLength,
  isAsymmetricEncryptionAlgorithm,
  isSigningAlgorithm,
  MAX_RAW_MESSAGE_BYTES,
  maxOaepPlaintextBytes,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type AsymmetricKeySpec,
  type SigningAlgorithm,
} from '../crypto/asymmetric-algorithms.js';
import { invalidCiphertext, InvalidKeyUsageException, KMSInvalidSignatureException, ValidationException } from '../errors.js';
import type { KeyRecord } from '../store/records.js';
import { requireOperation, type KeyKind, type KeyOperation, type KindContext, type MessageType } from './key-kinds/index.js';

export type { MessageType } from './key-kinds/index.js';

/**
 * The operations of asymmetric keys. Public-key operations (verify, encrypt, getpublickey)
 * are always local, with the public key stored in the key record; sign and decrypt go to the
 * key's private half, which its kind holds (here, or in another KMS).
 */
export class AsymmetricOperations {
  constructor(private readonly context: KindContext) {}

  private get registry() {
    return this.context.registry;
  }

  async getPublicKey(request: { keyId: string }): Promise<{ record: KeyRecord; publicKey: Buffer }> {
    const { record } = await this.keyFor(request.keyId, 'public-key', 'GetPublicKey');
    return { record, publicKey: Buffer.from(record.publicKey!, 'base64') };
  }

  async sign(request: {
    keyId: string;
    message: Buffer;
    messageType?: MessageType;
    signingAlgorithm: string;
  }): Promise<{ keyId: string; signature: Buffer; signingAlgorithm: SigningAlgorithm }> {
    const { record, kind } = await this.signingKey(request.keyId, 'Sign');
    const algorithm = requireSigningAlgorithm(record, request.signingAlgorithm);
    const messageType = request.messageType ?? 'RAW';
    checkMessage(algorithm, request.message, messageType);
    const signature = await privateHalf(kind).sign(record, algorithm, request.message, messageType, this.context);
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
    const { record } = await this.signingKey(request.keyId, 'Verify');
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
    const plaintext = await privateHalf(requireOperation(record, 'asymmetric-encrypt', 'Decrypt')).decrypt(record, algorithm, ciphertext, this.context);
    return { plaintext, keyId: record.keyId, encryptionAlgorithm: algorithm };
  }

  private async keyFor(keyIdInput: string, operation: KeyOperation, action: string): Promise<{ record: KeyRecord; kind: KeyKind }> {
    const record = await this.registry.usableKey(await this.registry.resolveKeyId(keyIdInput));
    return { record, kind: requireOperation(record, operation, action) };
  }

  private async signingKey(keyIdInput: string, action: string): Promise<{ record: KeyRecord; kind: KeyKind }> {
    const key = await this.keyFor(keyIdInput, 'sign', action);
    if (key.record.keyUsage !== 'SIGN_VERIFY') {
      throw new InvalidKeyUsageException(`${action} needs a SIGN_VERIFY key; '${key.record.keyId}' is ${key.record.keyUsage}`);
    }
    return key;
  }
}

/** The private half of a kind that supports sign or asymmetric decrypt. */
function privateHalf(kind: KeyKind): NonNullable<KeyKind['privateHalf']> {
  if (!kind.privateHalf) throw new Error(`keys of the ${kind.name} kind have no private key`);
  return kind.privateHalf;
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

