/**
 * Reading the server's answers: JSON bodies, AWS-style error bodies, base64 byte fields.
 */
import { isStandardBase64 } from '../protocol/base64.js';
import type { HttpsResponse } from './transport.js';
import { KeyholdApiError } from './errors.js';

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The parsed body of a 2xx answer; otherwise the KeyholdApiError it describes. */
export function readJsonAnswer<T>(response: HttpsResponse): T {
  const requestId = headerString(response.headers['x-request-id']);
  const parsed = parseJson(response.body);
  if (response.status >= 200 && response.status < 300) {
    if (typeof parsed !== 'object' || parsed === null) {
      throw new KeyholdApiError(
        'UnexpectedResponse',
        response.status,
        'The server answered with a body that is not a JSON object',
        requestId,
      );
    }
    return parsed as T;
  }
  const error = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  // AWS-style types may arrive namespaced ("com.amazonaws.kms#NotFoundException").
  const type =
    typeof error.__type === 'string' ? (error.__type.split('#').pop() ?? error.__type) : 'UnexpectedResponse';
  const message =
    typeof error.message === 'string'
      ? error.message
      : typeof error.Message === 'string'
        ? error.Message
        : `The server answered HTTP ${response.status}`;
  throw new KeyholdApiError(type, response.status, message, requestId);
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Decodes one standard-base64 field of an answer, refusing anything else. */
export function base64Field(answer: Record<string, unknown>, name: string): Buffer {
  const value = answer[name];
  if (typeof value !== 'string' || !isStandardBase64(value)) {
    throw new KeyholdApiError('UnexpectedResponse', 200, `The server's ${name} is missing or not base64`);
  }
  return Buffer.from(value, 'base64');
}
