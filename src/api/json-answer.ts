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
    headers[requestIdAt] = requestId;
    headers[contentLengthAt] = String(Buffer.byteLength(json, 'utf8'));
    // With Connection: close node ends the socket once this answer is flushed.
    if (closesAfterAnswer(res.req)) {
      headers.push('Connection', 'close');
      lingerBeforeClosing(res);
    }
    res.writeHead(status, headers);
    res.end(json, 'utf8');
  };
}
