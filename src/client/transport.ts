/**
 * One HTTPS exchange: send a request through an agent, collect the answer, map transport
 * failures to KeyholdConnectionError. Knows nothing of signing or of Keyhold's actions.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { KeyholdApiError, KeyholdConnectionError } from './errors.js';

/** Answers larger than this are refused: a misbehaving server cannot exhaust our memory. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface HttpsRequest {
  agent: https.Agent;
  /** `https://host:port`; the path comes from `path`. */
  origin: URL;
  method: string;
  /** Path and query string, sent exactly as given. */
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
  /** Deadline for the whole exchange, connection included. */
  timeoutMs: number;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** node:https options for a request. */
export function requestOptions(request: HttpsRequest): https.RequestOptions {
  return {
    agent: request.agent,
    // URL keeps IPv6 hosts in brackets; the socket layer wants them bare.
    host: request.origin.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: request.origin.port === '' ? 443 : Number(request.origin.port),
    method: request.method,
    path: request.path,
    headers: request.headers,
  };
}

/**
 * @example
 *   const res = await sendHttpsRequest({ agent, origin: new URL('https://127.0.0.1:8443'),
 *     method: 'GET', path: '/healthz', headers: {}, timeoutMs: 5000 });
 */
export function sendHttpsRequest(request: HttpsRequest): Promise<HttpsResponse> {
  const target = request.origin.host;
  return new Promise<HttpsResponse>((resolve, reject) => {
    let finished = false;
    const fail = (err: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      reject(err);
    };

    const req = https.request(requestOptions(request));

    const deadline = setTimeout(() => {
      const err = new KeyholdConnectionError(
        `No answer from ${target} within ${request.timeoutMs} ms`,
        { code: 'ETIMEDOUT' },
      );
      fail(err);
      req.destroy(err);
    }, request.timeoutMs);

    const failWith = (err: NodeJS.ErrnoException): void =>
      fail(
        err instanceof KeyholdConnectionError || err instanceof KeyholdApiError
          ? err
          : new KeyholdConnectionError(`Cannot reach Keyhold at ${target}: ${err.message}`, {
              code: err.code,
              cause: err,
            }),
      );
    req.on('error', failWith);

    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) {
          const err = new KeyholdApiError(
            'UnexpectedResponse',
            res.statusCode ?? 0,
            `The answer from ${target} exceeds ${MAX_RESPONSE_BYTES} bytes`,
          );
          fail(err);
          req.destroy(err);
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', failWith);
      res.on('aborted', () =>
        fail(
          new KeyholdConnectionError(`The connection to ${target} closed mid-answer`, {
            code: 'ECONNRESET',
          }),
        ),
      );
      res.on('end', () => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });

    req.end(request.body);
  });
}
