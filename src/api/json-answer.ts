import { Buffer } from 'node:buffer';
import type { ServerResponse } from 'node:http';
import { closesAfterAnswer, lingerBeforeClosing } from './request-body.js';
import type { HeaderPairs } from './security-headers.js';

/** What express's `res.json` sends as Content-Type; clients see no difference. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Writes one whole JSON answer: status, headers and body (its text, or its UTF-8 bytes from `jsonAnswerBody`). */
export type JsonAnswerWriter = (res: ServerResponse, status: number, requestId: string, json: string | Buffer) => void;

/**
 * A writer of whole JSON answers with X-Request-Id (the AWS door: x-amzn-RequestId), the security headers and the content
 * headers, in one `writeHead` from a header list built once: no per-header `setHeader` calls,
 * and node writes head and body as one TLS record.
 *
 * @example
 *   const answer = jsonAnswerWriter(securityHeaders());
 *   answer(res, 200, requestId, JSON.stringify(result));
 */
export function jsonAnswerWriter(
  security: HeaderPairs,
  { requestIdHeader = 'X-Request-Id', contentType = JSON_CONTENT_TYPE }: { requestIdHeader?: string; contentType?: string } = {},
): JsonAnswerWriter {
  const template = [requestIdHeader, '', ...security.flat(), 'Content-Type', contentType, 'Content-Length', ''];
  const requestIdAt = 1;
  const contentLengthAt = template.length - 1;
  return function writeJsonAnswer(res, status, requestId, json) {
    const headers = template.slice();
    const bytes = Buffer.byteLength(json, 'utf8');
    headers[requestIdAt] = requestId;
    headers[contentLengthAt] = String(bytes);
    // With Connection: close node ends the socket once this answer is flushed.
    if (closesAfterAnswer(res.req)) {
      headers.push('Connection', 'close');
      lingerBeforeClosing(res);
    }
    const restore = holdWholeAnswer(res, bytes);
    try {
      res.writeHead(status, headers);
      if (typeof json === 'string') res.end(json, 'utf8');
      else res.end(json);
    } finally {
      restore();
    }
  };
}

/** Room for the answer's head (status line and headers) beside its body. */
const HEAD_BYTES = 4 * 1024;

/**
 * Lets the one write of a large answer (a batch's: up to about 2 MiB) not count as backpressure.
 * node decides whether a write leaves the socket "needing drain" when the write is made (the
 * bytes not yet sent against the socket's high-water mark, 16 KiB), and until that drain it
 * pauses a keep-alive connection's parser as the next request's headers arrive. On a TLS
 * connection node 20 then still hands the parser the request's next records, already
 * decrypted; the parser fails with "Parse Error: Paused" and node resets the connection. A
 * client that sends its next batch as soon as it has read an answer met that whenever the
 * server was busy (the bench's batch row: 37 % of requests reset with two workers). So for the
 * one write of this answer the mark is raised to its size, and put back as soon as the write is
 * made (the returned function): the answer's bytes are in the socket's buffer either way, and
 * every later write, and a client piping requests without reading its answers, meets node's
 * default mark again. An answer queued behind another (pipelined: no socket yet) is not covered.
 */
function holdWholeAnswer(res: ServerResponse, bytes: number): () => void {
  const state = (res.socket as { _writableState?: { highWaterMark?: unknown } } | null)?._writableState;
  const mark = state?.highWaterMark;
  if (typeof mark !== 'number' || bytes + HEAD_BYTES <= mark) return () => undefined;
  state!.highWaterMark = bytes + HEAD_BYTES;
  return () => {
    state!.highWaterMark = mark;
  };
}

/** A top-level array longer than this is written in groups of elements (a batch's Results, a listing's page). */
const GROUPED_ARRAY_LENGTH = 16;
/** A group's JSON is kept near this many characters: well below V8's large-object size (128 KiB). */
const GROUP_CHARACTERS = 32 * 1024;
const MAX_GROUP_ITEMS = 256;

/**
 * An answer's JSON: exactly `JSON.stringify(value)`, as text, or as its UTF-8 bytes when the
 * value is an object with a long array (a batch's 100-1,000 results, about 150 KB per 100
 * items of 1 KiB). Such an array is stringified a group of elements at a time and the groups
 * are written into one Buffer, so that no string of the answer grows past V8's large-object
 * size: node 20 spends about 150 µs on each string above 128 KiB (an allocation of its own,
 * outside the young generation; bench/RESULTS.md), and one large answer made three (the
 * stringified text, the flattened text, and node's head-and-body string for the socket).
 * An element's `toJSON` gets its index within its group, not within the array (no answer of
 * Keyhold's has a key-dependent `toJSON`).
 *
 * @example
 *   writeAnswer(res, 200, requestId, jsonAnswerBody({ Results: results }));
 */
export function jsonAnswerBody(value: unknown): string | Buffer {
  if (!isGroupable(value)) return JSON.stringify(value);
  const pieces: string[] = [];
  for (const [name, field] of Object.entries(value)) {
    const before = pieces.length === 0 ? '{' : ',';
    if (!Array.isArray(field) || field.length <= GROUPED_ARRAY_LENGTH) {
      const json = JSON.stringify(field) as string | undefined; // undefined for what JSON leaves out
      if (json !== undefined) pieces.push(`${before}${JSON.stringify(name)}:${json}`);
      continue;
    }
    pieces.push(`${before}${JSON.stringify(name)}:[`);
    let size = GROUPED_ARRAY_LENGTH;
    for (let start = 0, end = 0; start < field.length; start = end) {
      end = Math.min(start + size, field.length);
      const group = JSON.stringify(field.slice(start, end));
      pieces.push(start === 0 ? group.slice(1, -1) : `,${group.slice(1, -1)}`);
      // The next group's size follows this one's: elements of an answer's array are alike.
      if (group.length > GROUP_CHARACTERS) size = Math.max(1, size >> 1);
      else if (group.length < GROUP_CHARACTERS / 4) size = Math.min(MAX_GROUP_ITEMS, size * 2);
    }
    pieces.push(']');
  }
  pieces.push(pieces.length === 0 ? '{}' : '}');
  let bytes = 0;
  for (const piece of pieces) bytes += Buffer.byteLength(piece, 'utf8');
  const body = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (const piece of pieces) offset += body.write(piece, offset, 'utf8');
  /* Postcondition: the pieces filled the buffer exactly (byteLength and utf8Write agree). */
  if (offset !== bytes) throw new Error("an answer's JSON was not written whole");
  return body;
}

/** A plain object (no toJSON of its own) with at least one long array among its own fields. */
function isGroupable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  if ((prototype !== Object.prototype && prototype !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const name in value) {
    const field = (value as Record<string, unknown>)[name];
    if (Array.isArray(field) && field.length > GROUPED_ARRAY_LENGTH && Object.hasOwn(value, name)) return true;
  }
  return false;
}
