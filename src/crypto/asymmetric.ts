import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPair as generateKeyPairCallback,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { p256, p384 } from '@noble/curves/nist.js';
import {
  digestLength,
  eccCurve,
  isRsaSpec,
  oaepHash,
  rsaModulusBits,
  signingHash,
  type AsymmetricEncryptionAlgorithm,
  type AsymmetricKeySpec,
  type SigningAlgorithm,
} from './asymmetric-algorithms.js';

/**
 * Asymmetric operations on node:crypto KeyObjects, with AWS KMS's semantics: signatures
 * over a message (RAW, hashed here) or over a digest given by the caller (DIGEST), ECDSA
 * signatures DER-encoded, RSASSA-PSS with a salt as long as the hash, RSAES-OAEP with MGF1
 * over the same hash.
 *
 * node:crypto always hashes what it signs, so DIGEST needs the primitive steps: ECDSA over
 * a digest comes from @noble/curves (prehash off) with the scalar node exports as JWK `d`,
 * PKCS#1 v1.5 is the DigestInfo through the RSA private operation with PKCS#1 type-1
 * padding, and PSS is EMSA-PSS (RFC 8017 §9.1) through the raw RSA private operation: no
 * node API or maintained library signs an RSA-PSS digest with the key inside OpenSSL.
 * Each is checked against node:crypto's own verify of the same message in the tests.
 */

export class AsymmetricInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AsymmetricInputError';
  }
}

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/** A new key pair for a spec, generated off the event loop (RSA 4096 takes seconds). */
export async function generateKeyPair(spec: AsymmetricKeySpec): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (isRsaSpec(spec)) {
    return generateKeyPairAsync('rsa', { modulusLength: rsaModulusBits(spec), publicExponent: 0x10001 });
  }
  return generateKeyPairAsync('ec', { namedCurve: eccCurve(spec) });
}

/** The spec of a public key, or an AsymmetricInputError for a key Keyhold does not offer. */
export function specOfPublicKey(publicKey: KeyObject): AsymmetricKeySpec {
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (publicKey.asymmetricKeyType === 'rsa') {
    const spec = `RSA_${details.modulusLength}`;
    if ((spec === 'RSA_2048' || spec === 'RSA_3072' || spec === 'RSA_4096') && details.publicExponent === 0x10001n) return spec;
  } else if (publicKey.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ECC_NIST_P256';
    if (details.namedCurve === 'secp384r1') return 'ECC_NIST_P384';
  }
  throw new AsymmetricInputError('the public key is not RSA 2048/3072/4096 (e=65537) or ECC NIST P-256/P-384');
}

/** The public key of a DER SubjectPublicKeyInfo, or an AsymmetricInputError. */
export function publicKeyFromDer(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new AsymmetricInputError('the public key is not a DER SubjectPublicKeyInfo');
  }
}

/** Whether an algorithm can be used with a key of this spec. */
export function algorithmFitsSpec(algorithm: SigningAlgorithm, spec: AsymmetricKeySpec): boolean {
  if (algorithm === 'ECDSA_SHA_256') return spec === 'ECC_NIST_P256';
  if (algorithm === 'ECDSA_SHA_384') return spec === 'ECC_NIST_P384';
  return isRsaSpec(spec);
}

export function hashMessage(algorithm: SigningAlgorithm, message: Buffer): Buffer {
  return createHash(signingHash(algorithm)).update(message).digest();
}

function assertDigest(algorithm: SigningAlgorithm, digest: Buffer): void {
  /* Precondition: a digest is exactly as long as the algorithm's hash. */
  if (digest.length !== digestLength(signingHash(algorithm))) {
    throw new AsymmetricInputError(`a ${signingHash(algorithm).toUpperCase()} digest is ${digestLength(signingHash(algorithm))} bytes`);
  }
}

/* ------------------------------------------------------------------ sign and verify a message */

function nodeSignOptions(key: KeyObject, algorithm: SigningAlgorithm) {
  if (algorithm.startsWith('RSASSA_PSS_')) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(signingHash(algorithm)) };
  }
  if (algorithm.startsWith('RSASSA_PKCS1_')) return { key, padding: constants.RSA_PKCS1_PADDING };
  return { key, dsaEncoding: 'der' as const };
}

/** Signs a message (RAW): node:crypto hashes it with the algorithm's hash. */
export function signMessage(privateKey: KeyObject, algorithm: SigningAlgorithm, message: Buffer): Buffer {
  return nodeSign(signingHash(algorithm), message, nodeSignOptions(privateKey, algorithm));
}

export function verifyMessage(publicKey: KeyObject, algorithm: SigningAlgorithm, message: Buffer, signature: Buffer): boolean {
  try {
    return nodeVerify(signingHash(algorithm), message, nodeSignOptions(publicKey, algorithm), signature);
  } catch {
    // A malformed signature (bad DER, wrong length) is simply not valid.
    return false;
  }
}

/* ------------------------------------------------------------------ sign and verify a digest */

// DER DigestInfo prefixes, RFC 8017 §9.2 note 1.
const DIGEST_INFO_PREFIX: Record<'sha256' | 'sha384' | 'sha512', Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** Signs a digest as given (DIGEST). Same signatures as signMessage over the message. */
export function signDigest(privateKey: KeyObject, algorithm: SigningAlgorithm, digest: Buffer): Buffer {
  assertDigest(algorithm, digest);
  const hash = signingHash(algorithm);
  if (algorithm.startsWith('ECDSA_')) {
    const { curve, namedCurve } = ecdsaCurve(algorithm);
    /* Precondition: the key is on the algorithm's curve (checked before anything is exported). */
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== namedCurve) {
      throw new AsymmetricInputError('the key does not fit the signing algorithm');
    }
    const secret = privateScalar(privateKey);
    try {
      return Buffer.from(curve.sign(digest, secret, { prehash: false, lowS: false, format: 'der', extraEntropy: true }));
    } finally {
      secret.fill(0);
    }
  }
  if (algorithm.startsWith('RSASSA_PKCS1_')) {
    const digestInfo = Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
    return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo);
  }
  const modulusBits = privateKey.asymmetricKeyDetails!.modulusLength!;
  const encoded = emsaPssEncode(hash, digest, modulusBits - 1);
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, leftPad(encoded, Math.ceil(modulusBits / 8)));
}

export function verifyDigest(publicKey: KeyObject, algorithm: SigningAlgorithm, digest: Buffer, signature: Buffer): boolean {
  assertDigest(algorithm, digest);
  const hash = signingHash(algorithm);
  try {
    if (algorithm.startsWith('ECDSA_')) {
      const { curve } = ecdsaCurve(algorithm);
      const jwk = publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      return curve.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' });
    }
    const modulusBits = publicKey.asymmetricKeyDetails!.modulusLength!;
    /* Precondition: an RSA signature is exactly as long as the modulus. */
    if (signature.length !== Math.ceil(modulusBits / 8)) return false;
    if (algorithm.startsWith('RSASSA_PKCS1_')) {
      const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      const expected = Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
      return recovered.length === expected.length && timingSafeEqual(recovered, expected);
    }
    const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
    return emsaPssVerify(hash, digest, recovered, modulusBits - 1);
  } catch {
    return false;
  }
}

function ecdsaCurve(algorithm: SigningAlgorithm) {
  return algorithm === 'ECDSA_SHA_256' ? { curve: p256, namedCurve: 'prime256v1' } : { curve: p384, namedCurve: 'secp384r1' };
}

/**
 * The private scalar of an EC key, as node exports it: JWK `d`, always the curve's full
 * length (RFC 7518 §6.2.2.1). The decoded copy is the caller's to zero; the JWK string,
 * like the bigint @noble/curves makes of it, cannot be zeroed and is left to the collector.
 */
function privateScalar(privateKey: KeyObject): Buffer {
  return Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
}

function leftPad(bytes: Buffer, length: number): Buffer {
  return bytes.length >= length ? bytes : Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);
}

/** MGF1 (RFC 8017 §B.2.1). */
function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, produced = 0; produced < length; i++) {
    counter.writeUInt32BE(i);
    const block = createHash(hash).update(seed).update(counter).digest();
    blocks.push(block);
    produced += block.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with a random salt as long as the hash. */
function emsaPssEncode(hash: 'sha256' | 'sha384' | 'sha512', mHash: Buffer, emBits: number): Buffer {
  const hLen = mHash.length;
  const sLen = hLen;
  const emLen = Math.ceil(emBits / 8);
  if (emLen < hLen + sLen + 2) throw new AsymmetricInputError('the RSA key is too small for this PSS algorithm');
  const salt = randomBytes(sLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - sLen - hLen - 2] = 0x01;
  salt.copy(db, emLen - sLen - hLen - 1);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with the salt length fixed to the hash length. */
function emsaPssVerify(hash: 'sha256' | 'sha384' | 'sha512', mHash: Buffer, recovered: Buffer, emBits: number): boolean {
  const hLen = mHash.length;
  const sLen = hLen;
  const emLen = Math.ceil(emBits / 8);
  // The raw RSA result is modulus-length; EM is its last emLen bytes and the rest must be zero.
  const extra = recovered.length - emLen;
  if (extra < 0 || recovered.subarray(0, extra).some((byte) => byte !== 0)) return false;
  const em = recovered.subarray(extra);
  if (emLen < hLen + sLen + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const topBits = 0xff >> (8 * emLen - emBits);
  if ((maskedDb[0]! & ~topBits) !== 0) return false;
  const mask = mgf1(hash, h, maskedDb.length);
  const db = Buffer.from(maskedDb.map((byte, i) => byte ^ mask[i]!));
  db[0]! &= topBits;
  const padLength = emLen - hLen - sLen - 2;
  if (db.subarray(0, padLength).some((byte) => byte !== 0) || db[padLength] !== 0x01) return false;
  const salt = db.subarray(db.length - sLen);
  const expected = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(expected, h);
}

/* ------------------------------------------------------------------ RSAES-OAEP */

export function oaepEncrypt(publicKey: KeyObject, algorithm: AsymmetricEncryptionAlgorithm, plaintext: Buffer): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) }, plaintext);
}

/** Throws on any failure; the caller answers it with one InvalidCiphertextException. */
export function oaepDecrypt(privateKey: KeyObject, algorithm: AsymmetricEncryptionAlgorithm, ciphertext: Buffer): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) }, ciphertext);
}
