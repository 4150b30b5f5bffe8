import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';

const SHA256_LENGTH = 32;
/** Two blocks of HKDF-Expand: enough for an AES-256 key and a 96-bit IV (44 bytes). */
const MAX_OUTPUT_LENGTH = 2 * SHA256_LENGTH;
const FIRST_BLOCK = Buffer.of(1);
const SECOND_BLOCK = Buffer.of(2);

/**
 * HKDF-SHA256 (RFC 5869) of up to 64 bytes, from three HMAC-SHA256 of node:crypto: extract, then
 * one or two expand blocks. It gives the bytes of node's `hkdfSync('sha256', …)`, which takes
 * about 3 µs more per call: OpenSSL 3 looks its HKDF up by name on every call (bench/RESULTS.md,
 * "#7 hot path"). The intermediate key (PRK) and blocks are zeroed before returning.
 *
 * @example
 *   const okm = hkdfSha256(versionKey, salt, info, 44); // okm.fill(0) when done
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  /* Precondition: 1 to 64 bytes of output (two expand blocks). */
  if (!Number.isInteger(length) || length < 1 || length > MAX_OUTPUT_LENGTH) {
    throw new RangeError(`HKDF output must be 1 to ${MAX_OUTPUT_LENGTH} bytes`);
  }
  // RFC 5869 §2.2: an empty salt is HashLen zero bytes, which is what HMAC makes of an empty key.
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const okm = Buffer.allocUnsafe(length);
  // §2.3: T(1) = HMAC(PRK, info || 0x01), T(2) = HMAC(PRK, T(1) || info || 0x02).
  const first = createHmac('sha256', prk).update(info).update(FIRST_BLOCK).digest();
  try {
    first.copy(okm, 0, 0, Math.min(length, SHA256_LENGTH));
    if (length > SHA256_LENGTH) {
      const second = createHmac('sha256', prk).update(first).update(info).update(SECOND_BLOCK).digest();
      second.copy(okm, SHA256_LENGTH, 0, length - SHA256_LENGTH);
      second.fill(0);
    }
    return okm;
  } finally {
    first.fill(0);
    prk.fill(0);
  }
}
