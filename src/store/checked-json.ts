import { crc32c } from './leveldb-files/crc32c.js';

/**
 * JSON values that carry a CRC32C of their own text: `<json>#<crc as 8 hex digits>`.
 *
 * LevelDB, as classic-level runs it, reads table blocks without checking their CRCs, so a value
 * damaged on disk after the start-up check would otherwise come back as different JSON that
 * still parses (a digit of a version count, a letter of a state). With the check it fails to
 * decode, and the store answers 503 for it instead of a wrong record. Values written before the
 * check existed (no `#` suffix) are read as plain JSON; no JSON text ends in `#` and 8 hex digits.
 *
 * @example
 *   decodeCheckedJson(encodeCheckedJson({ keyId: 'k' })) // { keyId: 'k' }
 */
export function encodeCheckedJson(value: unknown): string {
  return checkedText(JSON.stringify(value));
}

/** JSON text already made, with its check appended: what `encodeCheckedJson` stores. */
export function checkedText(json: string): string {
  return `${json}#${checkOf(json)}`;
}

/** Thrown for a value whose text no longer matches its check: damaged on disk. */
export class DamagedValueError extends Error {
  constructor() {
    super('a stored value does not match its checksum (damaged on disk)');
    this.name = 'DamagedValueError';
  }
}

export function decodeCheckedJson(text: string): unknown {
  const at = text.length - 9;
  if (at >= 0 && text.charCodeAt(at) === 0x23 /* # */ && /^[0-9a-f]{8}$/.test(text.slice(at + 1))) {
    const json = text.slice(0, at);
    /* Precondition: the text is what was written. */
    if (checkOf(json) !== text.slice(at + 1)) throw new DamagedValueError();
    return JSON.parse(json);
  }
  return JSON.parse(text);
}

/** The encoding the store's JSON sublevels use (abstract-level's custom encoding shape). */
export const checkedJson = {
  name: 'keyhold-checked-json',
  format: 'utf8' as const,
  encode: encodeCheckedJson,
  decode: decodeCheckedJson,
};

function checkOf(json: string): string {
  return crc32c(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0');
}
