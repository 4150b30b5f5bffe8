import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkExchange, type Verdict } from './openapi-validator.js';

/**
 * Checks every exchange a Keyhold server of the test run answers against the OpenAPI
 * description, on the spot, in the process that answered it: the in-process servers of the
 * mocha process (service-harness.ts, supertest) and, imported with `--import` into every
 * server process (server-process.ts) and so into its workers, the servers that the client,
 * the CLI, the aws CLI, boto3 and the AWS SDK talk to.
 *
 * Each verdict is one line in a file of the run's directory: the operation, the status and
 * what did not conform. Bodies are never written anywhere (they hold the tests' plaintexts);
 * the last test of the run (test/final/openapi-exchanges.test.ts) reads the verdicts.
 */

/** The run's directory of verdicts, shared with the server processes through the environment. */
export const EXCHANGES_DIR_VARIABLE = 'OPENAPI_EXCHANGES_DIR';

/** This module's file, for `node --import` in the server processes. */
export const RECORDER_MODULE = fileURLToPath(import.meta.url);

export interface RecordedVerdict extends Verdict {
  status: number;
  /** The process that answered. */
  pid: number;
}

/** Bodies beyond this are not kept: the exchange is then not checked. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;

function exchangesDir(): string {
  const given = process.env[EXCHANGES_DIR_VARIABLE];
  if (given !== undefined && given !== '') return given;
  const created = mkdtempSync(path.join(tmpdir(), 'keyhold-exchanges-'));
  process.env[EXCHANGES_DIR_VARIABLE] = created;
  // The process that made the directory removes it.
  process.on('exit', () => rmSync(created, { recursive: true, force: true }));
  return created;
}

const dir = exchangesDir();
const verdictFile = path.join(dir, `${process.pid}.ndjson`);

/** Every verdict written so far by every process of the run. */
export function readVerdicts(): RecordedVerdict[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.ndjson'))
    .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n'))
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RecordedVerdict);
}

subscribe('http.server.request.start', (message) => {
  const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
  watch(request, response);
});

function watch(req: IncomingMessage, res: ServerResponse): void {
  const requestBody = new Capture();
  const answerBody = new Capture();
  const headers: Record<string, string> = {};

  // The parser pushes each chunk of the body: a copy is kept without changing how the stream flows.
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk !== null && chunk !== undefined) requestBody.add(chunk, encoding);
    return push(chunk, encoding);
  };
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    const given = args.findLast((arg) => typeof arg === 'object' && arg !== null);
    if (Array.isArray(given)) for (let at = 0; at + 1 < given.length; at += 2) headers[String(given[at]).toLowerCase()] = String(given[at + 1]);
    else if (given !== undefined) for (const [name, value] of Object.entries(given as OutgoingHttpHeaders)) headers[name.toLowerCase()] = String(value);
    return writeHead(...args);
  }) as ServerResponse['writeHead'];
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    answerBody.add(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined);
    return write(chunk, ...rest);
  }) as ServerResponse['write'];
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') answerBody.add(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined);
    return end(chunk, ...rest);
  }) as ServerResponse['end'];

  res.once('finish', () => {
    for (const [name, value] of Object.entries(res.getHeaders())) headers[name] ??= String(value);
    // Keyhold's answers, and only those, carry its security headers and a request id (not the
    // fakes of other KMSs, nor a test's own helmet app).
    const keyholds = headers['content-security-policy'] !== undefined && (headers['x-request-id'] ?? headers['x-amzn-requestid']) !== undefined;
    if (!keyholds || requestBody.overflowed || answerBody.overflowed) return;
    // The web console's static files (and its redirect) are not the API the description covers.
    // Express has cut its mount point off req.url by now: originalUrl is the request's own.
    if (/^\/console(?:[/?]|$)/i.test((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/')) return;
    const target = req.headers['x-amz-target'];
    const verdict = checkExchange({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      target: typeof target === 'string' ? target : undefined,
      status: res.statusCode,
      contentType: headers['content-type'],
      requestBody: requestBody.bytes(),
      answerBody: answerBody.bytes(),
    });
    const recorded: RecordedVerdict = { ...verdict, status: res.statusCode, pid: process.pid };
    appendFileSync(verdictFile, `${JSON.stringify(recorded)}\n`, { mode: 0o600 });
  });
}

class Capture {
  private chunks: Buffer[] = [];
  private length = 0;
  overflowed = false;

  add(chunk: unknown, encoding?: BufferEncoding): void {
    if (this.overflowed || chunk === null || chunk === undefined) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : undefined;
    if (bytes === undefined) return;
    this.length += bytes.length;
    if (this.length > MAX_BODY_BYTES) {
      this.overflowed = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(Buffer.from(bytes));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
