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
        const key = JSON.parse(text.slice(index, end + 1)) as string;
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
