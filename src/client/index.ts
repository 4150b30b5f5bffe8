import { randomBytes } from 'node:crypto';
/**
 * The Keyhold client: signs each request (src/protocol/signing.ts), sends it over HTTPS with a
 * keep-alive agent, optionally pinned to one self-signed certificate, and turns answers into
 * values or typed errors. The CLI, the tests and applications all use it; it depends on
 * nothing of the server.
 */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { readCredentialsFile } from './credentials-file.js';
import { KeyholdApiError, KeyholdConnectionError } from './errors.js';
import { PinnedAgent } from './pinned-agent.js';
import { signRequest } from '../protocol/signing.js';
import { isStandardBase64 } from '../protocol/base64.js';
import { base64Field, parseJson, readJsonAnswer } from './answers.js';
import { sendHttpsRequest, type HttpsResponse } from './transport.js';
import { openHttpsStream } from './stream-transport.js';
import type {
  AuditEvent,
  BatchItemResult,
  CreateCredentialOptions,
  CreateCredentialResult,
  CreateKeyOptions,
  Credential,
  DecryptOptions,
  DecryptResult,
  EncryptOptions,
  EncryptResult,
  GenerateDataKeyOptions,
  GenerateDataKeyResult,
  GenerateDataKeyWithoutPlaintextResult,
  GenerateDataKeyPairOptions,
  GenerateDataKeyPairResult,
  GenerateDataKeyPairWithoutPlaintextResult,
  GenerateMacOptions,
  GenerateMacResult,
  GetParametersForImportOptions,
  GetParametersForImportResult,
  GetPublicKeyResult,
  ImportKeyMaterialOptions,
  ImportKeyMaterialResult,
  KeyMetadata,
  ListAuditEventsOptions,
  ListAuditEventsResult,
  ListCredentialsOptions,
  ListCredentialsResult,
  ListKeysOptions,
  ListKeysResult,
  ReEncryptOptions,
  ReEncryptResult,
  ScheduleKeyDeletionResult,
  SignOptions,
  SignResult,
  VerifyOptions,
  VerifyResult,
  VerifyMacOptions,
  VerifyMacResult,
} from './types.js';

export { KeyholdApiError, KeyholdConnectionError } from './errors.js';
export { readCredentialsFile, type CredentialsFile } from './credentials-file.js';
export { PinnedAgent, normalizeFingerprint } from './pinned-agent.js';
export { decryptFile, decryptFileAtPath, encryptFile, encryptFileAtPath, FileEnvelopeError } from './file-envelope.js';
export { AUTH_SCHEME, formatKmsDate, sha256Hex, signRequest, stringToSign } from '../protocol/signing.js';
export type * from './types.js';

export const DEFAULT_PREFIX = '/api/v1/kms';
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface KeyholdClientOptions {
  /** `https://host:port`, e.g. admin.credentials `Url`. */
  url: string;
  accessKeyId: string;
  /** The 32-byte secret: standard base64 (as in admin.credentials) or raw bytes. */
  secretKey: string | Buffer;
  /** Hex SHA-256 of the server's DER certificate. When set, only that certificate is trusted. */
  certSha256?: string;
  /** CA certificate(s) to trust instead of the system store (ignored when certSha256 is set). */
  ca?: string | Buffer;
  /** Default `/api/v1/kms`; `/api/v1/go-kms` reaches the go-kms front door. */
  prefix?: string;
  /** Deadline for one call, connection included. Default 30 s. */
  timeoutMs?: number;
  /**
   * Accepts ANY server certificate: no pinning, no CA check. A network attacker can read
   * and change everything. For throwaway local testing only; the CLI's --insecure warns.
   */
  dangerouslyAcceptAnyCertificate?: boolean;
}

const ACTION_PATTERN = /^[A-Za-z0-9]+$/;
const ACCESS_KEY_ID_PATTERN = /^[^\s,]{1,256}$/;
const SECRET_KEY_BYTES = 32;

/**
 * A signing HTTPS client for one Keyhold server and one credential.
 *
 * @example
 *   import { KeyholdClient } from 'keyhold/client';
 *
 *   const kms = KeyholdClient.fromCredentialsFile('./data/admin.credentials');
 *   const { KeyId } = await kms.createKey({ description: 'orders database' });
 *   const { ciphertextBlob } = await kms.encrypt({
 *     keyId: KeyId, plaintext: Buffer.from('secret'), encryptionContext: { table: 'orders' },
 *   });
 *   const { plaintext } = await kms.decrypt({ ciphertextBlob, encryptionContext: { table: 'orders' } });
 *   kms.close();
 */
export class KeyholdClient {
  readonly url: string;
  readonly prefix: string;
  readonly accessKeyId: string;
  // Private fields stay out of util.inspect and JSON.stringify of the client.
  readonly #secretKey: Buffer;
  readonly #origin: URL;
  readonly #basePath: string;
  readonly #agent: https.Agent;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(options: KeyholdClientOptions) {
    const url = new URL(options.url);
    /* Precondition: the server is reached over HTTPS only. */
    if (url.protocol !== 'https:') {
      throw new TypeError(`Keyhold URL must use https: (got ${url.protocol})`);
    }
    if (url.username || url.password || url.search || url.hash) {
      throw new TypeError('Keyhold URL must not carry credentials, a query or a fragment');
    }
    this.url = options.url;
    this.#origin = new URL(url.origin);
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.prefix = (options.prefix ?? DEFAULT_PREFIX).replace(/\/+$/, '');
    if (!this.prefix.startsWith('/')) {
      throw new TypeError('prefix must start with "/", e.g. "/api/v1/kms"');
    }
    /* Precondition: the access key id fits in the Authorization header without escaping. */
    if (!ACCESS_KEY_ID_PATTERN.test(options.accessKeyId)) {
      throw new TypeError('accessKeyId must be 1 to 256 characters without spaces or commas');
    }
    this.accessKeyId = options.accessKeyId;
    this.#secretKey = decodeSecretKey(options.secretKey);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

    const agentOptions: https.AgentOptions = { keepAlive: true, minVersion: 'TLSv1.2' };
    this.#agent = options.certSha256
      ? new PinnedAgent({
          ...agentOptions,
          certSha256: options.certSha256,
          connectTimeoutMs: this.#timeoutMs,
        })
      : new https.Agent({
          ...agentOptions,
          ...(options.ca === undefined ? {} : { ca: options.ca }),
          ...(options.dangerouslyAcceptAnyCertificate ? { rejectUnauthorized: false } : {}),
        });
  }

  /**
   * A client from an admin.credentials file; `overrides` replace what the file says.
   *
   * @example
   *   KeyholdClient.fromCredentialsFile('./data/admin.credentials', { timeoutMs: 5000 });
   */
  static fromCredentialsFile(path: string, overrides: Partial<KeyholdClientOptions> = {}): KeyholdClient {
    const file = readCredentialsFile(path);
    return new KeyholdClient({
      url: file.url,
      accessKeyId: file.accessKeyId,
      secretKey: file.secretKey,
      ...(file.certSha256 === undefined ? {} : { certSha256: file.certSha256 }),
      ...overrides,
    });
  }

  /**
   * POSTs `body` as JSON to `<prefix>/<action>`, signed. Resolves the parsed answer; an error
   * answer rejects with KeyholdApiError, a transport failure with KeyholdConnectionError.
   *
   * @example
   *   const { KeyMetadata } = await client.call('describekey', { KeyId: keyId });
   */
  async call<T = any>(action: string, body: object): Promise<T> {
    /* Precondition: an action is one path segment of letters and digits. */
    if (!ACTION_PATTERN.test(action)) {
      throw new TypeError('An action is letters and digits only, e.g. "encrypt"');
    }
    // A nonce in the signed query makes every call a request of its own: a state-changing request
    // is accepted once per signature (replay protection), and two equal calls in one second are two.
    const path = `${this.#basePath}${this.prefix}/${action.toLowerCase()}?nonce=${randomBytes(12).toString('base64url')}`;
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const signed = signRequest({
      method: 'POST',
      pathWithQuery: path,
      body: payload,
      accessKeyId: this.accessKeyId,
      secretKey: this.#secretKey,
    });
    const response = await this.#send('POST', path, {
      ...signed,
      'Content-Type': 'application/json',
      'Content-Length': String(payload.length),
    }, payload);
    return readJsonAnswer<T>(response);
  }

  /**
   * Starts a backup of the whole store (admin credentials only): resolves with the answer,
   * a stream of the backup file's bytes (src/backup/format.ts), to be read at the caller's
   * pace. Check it (BackupVerifier) before trusting it: a cut connection just ends early.
   *
   * @example
   *   const stream = await kms.backupStore();
   *   for await (const chunk of stream) file.write(chunk);
   */
  async backupStore(): Promise<IncomingMessage> {
    if (this.#closed) throw new KeyholdConnectionError('This KeyholdClient has been closed', { code: 'ECLOSED' });
    const path = `${this.#basePath}${this.prefix}/backupstore`;
    const payload = Buffer.from('{}', 'utf8');
    const signed = signRequest({ method: 'POST', pathWithQuery: path, body: payload, accessKeyId: this.accessKeyId, secretKey: this.#secretKey });
    return openHttpsStream({
      agent: this.#agent,
      origin: this.#origin,
      method: 'POST',
      path,
      headers: { Accept: 'application/x-ndjson', ...signed, 'Content-Type': 'application/json', 'Content-Length': String(payload.length) },
      body: payload,
      timeoutMs: this.#timeoutMs,
    });
  }

  /** `GET /healthz`, unsigned. Resolves `{status}` also for a 503 that carries one (e.g. sealed). */
  async health(): Promise<{ status: string }> {
    const response = await this.#send('GET', `${this.#basePath}/healthz`, {});
    const parsed = parseJson(response.body) as { status?: unknown } | undefined;
    if (parsed && typeof parsed.status === 'string') return { status: parsed.status };
    return readJsonAnswer<{ status: string }>(response);
  }

  async createKey(opts: CreateKeyOptions = {}): Promise<KeyMetadata> {
    const answer = await this.call('createkey', {
      Description: opts.description,
      KeySpec: opts.keySpec,
      KeyUsage: opts.keyUsage,
      Origin: opts.origin,
      ProviderKeyId: opts.providerKeyId,
      Tags: opts.tags && Object.entries(opts.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
    });
    return answer.KeyMetadata;
  }

  async describeKey(keyId: string): Promise<KeyMetadata> {
    return (await this.call('describekey', { KeyId: keyId })).KeyMetadata;
  }

  async listKeys(opts: ListKeysOptions = {}): Promise<ListKeysResult> {
    const answer = await this.call('listkeys', { Limit: opts.limit, Marker: opts.marker });
    const result: ListKeysResult = { keys: answer.Keys ?? [], truncated: answer.Truncated === true };
    if (typeof answer.NextMarker === 'string') result.nextMarker = answer.NextMarker;
    return result;
  }

  async enableKey(keyId: string): Promise<KeyMetadata> {
    return (await this.call('enablekey', { KeyId: keyId })).KeyMetadata;
  }

  async disableKey(keyId: string): Promise<KeyMetadata> {
    return (await this.call('disablekey', { KeyId: keyId })).KeyMetadata;
  }

  /** `days` is the pending window, 7..30; the server defaults to 30. */
  async scheduleKeyDeletion(keyId: string, days?: number): Promise<ScheduleKeyDeletionResult> {
    const answer = await this.call('schedulekeydeletion', { KeyId: keyId, PendingWindowInDays: days });
    return { keyId: answer.KeyId, deletionDate: answer.DeletionDate };
  }

  async cancelKeyDeletion(keyId: string): Promise<KeyMetadata> {
    return (await this.call('cancelkeydeletion', { KeyId: keyId })).KeyMetadata;
  }

  async encrypt(opts: EncryptOptions): Promise<EncryptResult> {
    return encryptResult(await this.call('encrypt', encryptRequest(opts)));
  }

  async decrypt(opts: DecryptOptions): Promise<DecryptResult> {
    return decryptResult(await this.call('decrypt', decryptRequest(opts)));
  }

  /**
   * Up to 1,000 encryptions in one request, each with its own key and context. Resolves one
   * outcome per item, in order: its result, or the KeyholdApiError of that item alone (a bad key
   * fails only its item). Rejects only when the request as a whole fails (authentication, 0 or
   * more than 1,000 items, a body over 1 MiB, the connection).
   *
   * @example
   *   const outcomes = await kms.batchEncrypt(rows.map((row) => ({ keyId: 'alias/orders', plaintext: row.card })));
   *   for (const outcome of outcomes) if (!outcome.ok) console.error(outcome.error.type);
   */
  async batchEncrypt(items: EncryptOptions[]): Promise<BatchItemResult<EncryptResult>[]> {
    return this.#batch('batchencrypt', items.map(encryptRequest), encryptResult);
  }

  /** Up to 1,000 decryptions in one request: one outcome per item, in order (see batchEncrypt). */
  async batchDecrypt(items: DecryptOptions[]): Promise<BatchItemResult<DecryptResult>[]> {
    return this.#batch('batchdecrypt', items.map(decryptRequest), decryptResult);
  }

  /** Up to 1,000 re-encryptions in one request: one outcome per item, in order (see batchEncrypt). */
  async batchReEncrypt(items: ReEncryptOptions[]): Promise<BatchItemResult<ReEncryptResult>[]> {
    return this.#batch('batchreencrypt', items.map(reEncryptRequest), reEncryptResult);
  }

  /** Up to 1,000 data keys in one request: one outcome per item, in order (see batchEncrypt). */
  async batchGenerateDataKey(items: GenerateDataKeyOptions[]): Promise<BatchItemResult<GenerateDataKeyResult>[]> {
    return this.#batch('batchgeneratedatakey', items.map(dataKeyRequest), dataKeyResult);
  }

  /** Sends `{ Items }` to a batch action and reads each slot of its `Results` with `read`. */
  async #batch<T>(action: string, items: object[], read: (answer: Record<string, any>) => T): Promise<BatchItemResult<T>[]> {
    const answer = await this.call<{ Results?: unknown }>(action, { Items: items });
    const results = answer.Results;
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new KeyholdApiError('UnexpectedResponse', 200, `The server's Results do not answer the ${items.length} items one by one`);
    }
    return results.map((slot: unknown) => batchItem(slot, read));
  }

  /**
   * The public half of an asymmetric key, as DER SubjectPublicKeyInfo, with what the key can do.
   *
   * @example
   *   const { publicKey } = await kms.getPublicKey('alias/signing');
   *   const pem = crypto.createPublicKey({ key: publicKey, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' });
   */
  async getPublicKey(keyId: string): Promise<GetPublicKeyResult> {
    const answer = await this.call('getpublickey', { KeyId: keyId });
    return {
      keyId: answer.KeyId,
      publicKey: base64Field(answer, 'PublicKey'),
      keySpec: answer.KeySpec,
      keyUsage: answer.KeyUsage,
      signingAlgorithms: Array.isArray(answer.SigningAlgorithms) ? answer.SigningAlgorithms : [],
      encryptionAlgorithms: Array.isArray(answer.EncryptionAlgorithms) ? answer.EncryptionAlgorithms : [],
    };
  }

  /**
   * Signs a message (RAW, up to 4096 bytes) or its digest (DIGEST) with an asymmetric key.
   *
   * @example
   *   const digest = crypto.createHash('sha256').update(bigFile).digest();
   *   const { signature } = await kms.sign({ keyId, message: digest, messageType: 'DIGEST', signingAlgorithm: 'ECDSA_SHA_256' });
   */
  async sign(opts: SignOptions): Promise<SignResult> {
    const answer = await this.call('sign', signatureRequest(opts));
    return {
      keyId: answer.KeyId,
      signature: base64Field(answer, 'Signature'),
      signingAlgorithm: answer.SigningAlgorithm,
    };
  }

  /**
   * Checks a signature with the key's public key, on the server. A signature that does not
   * verify resolves `signatureValid: false` (the server's KMSInvalidSignatureException);
   * every other failure rejects.
   *
   * @example
   *   const { signatureValid } = await kms.verify({ keyId, message, signature, signingAlgorithm: 'ECDSA_SHA_256' });
   */
  async verify(opts: VerifyOptions): Promise<VerifyResult> {
    try {
      const answer = await this.call('verify', { ...signatureRequest(opts), Signature: opts.signature.toString('base64') });
      return { keyId: answer.KeyId, signatureValid: answer.SignatureValid === true, signingAlgorithm: answer.SigningAlgorithm };
    } catch (error) {
      if (error instanceof KeyholdApiError && error.type === 'KMSInvalidSignatureException') {
        return { keyId: opts.keyId, signatureValid: false, signingAlgorithm: opts.signingAlgorithm };
      }
      throw error;
    }
  }

  /**
   * The HMAC of a message (1..4096 bytes) under an HMAC key, with the key's algorithm.
   *
   * @example
   *   const { mac } = await kms.generateMac({ keyId: 'alias/tokens', message: Buffer.from(token), macAlgorithm: 'HMAC_SHA_256' });
   */
  async generateMac(opts: GenerateMacOptions): Promise<GenerateMacResult> {
    const answer = await this.call('generatemac', { KeyId: opts.keyId, Message: opts.message.toString('base64'), MacAlgorithm: opts.macAlgorithm });
    return { keyId: answer.KeyId, mac: base64Field(answer, 'Mac'), macAlgorithm: answer.MacAlgorithm };
  }

  /**
   * Checks a MAC on the server. A MAC that does not verify resolves `macValid: false` (the
   * server's KMSInvalidMacException); every other failure rejects.
   *
   * @example
   *   const { macValid } = await kms.verifyMac({ keyId: 'alias/tokens', message, mac, macAlgorithm: 'HMAC_SHA_256' });
   */
  async verifyMac(opts: VerifyMacOptions): Promise<VerifyMacResult> {
    try {
      const answer = await this.call('verifymac', {
        KeyId: opts.keyId,
        Message: opts.message.toString('base64'),
        Mac: opts.mac.toString('base64'),
        MacAlgorithm: opts.macAlgorithm,
      });
      return { keyId: answer.KeyId, macValid: answer.MacValid === true, macAlgorithm: answer.MacAlgorithm };
    } catch (error) {
      if (error instanceof KeyholdApiError && error.type === 'KMSInvalidMacException') {
        return { keyId: opts.keyId, macValid: false, macAlgorithm: opts.macAlgorithm };
      }
      throw error;
    }
  }

  async reEncrypt(opts: ReEncryptOptions): Promise<ReEncryptResult> {
    return reEncryptResult(await this.call('reencrypt', reEncryptRequest(opts)));
  }

  async generateDataKey(opts: GenerateDataKeyOptions): Promise<GenerateDataKeyResult> {
    return dataKeyResult(await this.call('generatedatakey', dataKeyRequest(opts)));
  }

  async generateDataKeyWithoutPlaintext(
    opts: GenerateDataKeyOptions,
  ): Promise<GenerateDataKeyWithoutPlaintextResult> {
    const answer = await this.call('generatedatakeywithoutplaintext', dataKeyRequest(opts));
    return { ciphertextBlob: base64Field(answer, 'CiphertextBlob'), keyId: answer.KeyId };
  }

  /**
   * A key pair for use outside Keyhold; its private key also encrypted under `keyId`.
   *
   * @example
   *   const pair = await client.generateDataKeyPair({ keyId: 'alias/orders', keyPairSpec: 'ECC_NIST_P256' });
   *   const privateKey = createPrivateKey({ key: pair.privateKeyPlaintext, format: 'der', type: 'pkcs8' });
   */
  async generateDataKeyPair(opts: GenerateDataKeyPairOptions): Promise<GenerateDataKeyPairResult> {
    const answer = await this.call('generatedatakeypair', dataKeyPairRequest(opts));
    return { ...dataKeyPairResult(answer), privateKeyPlaintext: base64Field(answer, 'PrivateKeyPlaintext') };
  }

  async generateDataKeyPairWithoutPlaintext(opts: GenerateDataKeyPairOptions): Promise<GenerateDataKeyPairWithoutPlaintextResult> {
    return dataKeyPairResult(await this.call('generatedatakeypairwithoutplaintext', dataKeyPairRequest(opts)));
  }

  async generateRandom(numberOfBytes: number): Promise<Buffer> {
    const answer = await this.call('generaterandom', { NumberOfBytes: numberOfBytes });
    return base64Field(answer, 'Plaintext');
  }

  /** A wrapping public key and import token for a key with Origin EXTERNAL, valid 24 hours. */
  async getParametersForImport(opts: GetParametersForImportOptions): Promise<GetParametersForImportResult> {
    const answer = await this.call('getparametersforimport', {
      KeyId: opts.keyId,
      WrappingAlgorithm: opts.wrappingAlgorithm,
      WrappingKeySpec: opts.wrappingKeySpec,
    });
    return {
      keyId: answer.KeyId,
      importToken: base64Field(answer, 'ImportToken'),
      publicKey: base64Field(answer, 'PublicKey'),
      parametersValidTo: answer.ParametersValidTo,
    };
  }

  /** Imports key material wrapped with getParametersForImport's public key: the key becomes Enabled. */
  async importKeyMaterial(opts: ImportKeyMaterialOptions): Promise<ImportKeyMaterialResult> {
    const answer = await this.call('importkeymaterial', {
      KeyId: opts.keyId,
      ImportToken: opts.importToken.toString('base64'),
      EncryptedKeyMaterial: opts.encryptedKeyMaterial.toString('base64'),
      ExpirationModel: opts.expirationModel,
      ValidTo: opts.validTo instanceof Date ? opts.validTo.toISOString() : opts.validTo,
    });
    return { keyId: answer.KeyId, keyMaterialId: answer.KeyMaterialId };
  }

  /** Deletes a key's imported material: the key is PendingImport until the same material is imported again. */
  async deleteImportedKeyMaterial(keyId: string): Promise<void> {
    await this.call('deleteimportedkeymaterial', { KeyId: keyId });
  }

  /**
   * Makes a credential (admin credentials only). The secret comes back this once.
   *
   * @example
   *   const { credential, secretKey } = await kms.createCredential({
   *     description: 'orders service',
   *     policy: { Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: 'alias/orders' }] },
   *   });
   */
  async createCredential(opts: CreateCredentialOptions): Promise<CreateCredentialResult> {
    const answer = await this.call('createcredential', { Description: opts.description, Admin: opts.admin, Policy: opts.policy });
    return { credential: answer.Credential, secretKey: base64Field(answer, 'SecretKey') };
  }

  async listCredentials(opts: ListCredentialsOptions = {}): Promise<ListCredentialsResult> {
    const answer = await this.call('listcredentials', { Limit: opts.limit, Marker: opts.marker });
    return { credentials: answer.Credentials ?? [], ...pageEnd(answer) };
  }

  async describeCredential(accessKeyId: string): Promise<Credential> {
    return (await this.call('describecredential', { AccessKeyId: accessKeyId })).Credential;
  }

  /** Replaces the policy of a credential that is not an admin; takes effect on every worker before it resolves. */
  async updateCredentialPolicy(accessKeyId: string, policy: object | string): Promise<Credential> {
    return (await this.call('updatecredentialpolicy', { AccessKeyId: accessKeyId, Policy: policy })).Credential;
  }

  async enableCredential(accessKeyId: string): Promise<void> {
    await this.call('enablecredential', { AccessKeyId: accessKeyId });
  }

  /** Its requests fail with UnrecognizedClientException until it is enabled again. */
  async disableCredential(accessKeyId: string): Promise<void> {
    await this.call('disablecredential', { AccessKeyId: accessKeyId });
  }

  async deleteCredential(accessKeyId: string): Promise<void> {
    await this.call('deletecredential', { AccessKeyId: accessKeyId });
  }

  /**
   * One page of audit records, oldest first. To follow the trail, call again with the last
   * `nextMarker`: it is given whenever records were read, also on the last page.
   *
   * @example
   *   const { events, nextMarker } = await kms.listAuditEvents({ principal: 'KH…', startTime: new Date(Date.now() - 3_600_000) });
   */
  async listAuditEvents(opts: ListAuditEventsOptions = {}): Promise<ListAuditEventsResult> {
    const answer = await this.call('listauditevents', {
      StartTime: timeField(opts.startTime),
      EndTime: timeField(opts.endTime),
      KeyId: opts.keyId,
      Principal: opts.principal,
      Action: opts.action,
      Outcome: opts.outcome,
      Limit: opts.limit,
      Marker: opts.marker,
      Verify: opts.verify,
    });
    return { events: (answer.Events ?? []) as AuditEvent[], ...pageEnd(answer) };
  }

  /** Closes pooled connections and wipes the secret; the client is unusable afterwards. */
  close(): void {
    this.#closed = true;
    this.#agent.destroy();
    this.#secretKey.fill(0);
  }

  async #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<HttpsResponse> {
    if (this.#closed) {
      throw new KeyholdConnectionError('This KeyholdClient has been closed', { code: 'ECLOSED' });
    }
    return sendHttpsRequest({
      agent: this.#agent,
      origin: this.#origin,
      method,
      path,
      headers: { Accept: 'application/json', ...headers },
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.#timeoutMs,
    });
  }
}

function encryptRequest(opts: EncryptOptions): object {
  return {
    KeyId: opts.keyId,
    Plaintext: opts.plaintext.toString('base64'),
    EncryptionContext: opts.encryptionContext,
    EncryptionAlgorithm: opts.encryptionAlgorithm,
  };
}

function encryptResult(answer: Record<string, any>): EncryptResult {
  return {
    ciphertextBlob: base64Field(answer, 'CiphertextBlob'),
    keyId: answer.KeyId,
    ...optionalString(answer, 'EncryptionAlgorithm', 'encryptionAlgorithm'),
  };
}

function decryptRequest(opts: DecryptOptions): object {
  return {
    CiphertextBlob: opts.ciphertextBlob.toString('base64'),
    EncryptionContext: opts.encryptionContext,
    KeyId: opts.keyId,
    EncryptionAlgorithm: opts.encryptionAlgorithm,
  };
}

function decryptResult(answer: Record<string, any>): DecryptResult {
  return {
    plaintext: base64Field(answer, 'Plaintext'),
    keyId: answer.KeyId,
    ...optionalString(answer, 'EncryptionAlgorithm', 'encryptionAlgorithm'),
  };
}

function reEncryptRequest(opts: ReEncryptOptions): object {
  return {
    CiphertextBlob: opts.ciphertextBlob.toString('base64'),
    SourceEncryptionContext: opts.sourceEncryptionContext,
    SourceKeyId: opts.sourceKeyId,
    DestinationKeyId: opts.destinationKeyId,
    DestinationEncryptionContext: opts.destinationEncryptionContext,
  };
}

function reEncryptResult(answer: Record<string, any>): ReEncryptResult {
  return { ciphertextBlob: base64Field(answer, 'CiphertextBlob'), keyId: answer.KeyId, sourceKeyId: answer.SourceKeyId };
}

function dataKeyResult(answer: Record<string, any>): GenerateDataKeyResult {
  return { plaintext: base64Field(answer, 'Plaintext'), ciphertextBlob: base64Field(answer, 'CiphertextBlob'), keyId: answer.KeyId };
}

/**
 * One slot of a batch answer: `{ Error }` becomes that item's KeyholdApiError (status 200, the
 * batch answer's), anything else is read as the single action's answer.
 */
function batchItem<T>(slot: unknown, read: (answer: Record<string, any>) => T): BatchItemResult<T> {
  if (typeof slot !== 'object' || slot === null) {
    return { ok: false, error: new KeyholdApiError('UnexpectedResponse', 200, 'The server answered an item with something that is not a JSON object') };
  }
  const error = (slot as { Error?: unknown }).Error;
  if (typeof error === 'object' && error !== null) {
    const { __type: type, message } = error as { __type?: unknown; message?: unknown };
    return {
      ok: false,
      error: new KeyholdApiError(typeof type === 'string' ? type : 'UnexpectedResponse', 200, typeof message === 'string' ? message : 'The item failed'),
    };
  }
  try {
    return { ok: true, result: read(slot as Record<string, any>) };
  } catch (failure) {
    if (failure instanceof KeyholdApiError) return { ok: false, error: failure };
    throw failure;
  }
}

function dataKeyRequest(opts: GenerateDataKeyOptions): object {
  return {
    KeyId: opts.keyId,
    KeySpec: opts.keySpec,
    NumberOfBytes: opts.numberOfBytes,
    EncryptionContext: opts.encryptionContext,
  };
}

function dataKeyPairRequest(opts: GenerateDataKeyPairOptions): object {
  return { KeyId: opts.keyId, KeyPairSpec: opts.keyPairSpec, EncryptionContext: opts.encryptionContext };
}

function dataKeyPairResult(answer: Record<string, unknown>): GenerateDataKeyPairWithoutPlaintextResult {
  return {
    privateKeyCiphertextBlob: base64Field(answer, 'PrivateKeyCiphertextBlob'),
    publicKey: base64Field(answer, 'PublicKey'),
    keyId: answer.KeyId as string,
    keyPairSpec: answer.KeyPairSpec as GenerateDataKeyPairResult['keyPairSpec'],
  };
}

function signatureRequest(opts: SignOptions): Record<string, unknown> {
  return {
    KeyId: opts.keyId,
    Message: opts.message.toString('base64'),
    MessageType: opts.messageType ?? 'RAW',
    SigningAlgorithm: opts.signingAlgorithm,
  };
}

/** A list answer's `Truncated` and `NextMarker`, as listKeys reads them. */
function pageEnd(answer: Record<string, unknown>): { nextMarker?: string; truncated: boolean } {
  return { truncated: answer.Truncated === true, ...(typeof answer.NextMarker === 'string' ? { nextMarker: answer.NextMarker } : {}) };
}

/** A Date goes as RFC 3339; a string as given (the server also reads ISO 8601 dates). */
function timeField(value: Date | string | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

/** `{ [to]: answer[from] }` when the answer carries that string field, else nothing. */
function optionalString<To extends string>(answer: Record<string, unknown>, from: string, to: To): { [K in To]?: string } {
  const value = answer[from];
  return (typeof value === 'string' ? { [to]: value } : {}) as { [K in To]?: string };
}

/* Precondition: the secret is exactly 32 bytes, given raw or as standard base64. */
function decodeSecretKey(secretKey: string | Buffer): Buffer {
  const bytes =
    typeof secretKey === 'string' && isStandardBase64(secretKey)
      ? Buffer.from(secretKey, 'base64')
      : Buffer.isBuffer(secretKey)
        ? Buffer.from(secretKey)
        : undefined;
  if (!bytes || bytes.length !== SECRET_KEY_BYTES) {
    throw new TypeError('secretKey must be 32 bytes, raw or as standard base64');
  }
  return bytes;
}
