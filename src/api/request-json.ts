import { isUtf8 } from 'node:buffer';
import { ValidationException } from '../errors.js';

/**
 * Decodes a request body as JSON, refusing every body that could be read in more than one way:
 * bytes that are not UTF-8 (node would replace each bad sequence with U+FFFD, so a context
 * holding byte 0xFF and one holding 0xFE would become one AAD), and an object that names a
 * key twice at any depth (JSON.parse keeps the last one silently, while another parser in
 * front of Keyhold may keep the first). An empty body is an empty request.
 *
 * @throws ValidationException the body is not UTF-8, not JSON, or repeats a key
 *
 * @example
 *   parseJsonBody(Buffer.from('{"KeyId":"alias/orders"}')); // { KeyId: 'alias/orders' }
 */
export function parseJsonBody(body: Buffer): unknown {
  // listkeys and createkey need no fields.
  if (body.length === 0) return {};
  /* Precondition: the body is valid UTF-8. */
  if (!isUtf8(body)) throw new ValidationException('The request body is not valid UTF-8');
  if (body.length >= PIECEWISE_BYTES) {
    const value = parseObjectPiecewise(body);
    if (value !== undefined) return value;
  }
  // toString('utf8') keeps a leading BOM as U+FEFF, which JSON.parse refuses, as before;
  // TextDecoder would drop it.
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationException('The request body is not valid JSON');
  }
  /* Precondition: no object in the body names a key twice. */
  if (repeatsAKey(text)) throw new ValidationException('The request body names a key twice in one object');
  return value;
}

/**
 * Bodies from this size on are parsed piece by piece. V8 keeps a string of more than 128 KiB in
 * its large-object space, and making one costs about 500 µs on a 2-core VM however it is made
 * (a 130,000-byte `toString` took 10-20 µs, a 143,000-byte one 500-550 µs): a batch of 100
 * items is 143 KB. Below 64 KiB one JSON.parse is cheaper than the scan.
 */
const PIECEWISE_BYTES = 64 * 1024;

/**
 * More pieces than this and the whole text is parsed instead: each piece costs about 0.2 µs
 * whatever its size (4,001 one-byte elements: 0.8 ms), so a 1 MiB body of 500,000 of them
 * would cost about 100 ms piece by piece against 31 ms whole. A batch has at most 1,000 items.
 */
const MAX_PIECES = 4096;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * A body `{ "name": value, … }` parsed without its text as one string: each top-level value,
 * and each element of a top-level array (a batch's Items), is its own JSON.parse of its own
 * bytes. Equal to JSON.parse of the whole text whenever it gives a value: the pieces are JSON
 * that JSON.parse accepted, joined by `{ } [ ] , :` and JSON whitespace only, and no piece or
 * the top level names a key twice. Anything else (text that is not such an object, a piece
 * JSON.parse refuses, a repeated key, more than MAX_PIECES pieces) gives `undefined`, and the
 * caller parses the whole text as before, so every refusal keeps its message. `body` must be
 * valid UTF-8: pieces start and end at ASCII bytes, which never occur inside a multi-byte
 * sequence.
 */
export function parseObjectPiecewise(body: Buffer): Record<string, unknown> | undefined {
  let index = skipWhitespace(body, 0);
  if (body[index] !== OPEN_BRACE) return undefined;
  index = skipWhitespace(body, index + 1);
  const object: Record<string, unknown> = {};
  const keys = new Set<string>();
  let pieces = 0;
  if (body[index] === CLOSE_BRACE) index++;
  else {
    for (;;) {
      if (body[index] !== QUOTE) return undefined;
      const keyEnd = quoteEnd(body, index);
      const key = keyEnd < 0 ? undefined : parsePiece(body, index, keyEnd + 1)?.value;
      if (typeof key !== 'string' || keys.has(key)) return undefined;
      keys.add(key);
      index = skipWhitespace(body, keyEnd + 1);
      if (body[index] !== COLON) return undefined;
      index = skipWhitespace(body, index + 1);
      let value: unknown;
      if (body[index] === OPEN_BRACKET) {
        const elements: unknown[] = [];
        index = skipWhitespace(body, index + 1);
        if (body[index] === CLOSE_BRACKET) index++;
        else {
          for (;;) {
            if (++pieces > MAX_PIECES) return undefined;
            const end = valueEnd(body, index);
            const element = end < 0 ? undefined : parsePiece(body, index, end);
            if (element === undefined) return undefined;
            elements.push(element.value);
            index = skipWhitespace(body, end);
            if (body[index] === COMMA) index = skipWhitespace(body, index + 1);
            else if (body[index] === CLOSE_BRACKET) {
              index++;
              break;
            } else return undefined;
          }
        }
        value = elements;
      } else {
        if (++pieces > MAX_PIECES) return undefined;
        const end = valueEnd(body, index);
        const piece = end < 0 ? undefined : parsePiece(body, index, end);
        if (piece === undefined) return undefined;
        value = piece.value;
        index = end;
      }
      // As JSON.parse does: `__proto__` is an own field, never the prototype.
      Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
      index = skipWhitespace(body, index);
      if (body[index] === COMMA) index = skipWhitespace(body, index + 1);
      else if (body[index] === CLOSE_BRACE) {
        index++;
        break;
      } else return undefined;
    }
  }
  return skipWhitespace(body, index) === body.length ? object : undefined;
}

/** One value's bytes parsed, or undefined when JSON.parse refuses them or they repeat a key. */
function parsePiece(body: Buffer, start: number, end: number): { value: unknown } | undefined {
  const text = body.toString('utf8', start, end);
  try {
    const value: unknown = JSON.parse(text);
    return repeatsAKey(text) ? undefined : { value };
  } catch {
    return undefined;
  }
}

/**
 * Where the value starting at `start` ends (exclusive), or -1: a string to its closing quote,
 * an object or array to the bracket that closes it (strings skipped), anything else (a number,
 * true, false, null) to the next comma, bracket or whitespace. JSON.parse checks the piece.
 */
function valueEnd(body: Buffer, start: number): number {
  const first = body[start];
  if (first === QUOTE) {
    const end = quoteEnd(body, start);
    return end < 0 ? -1 : end + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let index = start; index < body.length; index++) {
      const byte = body[index];
      if (byte === QUOTE) {
        index = quoteEnd(body, index);
        if (index < 0) return -1;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && --depth === 0) return index + 1;
    }
    return -1;
  }
  let index = start;
  while (index < body.length) {
    const byte = body[index];
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isWhitespace(byte)) break;
    index++;
  }
  return index === start ? -1 : index;
}

/** The index of the quote closing the string that opens at `start`, or -1 (a native search per quote). */
function quoteEnd(body: Buffer, start: number): number {
  let quote = body.indexOf(QUOTE, start + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (body[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    quote = body.indexOf(QUOTE, quote + 1);
  }
  return -1;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipWhitespace(body: Buffer, start: number): number {
  let index = start;
  while (isWhitespace(body[index])) index++;
  return index;
}

/** One open container while scanning: the keys an object has named so far; null for an array. */
type Container = { keys: Set<string>; expectingKey: boolean } | null;

/**
 * Whether an object in `text` names one key twice, comparing keys after their escapes are
 * decoded (`"K"` and `"\u004B"` are one key). `text` must be JSON that JSON.parse accepted:
 * this scan relies on that and checks no syntax. One pass, linear in the length of `text`.
 * (No parser in node_modules reports duplicate keys, apart from json-bigint's strict mode,
 * which comes in only through gcp-metadata and has not been released since 2020.)
 */
export function repeatsAKey(text: string): boolean {
  const open: Container[] = [];
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (character === '{') open.push({ keys: new Set(), expectingKey: true });
    else if (character === '[') open.push(null);
    else if (character === '}' || character === ']') open.pop();
    else if (character === ',') {
      const container = open.at(-1);
      if (container) container.expectingKey = true;
    } else if (character === '"') {
      const end = stringEnd(text, index);
      const container = open.at(-1);
      if (container?.expectingKey) {
        // A key without escapes is its own text; JSON.parse decodes the others.
        const raw = text.slice(index + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(index, end + 1)) as string) : raw;
        if (container.keys.has(key)) return true;
        container.keys.add(key);
        container.expectingKey = false;
      }
      index = end;
    }
  }
  return false;
}

/**
 * The index of the quote that closes the string opening at `start`: the next quote not escaped
 * by an odd run of backslashes. indexOf keeps a long base64 value to a native search.
 */
function stringEnd(text: string, start: number): number {
  let quote = text.indexOf('"', start + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (text[quote - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return quote;
    quote = text.indexOf('"', quote + 1);
  }
  // Unreachable for text JSON.parse accepted; the end of the text stops the scan all the same.
  return text.length;
}
