import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type KmsError, RequestEntityTooLarge, ValidationException } from '../errors.js';

/**
 * Reads a request's whole body, at most `limit` bytes. A declared Content-Length over the limit
 * is refused before a byte is read, and a body that grows past it as soon as it does: the
 * server never holds more than `limit` bytes of a request that is not yet authenticated.
 * After that refusal the connection is closed once the answer is out (see closesAfterAnswer):
 * reading and dropping the rest would let one client keep the server busy with a body of any size.
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
    tooLargeBodies.add(req);
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
        // Nothing more is read: the connection closes once the answer is out.
        req.pause();
        tooLargeBodies.add(req);
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

/** Requests refused as too large, whose connection must not carry another request. */
const tooLargeBodies = new WeakSet<IncomingMessage>();

/**
 * Whether the answer to `req` must close its connection (`Connection: close`; node then ends
 * the socket once the answer is flushed): its body was refused as too large and not read.
 */
export function closesAfterAnswer(req: IncomingMessage): boolean {
  return tooLargeBodies.has(req);
}

/** How long, and how many bytes, a refused body is still read and dropped after the answer. */
const LINGER_MS = 2_000;
const LINGER_BYTES = 1024 * 1024;

/**
 * A lingering close for a connection whose request body was refused unread (as nginx and Apache
 * do). node destroys a `Connection: close` socket as soon as the answer is written; with the
 * client's unread bytes still in its buffer the kernel then sends RST instead of FIN, and the
 * client's TCP may drop the 413 before the client has read it, so the client sees a reset
 * instead of the answer. Here the answer is followed by FIN, and whatever the client still
 * sends is read and dropped for at most LINGER_MS or LINGER_BYTES, then the socket is closed:
 * bounded, so that no client can keep the server reading.
 */
export function lingerBeforeClosing(res: ServerResponse): void {
  const socket = res.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket) return;
  // node's http server calls destroySoon once the last answer of the connection is written.
  socket.destroySoon = function lingeringClose(this: Socket) {
    let dropped = 0;
    const close = () => this.destroy();
    const timer = setTimeout(close, LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', close);
    this.end();
    // The HTTP parser is done with this connection: what still arrives is dropped, not parsed.
    this.removeAllListeners('data');
    this.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) close();
    });
    this.resume();
  };
}

function tooLarge(limit: number): KmsError {
  return new RequestEntityTooLarge(`The request body is larger than ${limit / 1024} KiB`);
}
