import { Buffer } from 'node:buffer';
import type { EncryptionContext } from './types.js';

// Matches an unpaired UTF-16 surrogate; with the `u` flag a proper pair is one code point.
const LONE_SURROGATE = /\p{Cs}/u;

function utf8(text: unknown, what: string): Buffer {
  /* Precondition: context keys and values are well-formed strings. */
  // A lone surrogate encodes to U+FFFD, so two different contexts would give the same bytes
  // and one would decrypt what was sealed under the other.
  if (typeof text !== 'string' || LONE_SURROGATE.test(text)) {
    throw new TypeError(`encryption context ${what}s must be well-formed strings`);
  }
  return Buffer.from(text, 'utf8');
}

/**
 * The byte form of an encryption context that goes into the AAD: pairs sorted by the UTF-8
 * bytes of their keys, each as u32be(len k) k u32be(len v) v. Length prefixes make the
 * encoding injective; byte order (not JS string order, which compares UTF-16 code units)
 * makes it the same in every language.
 *
 * @example canonicalEncryptionContext({ tenant: 'acme' }) // 00000006 'tenant' 00000004 'acme'
 */
export function canonicalEncryptionContext(context?: EncryptionContext): Buffer {
  if (context === undefined) return Buffer.alloc(0);
  const pairs = Object.entries(context).map(
    ([key, value]) => [utf8(key, 'key'), utf8(value, 'value')] as const,
  );
  if (pairs.length === 0) return Buffer.alloc(0);
  // Keys are distinct strings and well-formed, so their UTF-8 encodings are distinct too.
  pairs.sort((left, right) => Buffer.compare(left[0], right[0]));

  let total = 0;
  for (const [key, value] of pairs) total += 8 + key.length + value.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const [key, value] of pairs) {
    offset = out.writeUInt32BE(key.length, offset);
    offset += key.copy(out, offset);
    offset = out.writeUInt32BE(value.length, offset);
    offset += value.copy(out, offset);
  }
  return out;
}
