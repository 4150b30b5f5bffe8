import {
  constants,
  createSecretKey,
  generateKeyPairSync,
  privateDecrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { crc32c } from '@aws-crypto/crc32c';
import { signDigest } from '../../src/crypto/asymmetric.js';
import type { SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';

/**
 * An in-process Google Cloud KMS: google.cloud.kms.v1.KeyManagementService over plaintext
 * gRPC on 127.0.0.1, backed by real node:crypto keys. It answers the four calls Keyhold makes
 * (GetCryptoKeyVersion, GetPublicKey, AsymmetricSign, AsymmetricDecrypt) as Google does,
 * including the CRC32C integrity fields, and can be told to fail the next calls.
 *
 * Its algorithm knowledge is written out here on purpose, apart from the provider's table,
 * so that a wrong mapping in the provider shows up as a failed signature check.
 */

export type FakeKeyVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED' | 'DESTROY_SCHEDULED';
export type FakeMethod = 'GetCryptoKeyVersion' | 'GetPublicKey' | 'AsymmetricSign' | 'AsymmetricDecrypt';

/**
 * - unavailable, resource-exhausted, permission-denied, unauthenticated, internal: that gRPC status
 * - hang: never answer (the client's deadline ends the call)
 * - corrupt-crc: the response's pemCrc32c / signatureCrc32c / plaintextCrc32c is wrong
 * - flip-payload: the PEM / signature / plaintext has a flipped byte, its CRC32C is of the original
 * - unverified: verifiedDigestCrc32c / verifiedCiphertextCrc32c is false
 * - wrong-name: the response names another key version
 */
export type FakeFailure =
  | 'unavailable'
  | 'resource-exhausted'
  | 'hang'
  | 'permission-denied'
  | 'unauthenticated'
  | 'internal'
  | 'corrupt-crc'
  | 'flip-payload'
  | 'unverified'
  | 'wrong-name';

export interface FakeKeyVersion {
  name: string;
  /** For symmetric algorithms both are the same secret KeyObject (no public key to offer). */
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface FakeGcpKms {
  /** '127.0.0.1:PORT', for KEYHOLD_GCP_KMS_ENDPOINT. */
  readonly endpoint: string;
  /** Method names in the order they were called, failed and hung calls included. */
  readonly calls: FakeMethod[];
  /** A new ENABLED key version with this GCP algorithm; `keys` reuses a key pair (RSA 4096 is slow to make). */
  addKeyVersion(algorithm: string, keys?: { privateKey: KeyObject; publicKey: KeyObject }): FakeKeyVersion;
  setState(name: string, state: FakeKeyVersionState): void;
  /** The next `count` calls (of `method`, or of any method the failure applies to) fail this way. */
  failNext(count: number, kind: FakeFailure, method?: FakeMethod): void;
  /** Drops every failure still queued. */
  clearFailures(): void;
  /** The remote detail text every fake error carries; a safe provider never repeats it. */
  readonly remoteDetail: string;
  close(): Promise<void>;
}

/* ------------------------------------------------------------------ algorithms, as Google defines them */

interface AlgorithmFacts {
  keyPair: () => { privateKey: KeyObject; publicKey: KeyObject };
  sign?: { algorithm: SigningAlgorithm; digestField: 'sha256' | 'sha384' | 'sha512' };
  oaepHash?: 'sha1' | 'sha256' | 'sha512';
  asymmetric: boolean;
}

function rsa(bits: number) {
  return () => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
}

function factsOf(algorithm: string): AlgorithmFacts {
  let match = /^EC_SIGN_P(256|384)_SHA(256|384)$/.exec(algorithm);
  if (match) {
    const bits = match[1] as '256' | '384';
    return {
      keyPair: () => generateKeyPairSync('ec', { namedCurve: `P-${bits}` }),
      sign: { algorithm: `ECDSA_SHA_${bits}`, digestField: `sha${bits}` },
      asymmetric: true,
    };
  }
  if (algorithm === 'EC_SIGN_SECP256K1_SHA256') {
    return { keyPair: () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }), asymmetric: true };
  }
  if (algorithm === 'EC_SIGN_ED25519') return { keyPair: () => generateKeyPairSync('ed25519'), asymmetric: true };
  match = /^RSA_SIGN_(PSS|PKCS1)_(\d+)_SHA(256|512)$/.exec(algorithm);
  if (match) {
    const hash = match[3] as '256' | '512';
    const scheme = match[1] === 'PSS' ? 'RSASSA_PSS' : 'RSASSA_PKCS1_V1_5';
    return { keyPair: rsa(Number(match[2])), sign: { algorithm: `${scheme}_SHA_${hash}`, digestField: `sha${hash}` }, asymmetric: true };
  }
  match = /^RSA_SIGN_RAW_PKCS1_(\d+)$/.exec(algorithm);
  if (match) return { keyPair: rsa(Number(match[1])), asymmetric: true };
  match = /^RSA_DECRYPT_OAEP_(\d+)_SHA(1|256|512)$/.exec(algorithm);
  if (match) return { keyPair: rsa(Number(match[1])), oaepHash: `sha${match[2] as '1' | '256' | '512'}`, asymmetric: true };
  const secret = () => {
    const key = createSecretKey(randomBytes(32));
    return { privateKey: key, publicKey: key };
  };
  return { keyPair: secret, asymmetric: false };
}

/* ------------------------------------------------------------------ the service */

interface StoredVersion extends FakeKeyVersion {
  algorithm: string;
  state: FakeKeyVersionState;
  facts: AlgorithmFacts;
}

interface Int64Value {
  value: string;
}

type UnaryCall = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
type Respond = grpc.sendUnaryData<unknown>;

const STATUS_OF: Partial<Record<FakeFailure, grpc.status>> = {
  unavailable: grpc.status.UNAVAILABLE,
  'resource-exhausted': grpc.status.RESOURCE_EXHAUSTED,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  internal: grpc.status.INTERNAL,
};

// Which methods a response-tampering failure can apply to.
const TAMPERABLE: Partial<Record<FakeFailure, readonly FakeMethod[]>> = {
  'corrupt-crc': ['GetPublicKey', 'AsymmetricSign', 'AsymmetricDecrypt'],
  'flip-payload': ['GetPublicKey', 'AsymmetricSign', 'AsymmetricDecrypt'],
  unverified: ['AsymmetricSign', 'AsymmetricDecrypt'],
  'wrong-name': ['GetCryptoKeyVersion', 'GetPublicKey', 'AsymmetricSign'],
};

const REMOTE_DETAIL = 'fake-remote-detail: projects/secret-internal-project token=ya29.not-a-real-token';

function int64(value: number): Int64Value {
  return { value: String(value) };
}

function crcOf(bytes: Uint8Array): number {
  return crc32c(bytes);
}

function readInt64(field: unknown): number | undefined {
  if (field === null || typeof field !== 'object') return undefined;
  const value = (field as { value?: unknown }).value;
  return value === undefined || value === null ? undefined : Number(value);
}

function flipped(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1]! ^= 0x01;
  return copy;
}

function loadService(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  // build/src/index.js -> build/protos
  const kmsProtos = path.resolve(path.dirname(require.resolve('@google-cloud/kms')), '../protos');
  const gaxProtos = path.resolve(path.dirname(require.resolve('google-gax')), '../protos');
  const definition = protoLoader.loadSync(['google/cloud/kms/v1/service.proto', 'google/cloud/kms/v1/resources.proto'], {
    includeDirs: [kmsProtos, gaxProtos],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  // For a service name, loadSync's entry is the service definition itself.
  const service = definition['google.cloud.kms.v1.KeyManagementService'];
  if (!service) throw new Error('KeyManagementService is missing from the @google-cloud/kms protos');
  return service as grpc.ServiceDefinition;
}

/** Starts a fake Google Cloud KMS on 127.0.0.1 on a free port. */
export async function startFakeGcpKms(): Promise<FakeGcpKms> {
  const versions = new Map<string, StoredVersion>();
  const calls: FakeMethod[] = [];
  const failures: { kind: FakeFailure; remaining: number; method?: FakeMethod }[] = [];
  let keyCounter = 0;

  function fail(respond: Respond, code: grpc.status, summary: string): void {
    respond({ code, details: `${summary} (${REMOTE_DETAIL})` });
  }

  /** Records the call and takes the failure queued for it, if any. */
  function begin(method: FakeMethod): FakeFailure | undefined {
    calls.push(method);
    const index = failures.findIndex(
      (failure) => (failure.method === undefined || failure.method === method) && (TAMPERABLE[failure.kind]?.includes(method) ?? true),
    );
    if (index < 0) return undefined;
    const failure = failures[index]!;
    failure.remaining -= 1;
    if (failure.remaining <= 0) failures.splice(index, 1);
    return failure.kind;
  }

  /** Answers a status failure or a hang; true when the call is dealt with. */
  function failedOrHung(kind: FakeFailure | undefined, respond: Respond): boolean {
    if (kind === 'hang') return true; // no answer: grpc-js cancels the call at the client's deadline
    const code = kind === undefined ? undefined : STATUS_OF[kind];
    if (code === undefined) return false;
    fail(respond, code, `fake ${kind}`);
    return true;
  }

  function lookUp(name: unknown, respond: Respond): StoredVersion | undefined {
    const version = typeof name === 'string' ? versions.get(name) : undefined;
    if (!version) fail(respond, grpc.status.NOT_FOUND, 'CryptoKeyVersion not found');
    return version;
  }

  function enabled(name: unknown, respond: Respond): StoredVersion | undefined {
    const version = lookUp(name, respond);
    if (version && version.state !== 'ENABLED') {
      fail(respond, grpc.status.FAILED_PRECONDITION, `CryptoKeyVersion is not enabled, current state is: ${version.state}`);
      return undefined;
    }
    return version;
  }

  function otherName(name: string): string {
    return name.replace(/cryptoKeyVersions\/\d+$/, 'cryptoKeyVersions/999');
  }

  const implementation: grpc.UntypedServiceImplementation = {
    GetCryptoKeyVersion(call: UnaryCall, respond: Respond) {
      const failure = begin('GetCryptoKeyVersion');
      if (failedOrHung(failure, respond)) return;
      const version = lookUp(call.request.name, respond);
      if (!version) return;
      respond(null, {
        name: failure === 'wrong-name' ? otherName(version.name) : version.name,
        state: version.state,
        algorithm: version.algorithm,
        protectionLevel: 'SOFTWARE',
      });
    },

    GetPublicKey(call: UnaryCall, respond: Respond) {
      const failure = begin('GetPublicKey');
      if (failedOrHung(failure, respond)) return;
      const version = enabled(call.request.name, respond);
      if (!version) return;
      if (!version.facts.asymmetric) {
        fail(respond, grpc.status.FAILED_PRECONDITION, 'not an asymmetric key');
        return;
      }
      const pem = version.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const pemBytes = Buffer.from(pem, 'utf8');
      // Flip a character of the base64 body, not of the armour lines.
      const sentPem = failure === 'flip-payload' ? pem.replace(/\n(.)/, (_, c: string) => `\n${c === 'A' ? 'B' : 'A'}`) : pem;
      respond(null, {
        pem: sentPem,
        algorithm: version.algorithm,
        pemCrc32c: int64(failure === 'corrupt-crc' ? (crcOf(pemBytes) + 1) >>> 0 : crcOf(pemBytes)),
        name: failure === 'wrong-name' ? otherName(version.name) : version.name,
        protectionLevel: 'SOFTWARE',
      });
    },

    AsymmetricSign(call: UnaryCall, respond: Respond) {
      const failure = begin('AsymmetricSign');
      if (failedOrHung(failure, respond)) return;
      const version = enabled(call.request.name, respond);
      if (!version) return;
      const sign = version.facts.sign;
      if (!sign) {
        fail(respond, grpc.status.FAILED_PRECONDITION, 'key purpose is not ASYMMETRIC_SIGN');
        return;
      }
      const digestMessage = (call.request.digest ?? {}) as Record<string, unknown>;
      const digest = digestMessage[sign.digestField];
      if (!(digest instanceof Uint8Array) || digest.length === 0) {
        fail(respond, grpc.status.INVALID_ARGUMENT, `digest must be ${sign.digestField}`);
        return;
      }
      const sentCrc = readInt64(call.request.digestCrc32c);
      if (sentCrc !== undefined && sentCrc !== crcOf(digest)) {
        fail(respond, grpc.status.INVALID_ARGUMENT, 'digest_crc32c did not match');
        return;
      }
      let signature: Buffer;
      try {
        signature = signDigest(version.privateKey, sign.algorithm, Buffer.from(digest));
      } catch {
        fail(respond, grpc.status.INVALID_ARGUMENT, 'digest length does not fit the algorithm');
        return;
      }
      const signatureCrc = crcOf(signature);
      respond(null, {
        signature: failure === 'flip-payload' ? flipped(signature) : signature,
        signatureCrc32c: int64(failure === 'corrupt-crc' ? (signatureCrc + 1) >>> 0 : signatureCrc),
        verifiedDigestCrc32c: sentCrc !== undefined && failure !== 'unverified',
        name: failure === 'wrong-name' ? otherName(version.name) : version.name,
        verifiedDataCrc32c: false,
        protectionLevel: 'SOFTWARE',
      });
    },

    AsymmetricDecrypt(call: UnaryCall, respond: Respond) {
      const failure = begin('AsymmetricDecrypt');
      if (failedOrHung(failure, respond)) return;
      const version = enabled(call.request.name, respond);
      if (!version) return;
      const oaepHash = version.facts.oaepHash;
      if (!oaepHash) {
        fail(respond, grpc.status.FAILED_PRECONDITION, 'key purpose is not ASYMMETRIC_DECRYPT');
        return;
      }
      const ciphertext = call.request.ciphertext as Buffer;
      const sentCrc = readInt64(call.request.ciphertextCrc32c);
      if (sentCrc !== undefined && sentCrc !== crcOf(ciphertext)) {
        fail(respond, grpc.status.INVALID_ARGUMENT, 'ciphertext_crc32c did not match');
        return;
      }
      let plaintext: Buffer;
      try {
        plaintext = privateDecrypt({ key: version.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ciphertext);
      } catch {
        fail(respond, grpc.status.INVALID_ARGUMENT, 'Decryption failed');
        return;
      }
      const plaintextCrc = crcOf(plaintext);
      respond(null, {
        plaintext: failure === 'flip-payload' ? flipped(plaintext) : plaintext,
        plaintextCrc32c: int64(failure === 'corrupt-crc' ? (plaintextCrc + 1) >>> 0 : plaintextCrc),
        verifiedCiphertextCrc32c: sentCrc !== undefined && failure !== 'unverified',
        protectionLevel: 'SOFTWARE',
      });
    },
  };

  const server = new grpc.Server();
  server.addService(loadService(), implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    );
  });

  return {
    endpoint: `127.0.0.1:${port}`,
    calls,
    remoteDetail: REMOTE_DETAIL,
    addKeyVersion(algorithm, keys) {
      const facts = factsOf(algorithm);
      keyCounter += 1;
      const name = `projects/keyhold-fake/locations/global/keyRings/fake-ring/cryptoKeys/key-${keyCounter}/cryptoKeyVersions/1`;
      const { privateKey, publicKey } = keys ?? facts.keyPair();
      versions.set(name, { name, privateKey, publicKey, algorithm, state: 'ENABLED', facts });
      return { name, privateKey, publicKey };
    },
    setState(name, state) {
      const version = versions.get(name);
      if (!version) throw new Error(`fake GCP KMS has no key version ${name}`);
      version.state = state;
    },
    failNext(count, kind, method) {
      if (count > 0) failures.push({ kind, remaining: count, method });
    },
    clearFailures() {
      failures.length = 0;
    },
    async close() {
      // Hung calls never finish on their own: end them with the server.
      server.forceShutdown();
    },
  };
}
