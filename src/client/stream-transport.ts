/**
 * One HTTPS exchange whose answer is a stream (a backup): like sendHttpsRequest, but a 2xx
 * answer is handed over unread, to be consumed at the reader's pace. An error answer is read
 * (at most 64 KiB) and thrown as the KeyholdApiError it describes.
 */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { readJsonAnswer } from './answers.js';
import { KeyholdApiError, KeyholdConnectionError } from './errors.js';
import { requestOptions, type HttpsRequest } from './transport.js';

const MAX_ERROR_BYTES = 64 * 1024;

/**
 * Resolves with the answer once its head has arrived within `timeoutMs`; from then on the
 * stream fails with a KeyholdConnectionError when nothing arrives for `timeoutMs`.
 *
 * @example
 *   const answer = await openHttpsStream({ agent, origin, method: 'POST', path, headers, body, timeoutMs: 30_000 });
 *   for await (const chunk of answer) write(chunk);
 */
export function openHttpsStream(request: HttpsRequest): Promise<IncomingMessage> {
  const target = request.origin.host;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.request(requestOptions(request));
    req.setTimeout(request.timeoutMs, () => {
      req.destroy(new KeyholdConnectionError(`No data from ${target} within ${request.timeoutMs} ms`, { code: 'ETIMEDOUT' }));
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error instanceof KeyholdConnectionError || error instanceof KeyholdApiError
          ? error
          : new KeyholdConnectionError(`Cannot reach Keyhold at ${target}: ${error.message}`, { code: error.code, cause: error }),
      ),
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        return;
      }
      void readErrorAnswer(res, status).then(reject, reject);
    });
    req.end(request.body);
  });
}

async function readErrorAnswer(res: IncomingMessage, status: number): Promise<Error> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > MAX_ERROR_BYTES) break;
    chunks.push(chunk);
  }
  try {
    readJsonAnswer({ status, headers: res.headers, body: Buffer.concat(chunks) });
  } catch (error) {
    return error as Error;
  }
  return new KeyholdApiError('UnexpectedResponse', status, `The server answered HTTP ${status}`);
}
