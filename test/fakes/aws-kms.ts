import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  algorithmsFor,
  eccCurve,
  isAsymmetricEncryptionAlgorithm,
  isAsymmetricKeySpec,
  isRsaSpec,
  isSigningAlgorithm,
  maxOaepPlaintextBytes,
  MAX_RAW_MESSAGE_BYTES,
  rsaModulusBits,
  type AsymmetricKeySpec,
} from '../../src/crypto/asymmetric-algorithms.js';
import { oaepDecrypt, oaepEncrypt, signDigest, signMessage, verifyDigest, verifyMessage } from '../../src/crypto/asymmetric.js';

/**
 * An in-test AWS KMS: a node:http server on 127.0.0.1 speaking AWS JSON 1.1 (POST /,
 * X-Amz-Target: TrentService.<Action>, blobs base64, errors as { __type, message }), backed by
 * real node:crypto key pairs. The real @aws-sdk/client-kms talks to it via AWS_ENDPOINT_URL_KMS.
 *
 * Like AWS, a key lives in one region: a request signed for another region (the SigV4
 * credential scope) does not find it. SigV4 signatures are required but not verified.
 */

/** Key specs the fake can hold: Keyhold's, plus ones Keyhold must refuse. */
export type FakeKeySpec = AsymmetricKeySpec | 'ECC_SECG_P256K1' | 'SYMMETRIC_DEFAULT';
export type FakeKeyUsage = 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT';
export type FakeKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type FakeFailure = 'throttle' | 'internal' | 'hang' | 'access-denied';

export interface FakeAwsKmsRequest {
  /** X-Amz-Target, e.g. TrentService.Sign. */
  target: string;
  headers: IncomingHttpHeaders;
  /** Region of the SigV4 credential scope, if the request was signed. */
  region: string | undefined;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
}

export interface FakeAwsKmsKey {
  arn: string;
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface FakeAwsKms {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Every request seen, in order (including failed and hung ones). */
  readonly requests: FakeAwsKmsRequest[];
  addKey(spec: FakeKeySpec, usage: FakeKeyUsage, region?: string): FakeAwsKmsKey;
  /** Replaces fields of the key's GetPublicKey answers, as a newer or broken AWS might answer. */
  misdescribe(arn: string, fields: GetPublicKeyOverrides): void;
  setKeyState(arn: string, state: FakeKeyState): void;
  /** Forgets the key: later requests answer NotFoundException. */
  deleteKey(arn: string): void;
  /** The next `count` requests fail this way, whatever they ask. */
  failNext(count: number, kind: FakeFailure): void;
  /** The next `count` requests are answered (normally) only after `delayMs`. */
  slowNext(count: number, delayMs: number): void;
  /** Drops failures and delays queued by failNext and slowNext that no request has used yet. */
  resetFailures(): void;
  /** Answers the next Sign with this signature instead of a real one. */
  corruptNextSignature(signature: Buffer): void;
  close(): Promise<void>;
}

export const FAKE_ACCOUNT = '111122223333';

export interface GetPublicKeyOverrides {
  PublicKey?: Buffer;
  KeySpec?: string;
  SigningAlgorithms?: string[];
  EncryptionAlgorithms?: string[];
}

interface StoredKey extends FakeAwsKmsKey {
  spec: FakeKeySpec;
  usage: FakeKeyUsage;
  region: string;
  state: FakeKeyState;
  signingAlgorithms: string[];
  encryptionAlgorithms: string[];
  overrides: GetPublicKeyOverrides;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function makeKeyPair(spec: FakeKeySpec): { privateKey: KeyObject; publicKey: KeyObject } {
  if (spec === 'SYMMETRIC_DEFAULT') return generateKeyPairSync('ec', { namedCurve: 'P-256' }); // never exposed
  if (spec === 'ECC_SECG_P256K1') return generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  if (isRsaSpec(spec)) return generateKeyPairSync('rsa', { modulusLength: rsaModulusBits(spec) });
  return generateKeyPairSync('ec', { namedCurve: eccCurve(spec) });
}

function advertisedAlgorithms(spec: FakeKeySpec, usage: FakeKeyUsage) {
  if (spec === 'SYMMETRIC_DEFAULT') return { signingAlgorithms: [], encryptionAlgorithms: ['SYMMETRIC_DEFAULT'] };
  if (spec === 'ECC_SECG_P256K1') return { signingAlgorithms: ['ECDSA_SHA_256'], encryptionAlgorithms: [] };
  return algorithmsFor(spec, usage) as { signingAlgorithms: string[]; encryptionAlgorithms: string[] };
}

/** The region of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/kms/aws4_request, …`. */
function signingRegion(authorization: string | undefined): string | undefined {
  return /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/kms\/aws4_request,/.exec(authorization ?? '')?.[1];
}

function accessKeyId(authorization: string | undefined): string {
  return /Credential=([^/]+)\//.exec(authorization ?? '')?.[1] ?? 'unknown';
}

function blob(body: Record<string, unknown>, field: string, required = true): Buffer {
  const value = body[field];
  if (typeof value !== 'string' || (required && value.length === 0)) {
    throw new AwsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint`);
  }
  return Buffer.from(value, 'base64');
}

function keyMetadata(key: StoredKey) {
  return {
    AWSAccountId: FAKE_ACCOUNT,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: 1_700_000_000,
    Enabled: key.state === 'Enabled',
    Description: '',
    KeyUsage: key.spec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : key.usage,
    KeyState: key.state,
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.spec,
    KeySpec: key.spec,
    MultiRegion: false,
    ...(key.signingAlgorithms.length ? { SigningAlgorithms: key.signingAlgorithms } : {}),
    ...(key.encryptionAlgorithms.length ? { EncryptionAlgorithms: key.encryptionAlgorithms } : {}),
  };
}

export async function startFakeAwsKms(): Promise<FakeAwsKms> {
  const keys = new Map<string, StoredKey>();
  const requests: FakeAwsKmsRequest[] = [];
  const failures: FakeFailure[] = [];
  const delays: number[] = [];
  const corruptSignatures: Buffer[] = [];

  function findKey(body: Record<string, unknown>, region: string | undefined): StoredKey {
    const keyId = body.KeyId;
    if (typeof keyId !== 'string' || keyId.length === 0) {
      throw new AwsError('ValidationException', "1 validation error detected: Value at 'keyId' failed to satisfy constraint");
    }
    for (const key of keys.values()) {
      if ((key.arn === keyId || key.keyId === keyId) && key.region === region) return key;
    }
    throw new AwsError('NotFoundException', `Key '${keyId}' does not exist`);
  }

  function usableKey(body: Record<string, unknown>, region: string | undefined, usage: FakeKeyUsage): StoredKey {
    const key = findKey(body, region);
    if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    if (key.state !== 'Enabled') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    if (key.usage !== usage || !isAsymmetricKeySpec(key.spec)) {
      throw new AwsError('InvalidKeyUsageException', `You cannot perform this operation on a ${key.spec} / ${key.usage} key.`);
    }
    return key;
  }

  function signingAlgorithmOf(key: StoredKey, body: Record<string, unknown>) {
    const algorithm = String(body.SigningAlgorithm);
    if (!isSigningAlgorithm(algorithm) || !key.signingAlgorithms.includes(algorithm)) {
      throw new AwsError('InvalidKeyUsageException', `SigningAlgorithm ${algorithm} is not compatible with key ${key.arn}.`);
    }
    return algorithm;
  }

  function encryptionAlgorithmOf(key: StoredKey, body: Record<string, unknown>) {
    const algorithm = String(body.EncryptionAlgorithm);
    if (!isAsymmetricEncryptionAlgorithm(algorithm) || !key.encryptionAlgorithms.includes(algorithm)) {
      throw new AwsError('InvalidKeyUsageException', `EncryptionAlgorithm ${algorithm} is not compatible with key ${key.arn}.`);
    }
    return algorithm;
  }

  const actions: Record<string, (body: Record<string, unknown>, region: string | undefined) => unknown> = {
    DescribeKey(body, region) {
      return { KeyMetadata: keyMetadata(findKey(body, region)) };
    },
    GetPublicKey(body, region) {
      const key = findKey(body, region);
      if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
      if (key.state !== 'Enabled') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
      if (key.spec === 'SYMMETRIC_DEFAULT') throw new AwsError('UnsupportedOperationException', `${key.arn} key usage is not supported.`);
      const metadata = keyMetadata(key);
      const { PublicKey = key.publicKey.export({ format: 'der', type: 'spki' }), ...fields } = key.overrides;
      return {
        KeyId: key.arn,
        PublicKey: PublicKey.toString('base64'),
        CustomerMasterKeySpec: metadata.KeySpec,
        KeySpec: metadata.KeySpec,
        KeyUsage: metadata.KeyUsage,
        ...(metadata.SigningAlgorithms ? { SigningAlgorithms: metadata.SigningAlgorithms } : {}),
        ...(metadata.EncryptionAlgorithms ? { EncryptionAlgorithms: metadata.EncryptionAlgorithms } : {}),
        ...fields,
      };
    },
    Sign(body, region) {
      const key = usableKey(body, region, 'SIGN_VERIFY');
      const algorithm = signingAlgorithmOf(key, body);
      const message = blob(body, 'Message');
      const signature = corruptSignatures.shift() ?? signBy(key, algorithm, message, body.MessageType);
      return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm };
    },
    Verify(body, region) {
      const key = usableKey(body, region, 'SIGN_VERIFY');
      const algorithm = signingAlgorithmOf(key, body);
      const message = blob(body, 'Message');
      const signature = blob(body, 'Signature');
      const valid =
        messageType(body.MessageType) === 'DIGEST'
          ? checkedDigest(() => verifyDigest(key.publicKey, algorithm, message, signature))
          : verifyMessage(key.publicKey, algorithm, message, signature);
      if (!valid) throw new AwsError('KMSInvalidSignatureException', 'Signature is invalid.');
      return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
    },
    Encrypt(body, region) {
      const key = usableKey(body, region, 'ENCRYPT_DECRYPT');
      const algorithm = encryptionAlgorithmOf(key, body);
      const plaintext = blob(body, 'Plaintext');
      if (plaintext.length > maxOaepPlaintextBytes(key.spec as 'RSA_2048', algorithm)) {
        throw new AwsError('ValidationException', 'Plaintext is too long for this key and algorithm.');
      }
      const ciphertext = oaepEncrypt(key.publicKey, algorithm, plaintext);
      return { KeyId: key.arn, CiphertextBlob: ciphertext.toString('base64'), EncryptionAlgorithm: algorithm };
    },
    Decrypt(body, region) {
      const key = usableKey(body, region, 'ENCRYPT_DECRYPT');
      const algorithm = encryptionAlgorithmOf(key, body);
      const ciphertext = blob(body, 'CiphertextBlob');
      let plaintext: Buffer;
      try {
        plaintext = oaepDecrypt(key.privateKey, algorithm, ciphertext);
      } catch {
        throw new AwsError('InvalidCiphertextException', 'The ciphertext is invalid (detail from the fake).');
      }
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: algorithm };
    },
  };

  function messageType(value: unknown): 'RAW' | 'DIGEST' {
    if (value === undefined || value === 'RAW') return 'RAW';
    if (value === 'DIGEST') return 'DIGEST';
    throw new AwsError('ValidationException', `Value '${String(value)}' at 'messageType' failed to satisfy constraint`);
  }

  function checkedDigest<T>(operation: () => T): T {
    try {
      return operation();
    } catch {
      throw new AwsError('ValidationException', 'Digest is invalid length for algorithm.');
    }
  }

  function signBy(key: StoredKey, algorithm: ReturnType<typeof signingAlgorithmOf>, message: Buffer, type: unknown): Buffer {
    if (messageType(type) === 'DIGEST') return checkedDigest(() => signDigest(key.privateKey, algorithm, message));
    if (message.length > MAX_RAW_MESSAGE_BYTES) throw new AwsError('ValidationException', 'Message is too long; use DIGEST.');
    return signMessage(key.privateKey, algorithm, message);
  }

  function send(response: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    response.end(text);
  }

  function sendError(response: ServerResponse, error: AwsError): void {
    send(response, error.status, { __type: error.type, message: error.message });
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const target = String(request.headers['x-amz-target'] ?? '');
    const authorization = request.headers.authorization;
    const region = signingRegion(authorization);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      // answered below as a SerializationException
    }
    requests.push({ target, headers: request.headers, region, body });

    if (request.method !== 'POST' || request.url !== '/' || request.headers['content-type'] !== 'application/x-amz-json-1.1') {
      return sendError(response, new AwsError('SerializationException', 'Expected POST / with application/x-amz-json-1.1.'));
    }
    if (!region) {
      return sendError(response, new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token'));
    }
    const delayMs = delays.shift();
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const failure = failures.shift();
    if (failure === 'hang') return; // never answered; close() drops the connection
    if (failure === 'throttle') return sendError(response, new AwsError('ThrottlingException', 'Rate exceeded'));
    if (failure === 'internal') return sendError(response, new AwsError('KMSInternalException', 'internal failure in the fake', 500));
    if (failure === 'access-denied') {
      const who = accessKeyId(authorization);
      return sendError(
        response,
        new AwsError('AccessDeniedException', `User with access key ${who} is not authorized to perform ${target} (remote detail)`),
      );
    }

    const action = target.startsWith('TrentService.') ? actions[target.slice('TrentService.'.length)] : undefined;
    if (!action) return sendError(response, new AwsError('UnknownOperationException', `Unknown operation ${target}`));
    try {
      send(response, 200, action(body, region));
    } catch (error) {
      if (error instanceof AwsError) return sendError(response, error);
      sendError(response, new AwsError('KMSInternalException', 'fake failure', 500));
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  function storedKey(arn: string): StoredKey {
    const key = keys.get(arn);
    if (!key) throw new Error(`the fake AWS KMS has no key ${arn}`);
    return key;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addKey(spec, usage, region = 'us-east-1') {
      const keyId = randomUUID();
      const arn = `arn:aws:kms:${region}:${FAKE_ACCOUNT}:key/${keyId}`;
      const { privateKey, publicKey } = makeKeyPair(spec);
      const advertised = advertisedAlgorithms(spec, usage);
      const key: StoredKey = {
        arn,
        keyId,
        privateKey,
        publicKey,
        spec,
        usage,
        region,
        state: 'Enabled',
        signingAlgorithms: advertised.signingAlgorithms,
        encryptionAlgorithms: advertised.encryptionAlgorithms,
        overrides: {},
      };
      keys.set(arn, key);
      return { arn, keyId, privateKey, publicKey };
    },
    misdescribe(arn, fields) {
      storedKey(arn).overrides = fields;
    },
    setKeyState(arn, state) {
      storedKey(arn).state = state;
    },
    deleteKey(arn) {
      storedKey(arn);
      keys.delete(arn);
    },
    failNext(count, kind) {
      for (let i = 0; i < count; i++) failures.push(kind);
    },
    slowNext(count, delayMs) {
      for (let i = 0; i < count; i++) delays.push(delayMs);
    },
    resetFailures() {
      failures.length = 0;
      delays.length = 0;
    },
    corruptNextSignature(signature) {
      corruptSignatures.push(signature);
    },
    async close() {
      failures.length = 0;
      delays.length = 0;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
