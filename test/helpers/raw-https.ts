import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { signRequest } from '../../src/protocol/signing.js';
import { rememberSecret } from './secrets.js';

/** What came back on one raw connection. */
export interface RawAnswer {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** Opens a TLS connection to 127.0.0.1:port (the test server's self-signed certificate is not checked). */
export function connectTls(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Sends `head` (the request line and headers, written exactly as given, one per entry) and
 * `body` on a new TLS connection with `Connection: close`, and reads the answer until the
 * server closes. Rejects after `patienceMs`.
 */
export async function rawRequest(port: number, head: string[], body: Buffer, patienceMs = 30_000): Promise<RawAnswer> {
  const socket = await connectTls(port);
  const lines = [...head, `Content-Length: ${body.length}`, 'Connection: close', '', ''];
  // write, not end: a client that half-closes may see its connection closed before the answer.
  socket.write(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]));
  const received = await readUntilEnd(socket, patienceMs);
  return parseAnswer(received);
}

/** Everything the server sends until it ends the connection; rejects after `patienceMs`. */
export function readUntilEnd(socket: tls.TLSSocket, patienceMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not end the connection within ${patienceMs} ms`));
    }, patienceMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', () => undefined); // 'close' follows and settles
  });
}

/** Status, headers and JSON body of one HTTP/1.1 answer with a Content-Length. */
export function parseAnswer(received: Buffer): RawAnswer {
  const text = received.toString('utf8');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error(`no complete answer: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...headerLines] = text.slice(0, headEnd).split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  const bodyText = text.slice(headEnd + 4);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: bodyText ? JSON.parse(bodyText) : {} };
}

/** Signs action requests with the admin credential a server process wrote into its data directory. */
export function adminSigner(dataDir: string): (pathWithQuery: string, body: Buffer) => Record<string, string> {
  const credentials = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8'));
  const secretKey = Buffer.from(credentials.SecretKey, 'base64');
  rememberSecret(secretKey);
  return (pathWithQuery, body) => signRequest({ method: 'POST', pathWithQuery, body, accessKeyId: credentials.AccessKeyId, secretKey });
}
