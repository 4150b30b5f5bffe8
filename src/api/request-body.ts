import type { IncomingMessage } from 'node:http';
import { type KmsError, RequestEntityTooLarge, ValidationException } from '../errors.js';

/**
 * Reads a request's whole body, at most `limit` bytes. A declared Content-Length over the limit
 * is refused before a byte is read, and a body that grows past it as soon as it does: the
 * server never holds more than `limit` bytes of a request that is not yet authenticated.
 * What follows a refusal is read and dropped, so the connection stays usable.
 *
 * @throws RequestEntityTooLarge the body is over `limit` bytes
 * @throws ValidationException the body is compressed, or the connection broke before its end
 *
 * @example
 *   const body = await readBody(req, 64 * 1024);
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  /* Precondition: a declared Content-Length over the limit is refused before reading. */
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  /* Precondition: the body is not compressed (the signature covers the bytes as sent). */
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    req.resume();
    return Promise.reject(new ValidationException('Content-Encoding is not supported; send the body uncompressed'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onBroken);
      req.off('close', onBroken);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      /* Precondition: the bytes received so far are within the limit. */
      if (length > limit) {
        stop();
        chunks.length = 0;
        // Still flowing with no listener: the rest is read and dropped.
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
    };
    // 'close' before 'end': the client went away mid-body.
    const onBroken = () => {
      stop();
      reject(new ValidationException('The request body could not be read'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onBroken);
    req.on('close', onBroken);
  });
}

function tooLarge(limit: number): KmsError {
  return new RequestEntityTooLarge(`The request body is larger than ${limit / 1024} KiB`);
}
