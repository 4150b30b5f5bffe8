import { constants, createCipheriv, createDecipheriv, createPublicKey, hkdfSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { expect } from 'chai';

/**
 * Importing key material from outside Keyhold, step by step with node:crypto only: wrapping
 * material for ImportKeyMaterial, and formats 1 and 2 written from "Ciphertext format" in
 * docs/formats.md alone, for the known-answer tests of imported keys.
 */

export type Algorithm = 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256';

/**
 * Wraps key material for import, step by step with node:crypto, as a client outside Keyhold
 * does (the openssl commands of docs/cli.md are run in import-key-material-tools.test.ts).
 */
export function wrapMaterial(publicKeyDer: Buffer, algorithm: Algorithm, material: Buffer): Buffer {
  const publicKey = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' });
  const oaep = (key: KeyObject, hash: string, data: Buffer) => publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
  if (algorithm === 'RSAES_OAEP_SHA_256') return oaep(publicKey, 'sha256', material);
  if (algorithm === 'RSAES_OAEP_SHA_1') return oaep(publicKey, 'sha1', material);
  const aesKey = randomBytes(32);
  const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
  const wrapped = Buffer.concat([cipher.update(material), cipher.final()]);
  return Buffer.concat([oaep(publicKey, 'sha256', aesKey), wrapped]);
}

/** The canonical encryption context of docs/formats.md: pairs sorted by UTF-8 key bytes, u32be lengths. */
export function canonicalContext(context: Record<string, string>): Buffer {
  const pairs = Object.entries(context).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  pairs.sort(([a], [b]) => Buffer.compare(a, b));
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat(pairs.flatMap(([k, v]) => [u32(k.length), k, u32(v.length), v]));
}

/** The per-message key and IV of format 1 or 2, from "Ciphertext format" in docs/formats.md. */
export function messageKey(format: 1 | 2, versionKey: Buffer, head: Buffer, salt: Buffer): { dek: Buffer; iv: Buffer } {
  if (format === 2) {
    const info = Buffer.concat([Buffer.from('keyhold/v2/dek', 'utf8'), head, salt]);
    return { dek: Buffer.from(hkdfSync('sha256', versionKey, Buffer.from('keyhold/v2', 'utf8'), info, 32)), iv: salt.subarray(0, 12) };
  }
  const okm = Buffer.from(hkdfSync('sha256', versionKey, salt, Buffer.concat([Buffer.from('keyhold/v1/dek', 'utf8'), head]), 44));
  return { dek: okm.subarray(0, 32), iv: okm.subarray(32, 44) };
}

/** Decryption of a format-1 or format-2 blob, written from docs/formats.md alone; `format` is the one it must have. */
export function openBlob(versionKey: Buffer, blob: Buffer, context: Record<string, string>, format: 1 | 2 = 2): Buffer {
  expect(blob.length).to.be.at.least(69);
  expect(blob[0]).to.equal(format);
  const { dek, iv } = messageKey(format, versionKey, blob.subarray(0, 21), blob.subarray(21, 53));
  const decipher = createDecipheriv('aes-256-gcm', dek, iv);
  decipher.setAAD(Buffer.concat([blob.subarray(0, 53), canonicalContext(context)]));
  decipher.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([decipher.update(blob.subarray(53, blob.length - 16)), decipher.final()]);
}

/** Encryption in format 1 or 2, written from docs/formats.md alone: version 1 of `keyId`. */
export function sealBlob(format: 1 | 2, versionKey: Buffer, keyId: string, plaintext: Buffer, context: Record<string, string>): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(1);
  const head = Buffer.concat([Buffer.of(format), Buffer.from(keyId.replaceAll('-', ''), 'hex'), version]);
  const salt = randomBytes(32);
  const { dek, iv } = messageKey(format, versionKey, head, salt);
  const cipher = createCipheriv('aes-256-gcm', dek, iv);
  cipher.setAAD(Buffer.concat([head, salt, canonicalContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([head, salt, body, cipher.getAuthTag()]);
}
