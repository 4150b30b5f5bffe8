import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { PinnedAgent, signRequest } from '../../src/client/index.js';
import { rememberSecret } from './secrets.js';
import type { ServerProcess } from './server-process.js';

/** What one request to a server process came to: an answer, or a connection error. */
export interface Exchange {
  /** 0 when there was no answer (the connection was reset or the client gave up). */
  status: number;
  /** The worker that answered (X-Keyhold-Worker), when one did. */
  worker: string | undefined;
  body: Record<string, unknown>;
  /** The connection's error code (ECONNRESET, …) or 'client-timeout', when there was no answer. */
  error: string | undefined;
  /** From sending to the answer or the error. */
  ms: number;
}

export interface ServerClient {
  /**
   * A signed action request with the admin credential, on a new connection. `signed` fixes the
   * nonce and date, so that the same signed bytes can be sent again (to test replays).
   */
  call(action: string, body?: object, signed?: { nonce: string; now: Date }): Promise<Exchange>;
  /** An unsigned GET (`/healthz`, `/readyz`), on a new connection. */
  get(pathWithQuery: string): Promise<Exchange>;
  /** Closes the connections a keep-alive client keeps open (nothing to do otherwise). */
  close(): void;
}

/**
 * A client of a server process started by startServerProcess, signing with the admin credential
 * of its data directory. Every request goes on a new connection (which a cluster's workers
 * share out), or with `keepAlive` on the connections the client keeps open, and never waits longer than `patienceMs`: a request that hangs comes back as
 * `{ status: 0, error: 'client-timeout' }` instead of hanging the test.
 */
export function serverClient(server: ServerProcess, dataDir: string, patienceMs = 30_000, { keepAlive = false }: { keepAlive?: boolean } = {}): ServerClient {
  const credentials = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8'));
  const secretKey = Buffer.from(credentials.SecretKey, 'base64');
  rememberSecret(secretKey);

  // With keepAlive, one agent for every call: each connection carries request after request.
  const shared = keepAlive ? new PinnedAgent({ certSha256: server.certSha256, keepAlive: true }) : undefined;
  const send = (method: string, pathWithQuery: string, body?: Buffer, now?: Date): Promise<Exchange> => {
    const agent = shared ?? new PinnedAgent({ certSha256: server.certSha256, keepAlive: false });
    const headers: Record<string, string> = body
      ? { 'Content-Type': 'application/json', ...signRequest({ method, pathWithQuery, body, accessKeyId: credentials.AccessKeyId, secretKey, now }) }
      : {};
    const started = performance.now();
    return new Promise<Exchange>((resolve) => {
      const done = (fields: Omit<Exchange, 'ms'>) => resolve({ ...fields, ms: performance.now() - started });
      const failed = (error: NodeJS.ErrnoException) => done({ status: 0, worker: undefined, body: {}, error: error.code ?? error.message });
      const req = https.request({ host: '127.0.0.1', port: server.port, method, path: pathWithQuery, headers, agent, timeout: patienceMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const worker = res.headers['x-keyhold-worker'];
          done({ status: res.statusCode!, worker: worker === undefined ? undefined : String(worker), body: text ? JSON.parse(text) : {}, error: undefined });
        });
        res.on('error', failed);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('client-timeout'), { code: 'client-timeout' })));
      req.on('error', failed);
      req.end(body);
    }).finally(() => {
      if (agent !== shared) agent.destroy();
    });
  };
  return {
    // A nonce per call, as the Keyhold client sends: equal state-changing calls in one second are not replays.
    call: (action, body = {}, signed) => send('POST', `/api/v1/kms/${action}?nonce=${signed?.nonce ?? randomUUID()}`, Buffer.from(JSON.stringify(body)), signed?.now),
    get: (pathWithQuery) => send('GET', pathWithQuery),
    close: () => shared?.destroy(),
  };
}

/** The JSON lines a server process has written to stdout. */
export function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Worker pids, in the order the primary logged them listening. */
export function workerPids(server: ServerProcess): number[] {
  return logLines(server)
    .filter((line) => line.msg === 'worker listening')
    .map((line) => line.workerPid as number);
}

/** Resolves once `condition` holds, checking every 50 ms; rejects after `patienceMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, patienceMs = 60_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
