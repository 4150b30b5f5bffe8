import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * The HMAC key specs and MAC algorithms Keyhold offers, with AWS KMS's names: each spec has
 * one algorithm, whose hash is as long as the spec's key material (RFC 2104, as AWS KMS).
 * Pure data and functions; no key material is kept here.
 */

export const MAC_KEY_SPECS = ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const;
export type MacKeySpec = (typeof MAC_KEY_SPECS)[number];

export const MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
export type MacAlgorithm = (typeof MAC_ALGORITHMS)[number];

/** GenerateMac's Message: 1 to 4096 bytes, as in AWS KMS. */
export const MAX_MAC_MESSAGE_BYTES = 4096;

const SPECS: Record<MacKeySpec, { algorithm: MacAlgorithm; hash: string; materialBytes: number }> = {
  HMAC_224: { algorithm: 'HMAC_SHA_224', hash: 'sha224', materialBytes: 28 },
  HMAC_256: { algorithm: 'HMAC_SHA_256', hash: 'sha256', materialBytes: 32 },
  HMAC_384: { algorithm: 'HMAC_SHA_384', hash: 'sha384', materialBytes: 48 },
  HMAC_512: { algorithm: 'HMAC_SHA_512', hash: 'sha512', materialBytes: 64 },
};

export function isMacKeySpec(value: string): value is MacKeySpec {
  return (MAC_KEY_SPECS as readonly string[]).includes(value);
}

export function isMacAlgorithm(value: string): value is MacAlgorithm {
  return (MAC_ALGORITHMS as readonly string[]).includes(value);
}

/** The one MAC algorithm of a spec. */
export function macAlgorithmOf(spec: MacKeySpec): MacAlgorithm {
  return SPECS[spec].algorithm;
}

/** How many bytes of key material a spec has (AWS KMS: 224, 256, 384 or 512 bits). */
export function macMaterialBytes(spec: MacKeySpec): number {
  return SPECS[spec].materialBytes;
}

/** The HMAC of `message` under the key of a `spec` key. */
export function computeMac(spec: MacKeySpec, key: KeyObject, message: Buffer): Buffer {
  return createHmac(SPECS[spec].hash, key).update(message).digest();
}

/** Whether `mac` is the HMAC of `message`, compared in constant time (a wrong length is simply not it). */
export function macMatches(spec: MacKeySpec, key: KeyObject, message: Buffer, mac: Buffer): boolean {
  const expected = computeMac(spec, key, message);
  // The length of a MAC is public (it is the algorithm's); only the bytes need constant time.
  return mac.length === expected.length && timingSafeEqual(mac, expected);
}
