/**
 * Standard base64, checked the same way on both sides: the server's request byte fields, the
 * client's answers and secret keys, the CLI's RSA ciphertexts given as text.
 */
import { Buffer } from 'node:buffer';

// Standard base64 with padding; Buffer.from alone would accept anything.
const BASE64_CHARACTERS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Whether `text` is standard padded base64: groups of four alphabet characters, the last one
 * possibly ending in `=` or `==` (the grouped pattern
 * `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`).
 */
export function isStandardBase64(text: string): boolean {
  const bytes = decodeStandardBase64(text);
  bytes?.fill(0); // the bytes may be plaintext: only the answer is wanted here
  return bytes !== undefined;
}

/**
 * The bytes of `text` if it is standard padded base64 (as `isStandardBase64` says), else
 * undefined: one decoding serves both the check and the request's bytes.
 */
export function decodeStandardBase64(text: string): Buffer | undefined {
  // What node writes back is canonical standard base64, which the pattern accepts; comparing is
  // a third of the pattern's time on a 4 KiB plaintext (bench/RESULTS.md, "#7 hot path"). Other
  // strings (non-canonical last bits, other alphabets, junk) get the pattern's own answer.
  const bytes = Buffer.from(text, 'base64');
  // The grouped pattern is the same as: a multiple of four, alphabet characters, then 0–2 `=`.
  if (bytes.toString('base64') === text || (text.length % 4 === 0 && BASE64_CHARACTERS.test(text))) return bytes;
  bytes.fill(0);
  return undefined;
}
