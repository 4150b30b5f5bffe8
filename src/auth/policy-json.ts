import { invalidField, quote } from './policy-field.js';

/** The largest policy document, in bytes of its JSON text (UTF-8). */
export const MAX_POLICY_BYTES = 16 * 1024;

/** A document's size check, before any parsing: 16 KiB bounds every later step. */
export function checkPolicySize(text: string): void {
  // Every UTF-16 unit is at least one UTF-8 byte: a long string fails without being measured.
  const bytes = text.length > MAX_POLICY_BYTES ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) throw invalidField('Policy', `is ${bytes} bytes or more of JSON, at most ${MAX_POLICY_BYTES} (16 KiB) are allowed`);
}

/**
 * Parses a policy's JSON text. A key written twice in one object is refused: JSON.parse keeps
 * the last, so `"Effect": "Deny", …, "Effect": "Allow"` would read as a Deny to a reviewer
 * and act as an Allow.
 */
export function parsePolicyText(text: string): unknown {
  checkPolicySize(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidField('Policy', 'is not valid JSON');
  }
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined) throw invalidField('Policy', `the key ${quote(duplicate)} appears twice in one object`);
  return parsed;
}

interface OpenObject {
  keys: Set<string> | undefined; // undefined for an array
  expectingKey: boolean;
}

/**
 * The first key that appears twice in one object of `text`, which must be valid JSON (so the
 * scanner only has to tell strings, brackets and commas apart). Linear in the text's length.
 */
export function firstDuplicateKey(text: string): string | undefined {
  const open: OpenObject[] = [];
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    const top = open[open.length - 1];
    if (character === '{') open.push({ keys: new Set(), expectingKey: true });
    else if (character === '[') open.push({ keys: undefined, expectingKey: false });
    else if (character === '}' || character === ']') open.pop();
    else if (character === ',' && top?.keys) top.expectingKey = true;
    else if (character === '"') {
      const end = stringEnd(text, index);
      if (top?.keys && top.expectingKey) {
        const key = JSON.parse(text.slice(index, end + 1)) as string; // escapes decoded: "\u0045ffect" is "Effect"
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectingKey = false;
      }
      index = end;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length && text[index] !== '"') index += text[index] === '\\' ? 2 : 1;
  return index;
}
