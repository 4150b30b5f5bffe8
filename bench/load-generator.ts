/**
 * The load generator: a child process (started by bench/load-job.ts) that runs autocannon
 * jobs received over IPC and sends back req/s and latency percentiles.
 *
 * Signatures: each distinct body is signed once, here, right before its job starts, and the
 * same headers are sent again and again. The server accepts a signature for 300 s either side
 * of its X-Kms-Date and remembers only those of state-changing requests, and a job lasts
 * seconds, so reuse is valid for the others; it also keeps HMAC work out of the load
 * generator's share of the two cores. A state-changing job (`uniqueField`) signs every request
 * anew, with a distinct value in that field, as the server requires.
 *
 * TLS: autocannon connects with rejectUnauthorized false (hard-coded in its client), which
 * is acceptable here only because the target is a self-signed server on 127.0.0.1.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import autocannon from 'autocannon';
import { signRequest } from '../src/protocol/signing.js';
import { NodeSha256 } from '../test/helpers/aws-sha256.js';
import type { LoadJob, LoadResult } from './load-job.js';

type AutocannonRequest = NonNullable<autocannon.Options['requests']>[number];

function signedRequest(job: LoadJob, body: Record<string, unknown>): AutocannonRequest {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  const headers = signRequest({
    method: 'POST',
    pathWithQuery: job.path,
    body: bytes,
    accessKeyId: job.accessKeyId,
    secretKey: Buffer.from(job.secretKey, 'base64'),
  });
  return { method: 'POST', path: job.path, headers: { ...headers, 'Content-Type': 'application/json' }, body: bytes };
}

/** A request for the AWS door, signed as @aws-sdk/client-kms signs it (SigV4, `kms`, us-east-1). */
async function awsSignedRequest(job: LoadJob, body: Record<string, unknown>): Promise<AutocannonRequest> {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  // SigV4 signs the Host header, so one signed request fits one origin only.
  if (job.origins.length !== 1) throw new Error('an AWS door job goes to one origin');
  const host = new URL(job.origins[0]!).host;
  const signer = new SignatureV4({
    service: 'kms',
    region: 'us-east-1',
    credentials: { accessKeyId: job.accessKeyId, secretAccessKey: job.secretKey },
    sha256: NodeSha256,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'https:',
    hostname: host.split(':')[0]!,
    path: '/',
    headers: { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${job.awsTarget}` },
    body: bytes,
  });
  return { method: 'POST', path: '/', headers: signed.headers as Record<string, string>, body: bytes };
}

/** Connection i gets requests i, i + connections, …: every key is used and connections do not move in step. */
async function requestsPerConnection(job: LoadJob): Promise<AutocannonRequest[][]> {
  if (job.uniqueField !== undefined) return Array.from({ length: job.connections }, (_, connection) => [freshlySigned(job, job.uniqueField!, connection)]);
  const bodies = job.keyIds ? job.keyIds.map((KeyId) => ({ ...job.body, KeyId })) : [job.body];
  const slices: AutocannonRequest[][] = Array.from({ length: job.connections }, () => []);
  for (const [index, body] of bodies.entries()) {
    slices[index % job.connections]!.push(job.awsTarget === undefined ? signedRequest(job, body) : await awsSignedRequest(job, body));
  }
  return slices.map((slice, index) => (slice.length > 0 ? slice : slices[index % bodies.length]!));
}

/** The parts of autocannon 9's client (lib/httpClient.js) that reconnectCleanly replaces. */
interface AutocannonClientInternals {
  conn?: unknown;
  _connect(): void;
  _destroyConnection(): void;
}

/**
 * Makes an autocannon client start afresh when the server closes its connection. autocannon 9
 * ignores `Connection: close`: it writes its next request on the connection the server is
 * closing and, when the close comes, connects again without dropping that request from its
 * queue of requests awaiting an answer, so every later answer on that client is timed from the
 * request sent before it, and the closed connection's 'error' can connect a second time. A
 * server that closes keep-alive connections (workers evening out their connections) would show
 * latencies it does not have. Before each new connection, the old one is dropped with its
 * queue, as autocannon's own timeout handling does; the request lost with it is not counted.
 */
function reconnectCleanly(client: autocannon.Client): void {
  const internals = client as unknown as AutocannonClientInternals;
  if (typeof internals._connect !== 'function' || typeof internals._destroyConnection !== 'function') {
    throw new Error('autocannon changed: its client has no _connect and _destroyConnection to wrap');
  }
  const connect = internals._connect;
  internals._connect = function (this: AutocannonClientInternals) {
    if (this.conn) this._destroyConnection();
    connect.call(this);
  };
}

/** A request that autocannon builds anew each time it is sent: a distinct field value, a new signature. */
function freshlySigned(job: LoadJob, field: string, connection: number): AutocannonRequest {
  let sent = 0;
  const next = () => signedRequest(job, { ...job.body, [field]: `${String(job.body[field] ?? '')} ${connection}-${sent++}` });
  return { ...next(), setupRequest: (request) => ({ ...request, ...next() }) };
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** `connections` split over `parts` origins as evenly as whole numbers allow (64 over 2: 32 and 32). */
function splitConnections(connections: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(connections / parts) + (index < connections % parts ? 1 : 0));
}

/**
 * One continuous autocannon run of warm-up + duration on the same keep-alive connections;
 * only answers after the warm-up count, so TLS handshakes and JIT warm-up stay out. With
 * several origins (the nodes of one database), one autocannon instance per origin, all at
 * once, their answers counted together.
 */
async function runJob(job: LoadJob): Promise<LoadResult> {
  const slices = await requestsPerConnection(job);
  let nextConnection = 0;
  const latencies: number[] = [];
  let failures = 0;
  let allRequests = 0;
  let measuring = false;
  const warmupTimer = setTimeout(() => {
    measuring = true;
    // The parent reads the processes' CPU counters now, so CPU is measured over the same window.
    process.send!({ measuring: true });
  }, job.warmupSeconds * 1000);

  const shares = splitConnections(job.connections, job.origins.length);
  const runs = job.origins.map(
    (origin, index) =>
      new Promise<void>((resolve, reject) => {
        const instance = autocannon(
          {
            url: origin,
            connections: shares[index]!,
            duration: job.warmupSeconds + job.durationSeconds,
            requests: [slices[0]![0]!],
            // One counter for all instances: every connection gets a slice of its own.
            setupClient: (client) => {
              client.setRequests(slices[nextConnection++ % slices.length]!);
              reconnectCleanly(client);
            },
          },
          (error) => (error ? reject(error) : resolve()),
        );
        instance.on('response', (_client, statusCode, _bytes, responseTime) => {
          allRequests++;
          if (!measuring) return;
          latencies.push(responseTime);
          if (statusCode < 200 || statusCode > 299) failures++;
        });
        instance.on('reqError', () => {
          if (measuring) failures++;
        });
      }),
  );
  await Promise.all(runs);
  clearTimeout(warmupTimer);

  const sorted = Float64Array.from(latencies).sort();
  return {
    requestsPerSec: latencies.length / job.durationSeconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    requests: latencies.length,
    allRequests,
    failures,
  };
}

process.on('message', (job: LoadJob) => {
  runJob(job).then(
    (result) => process.send!({ result }),
    (error: Error) => process.send!({ error: error.message }),
  );
});
process.on('disconnect', () => process.exit(0));
