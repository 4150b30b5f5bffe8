import type { ServerResponse } from 'node:http';
import { closesAfterAnswer, lingerBeforeClosing } from './request-body.js';
import type { HeaderPairs } from './security-headers.js';

/** What express's `res.json` sends as Content-Type; clients see no difference. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Writes one whole JSON answer: status, headers and body. */
export type JsonAnswerWriter = (res: ServerResponse, status: number, requestId: string, json: string) => void;

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
      res.end(json, 'utf8');
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
