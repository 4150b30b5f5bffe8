import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { expect } from 'chai';
import { PinnedAgent, signRequest } from '../../src/client/index.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { startFakeGcpKms } from '../fakes/gcp-kms.js';

const PASSPHRASE = 'metrics test passphrase, long enough';
const DASHBOARD = new URL('../../contrib/grafana/keyhold-dashboard.json', import.meta.url);
/** Conditions are awaited this long at most: a deadline for a stuck test, never a measurement. */
const PATIENCE_MS = 60_000;

interface Signer {
  accessKeyId: string;
  secretKey: Buffer;
}

interface Answer {
  status: number;
  worker: string;
  body: Record<string, unknown>;
}

/** One request on a new connection (the workers share the connections out between them). */
function send(server: ServerProcess, method: string, pathWithQuery: string, body?: object, signer?: Signer): Promise<Answer> {
  const agent = new PinnedAgent({ certSha256: server.certSha256, keepAlive: false });
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> =
    bytes && signer ? { 'Content-Type': 'application/json', ...signRequest({ method, pathWithQuery, body: bytes, accessKeyId: signer.accessKeyId, secretKey: signer.secretKey }) } : {};
  return new Promise<Answer>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: server.port, method, path: pathWithQuery, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, worker: String(res.headers['x-keyhold-worker']), body: text ? JSON.parse(text) : {} });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(bytes);
  }).finally(() => agent.destroy());
}

let nonce = 0;
function call(server: ServerProcess, signer: Signer, action: string, body: object = {}): Promise<Answer> {
  return send(server, 'POST', `/api/v1/kms/${action}?nonce=${nonce++}`, body, signer);
}

/** The port of the metrics listener, from the server's log line. */
function metricsPort(server: ServerProcess): number {
  const line = server
    .stdout()
    .split('\n')
    .find((each) => each.includes('"metrics listening"'));
  expect(line, 'the "metrics listening" log line').to.not.equal(undefined);
  return (JSON.parse(line!) as { port: number }).port;
}

function scrape(port: number, pathName = '/metrics'): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathName }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The samples of a scrape: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

/** The sum of the samples of `name` whose labels include every one of `labels`. */
function total(found: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, value] of found) {
    const brace = series.indexOf('{');
    if ((brace === -1 ? series : series.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([label, wanted]) => series.includes(`${label}="${wanted}"`))) sum += value;
  }
  return sum;
}

/** The metric names of a scrape (its `# TYPE` lines), with their types. */
function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (match) types.set(match[1]!, match[2]!);
  }
  return types;
}

async function waitFor(what: string, condition: () => Promise<boolean>, pauseMs = 100): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** Runs `work` for each item, `concurrency` at a time. */
async function inParallel<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

/** The pids of the server's workers (from its log), the ones that listened last. */
function workerPids(server: ServerProcess): number[] {
  return server
    .stdout()
    .split('\n')
    .filter((line) => line.includes('"worker listening"'))
    .map((line) => (JSON.parse(line) as { workerPid: number }).workerPid);
}

/** The TCP ports a process and its children listen on (from /proc: their sockets in state LISTEN). */
function listeningPorts(pid: number): number[] {
  const pids = [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  const inodes = new Set<string>();
  for (const each of pids) {
    const fdDir = `/proc/${each}/fd`;
    let fds: string[] = [];
    try {
      fds = readdirSync(fdDir);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(path.join(fdDir, fd));
        const match = /^socket:\[(\d+)\]$/.exec(target);
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is fields[1] (hex ip:port), st is fields[3] (0A = LISTEN), inode is fields[9].
      if (fields.length < 10 || fields[3] !== '0A' || !inodes.has(fields[9]!)) continue;
      ports.add(parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

describe('metrics (KEYHOLD_METRICS_ADDR) and the probes', function () {
  this.timeout(300_000);
  const dirs: { remove(): void }[] = [];
  const running: ServerProcess[] = [];

  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.stop()));
    for (const dir of dirs.splice(0)) dir.remove();
  });

  async function startCluster(extra: Record<string, string> = {}, cwd?: string): Promise<{ server: ServerProcess; admin: Signer; dataDir: string }> {
    let tempDir = cwd;
    if (tempDir === undefined) {
      const dir = makeTempDir('keyhold-metrics-');
      dirs.push(dir);
      tempDir = dir.path;
    }
    const dataDir = path.join(tempDir, 'data');
    rememberSecret(PASSPHRASE);
    const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2', ...extra }, tempDir, cwd === undefined ? {} : { store: 'leveldb' });
    running.push(server);
    const credentials = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8')) as { AccessKeyId: string; SecretKey: string };
    const admin = { accessKeyId: credentials.AccessKeyId, secretKey: Buffer.from(credentials.SecretKey, 'base64') };
    rememberSecret(admin.secretKey);
    return { server, admin, dataDir };
  }

  it('counts every request of a load on two workers by action and outcome, denials and authentication failures included, with no key id or access key id in the scrape', async () => {
    const { server, admin } = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0' });
    const port = metricsPort(server);
    const sent: { action: string; answer: Answer }[] = [];
    const note = async (action: string, answer: Promise<Answer>) => {
      const got = await answer;
      sent.push({ action, answer: got });
      return got;
    };

    const created = await note('createkey', call(server, admin, 'createkey', { Description: 'metrics' }));
    expect(created.status).to.equal(200);
    const keyId = String((created.body.KeyMetadata as { KeyId: string }).KeyId);
    const restricted = await note(
      'createcredential',
      call(server, admin, 'createcredential', { Description: 'denied', Policy: { Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt'], Resource: 'alias/some-other-key' }] } }),
    );
    expect(restricted.status).to.equal(200);
    const deniedSigner = { accessKeyId: String((restricted.body.Credential as { AccessKeyId: string }).AccessKeyId), secretKey: Buffer.from(String(restricted.body.SecretKey), 'base64') };
    rememberSecret(deniedSigner.secretKey);
    const unknownSigner = { accessKeyId: 'KHUNKNOWN0000000000', secretKey: randomBytes(32) };
    const wrongSecret = { accessKeyId: admin.accessKeyId, secretKey: randomBytes(32) };

    const plaintext = randomBytes(32).toString('base64');
    const load: { action: string; signer: Signer; body: object }[] = [
      ...Array.from({ length: 240 }, () => ({ action: 'encrypt', signer: admin, body: { KeyId: keyId, Plaintext: plaintext } })),
      ...Array.from({ length: 30 }, () => ({ action: 'generaterandom', signer: admin, body: { NumberOfBytes: 16 } })),
      ...Array.from({ length: 20 }, () => ({ action: 'encrypt', signer: deniedSigner, body: { KeyId: keyId, Plaintext: plaintext } })),
      ...Array.from({ length: 15 }, () => ({ action: 'encrypt', signer: unknownSigner, body: { KeyId: keyId, Plaintext: plaintext } })),
      ...Array.from({ length: 15 }, () => ({ action: 'describekey', signer: wrongSecret, body: { KeyId: keyId } })),
      ...Array.from({ length: 10 }, () => ({ action: 'describekey', signer: admin, body: { KeyId: '00000000-0000-4000-8000-000000000000' } })),
    ];
    await inParallel(load, 16, (request) => note(request.action, call(server, request.signer, request.action, request.body)));

    // Both workers served part of the load: the scrape below sums them.
    expect(new Set(sent.map((each) => each.answer.worker)).size, 'workers that answered').to.equal(2);
    const expected = new Map<string, number>();
    for (const { action, answer } of sent) {
      const outcome = answer.status === 200 ? 'Success' : String(answer.body.__type);
      expected.set(`${action} ${outcome}`, (expected.get(`${action} ${outcome}`) ?? 0) + 1);
    }
    expect(expected.get('encrypt AccessDeniedException')).to.equal(20);
    expect(expected.get('describekey NotFoundException')).to.equal(10);

    const scraped = await scrape(port);
    expect(scraped.status).to.equal(200);
    expect(scraped.contentType).to.match(/^text\/plain; version=0\.0\.4/);
    const found = samples(scraped.text);
    for (const [key, count] of expected) {
      const [action, outcome] = key.split(' ') as [string, string];
      expect(total(found, 'keyhold_requests_total', { door: 'kms', action, outcome }), `keyhold_requests_total ${key}`).to.equal(count);
    }
    expect(total(found, 'keyhold_requests_total'), 'every request counted once').to.equal(sent.length);
    expect(total(found, 'keyhold_request_duration_seconds_count', { action: 'encrypt' })).to.equal(240 + 20 + 15);
    expect(total(found, 'keyhold_requests_in_flight')).to.equal(0);
    expect(total(found, 'keyhold_policy_denials_total', { action: 'encrypt' })).to.equal(20);
    expect(total(found, 'keyhold_authentication_failures_total'), 'authentication failures').to.equal(30);
    for (const { answer } of sent.filter((each) => each.answer.status === 400 || each.answer.status === 403 || each.answer.status === 401)) {
      expect(answer.body.__type).to.be.a('string');
    }
    // Every request that got past its body has its audit record written (authentication failures too).
    expect(total(found, 'keyhold_audit_write_duration_seconds_count')).to.equal(sent.length);
    expect(total(found, 'keyhold_audit_write_failures_total')).to.equal(0);
    expect(total(found, 'keyhold_key_cache_hits_total', { cache: 'key_record' }), 'key record cache hits').to.be.greaterThan(200);
    expect(total(found, 'keyhold_key_cache_misses_total', { cache: 'key_record' }), 'key record cache misses').to.be.greaterThan(0);
    expect(total(found, 'keyhold_store_operation_duration_seconds_count', { operation: 'write' }), 'store writes timed').to.be.greaterThan(0);
    expect(total(found, 'keyhold_keys', { state: 'Enabled' })).to.equal(1);
    expect(total(found, 'keyhold_workers_listening')).to.equal(2);
    expect(total(found, 'keyhold_worker_restarts_total')).to.equal(0);
    expect(total(found, 'process_cpu_seconds_total'), 'process metrics').to.be.greaterThan(0);

    // No high-cardinality label: no key id, no access key id (not even the unknown one sent).
    for (const secretish of [keyId, admin.accessKeyId, deniedSigner.accessKeyId, unknownSigner.accessKeyId]) {
      expect(scraped.text, 'the scrape').to.not.contain(secretish);
    }
    expect(scraped.text).to.not.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);

    // The dashboard queries only metrics that a real scrape has.
    const types = metricTypes(scraped.text);
    const dashboard = readFileSync(DASHBOARD, 'utf8');
    const queried = new Set([...dashboard.matchAll(/\b((?:keyhold|process|nodejs)_[a-z0-9_]+)\b/g)].map((match) => match[1]!));
    expect(queried.size, 'metrics the dashboard queries').to.be.greaterThan(15);
    for (const name of queried) {
      const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
      const known = types.has(name) || (histogram !== null && types.get(histogram[1]!) === 'histogram');
      expect(known, `the dashboard's ${name} is in the scrape`).to.equal(true);
    }
    for (const name of types.keys()) {
      if (name.startsWith('keyhold_')) expect(queried, `the dashboard shows ${name}`).to.satisfy((set: Set<string>) => [...set].some((each) => each.startsWith(name)));
    }

    // The listener answers /metrics and nothing else.
    expect((await scrape(port, '/')).status).to.equal(404);
    expect((await scrape(port, '/healthz')).status).to.equal(404);
  });

  it('counts the requests of a server without workers (KEYHOLD_WORKERS=1) the same way', async () => {
    const { server, admin } = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0', KEYHOLD_WORKERS: '1' });
    for (let index = 0; index < 7; index++) expect((await call(server, admin, 'generaterandom', { NumberOfBytes: 8 })).status).to.equal(200);
    expect((await call(server, admin, 'nosuchaction', {})).status).to.equal(400);
    const found = samples((await scrape(metricsPort(server))).text);
    expect(total(found, 'keyhold_requests_total', { door: 'kms', action: 'generaterandom', outcome: 'Success' })).to.equal(7);
    expect(total(found, 'keyhold_requests_total', { door: 'kms', action: 'unknown', outcome: 'UnknownOperationException' })).to.equal(1);
    expect(total(found, 'keyhold_requests_total')).to.equal(8);
    expect(found.has('keyhold_workers_listening'), 'no worker gauge without workers').to.equal(false);
    expect((await send(server, 'GET', '/readyz')).status).to.equal(200);
  });

  it('counts calls to a remote KMS by provider, call and outcome, without the remote key name', async () => {
    const gcp = await startFakeGcpKms();
    try {
      // One process: every provider call is counted where it is made, with nothing to sum.
      const { server, admin } = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0', KEYHOLD_WORKERS: '1', KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint, KEYHOLD_PROVIDER_MAX_ATTEMPTS: '1' });
      const version = gcp.addKeyVersion('EC_SIGN_P256_SHA256');
      const created = await call(server, admin, 'createkey', { Origin: 'GCP_KMS', ProviderKeyId: version.name });
      expect(created.status, JSON.stringify(created.body)).to.equal(200);
      const keyId = String((created.body.KeyMetadata as { KeyId: string }).KeyId);
      const sign = () => call(server, admin, 'sign', { KeyId: keyId, Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' });
      for (let index = 0; index < 3; index++) expect((await sign()).status).to.equal(200);
      gcp.failNext(1, 'permission-denied', 'AsymmetricSign');
      const failed = await sign();
      expect(failed.status).to.not.equal(200);

      const scraped = await scrape(metricsPort(server));
      const found = samples(scraped.text);
      expect(total(found, 'keyhold_provider_calls_total', { provider: 'gcp_kms', call: 'describe', outcome: 'Success' })).to.equal(1);
      expect(total(found, 'keyhold_provider_calls_total', { provider: 'gcp_kms', call: 'sign', outcome: 'Success' })).to.equal(3);
      expect(total(found, 'keyhold_provider_calls_total', { provider: 'gcp_kms', call: 'sign', outcome: String(failed.body.__type) })).to.equal(1);
      expect(total(found, 'keyhold_provider_call_duration_seconds_count', { provider: 'gcp_kms' })).to.equal(5);
      expect(scraped.text).to.not.contain(version.name);
      expect(scraped.text).to.not.contain(keyId);
    } finally {
      await gcp.close();
    }
  });

  it('answers /readyz 503 while a worker is down and 200 once its replacement listens, /healthz 200 throughout, and counts the restart', async () => {
    const { server, admin } = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0' });
    const port = metricsPort(server);
    expect((await send(server, 'GET', '/readyz')).status).to.equal(200);
    // The workers answer requests, and a scrape sees them, before one is killed.
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(server, admin, 'generaterandom', { NumberOfBytes: 8 })));
    expect(answers.map((answer) => answer.status)).to.deep.equal(Array(20).fill(200));
    const requestsBefore = total(samples((await scrape(port)).text), 'keyhold_requests_total');
    expect(requestsBefore).to.be.greaterThan(0);
    const [victim] = workerPids(server);
    process.kill(victim!, 'SIGKILL');
    let healthWhileDown: number | undefined;
    await waitFor(
      '/readyz to answer 503',
      async () => {
        const ready = await send(server, 'GET', '/readyz');
        if (ready.status !== 503) return false;
        expect(ready.body).to.deep.equal({ status: 'unavailable' });
        healthWhileDown = (await send(server, 'GET', '/healthz')).status;
        return true;
      },
      5,
    );
    expect(healthWhileDown, '/healthz while a worker is down').to.equal(200);
    await waitFor('/readyz to answer 200 again', async () => (await send(server, 'GET', '/readyz')).status === 200);
    expect(workerPids(server)).to.have.length(3);
    const found = samples((await scrape(port)).text);
    expect(total(found, 'keyhold_worker_restarts_total')).to.equal(1);
    expect(total(found, 'keyhold_workers_listening')).to.equal(2);
    // The killed worker's counts stay in the sum: a counter never goes down when a worker is replaced.
    expect(total(found, 'keyhold_requests_total')).to.be.at.least(requestsBefore);
    // And in every later scrape.
    for (let i = 0; i < 5; i++) expect(total(samples((await scrape(port)).text), 'keyhold_requests_total')).to.be.at.least(requestsBefore);
  });

  describe('a store that cannot write', () => {
    let tmpfs: Tmpfs | undefined;
    before(function () {
      const mounted = mountTmpfs(16);
      if (typeof mounted === 'string') {
        console.log(`      (skipped: ${mounted})`);
        this.skip();
      }
      tmpfs = mounted;
    });
    afterEach(() => tmpfs?.free());
    after(() => tmpfs?.unmount());

    it('answers /readyz 503 while the store is closed for writes, and 200 once it has reopened', async () => {
      const { server, admin } = await startCluster({}, tmpfs!.path);
      expect((await send(server, 'GET', '/readyz')).status).to.equal(200);
      tmpfs!.fill();
      let refused = false;
      for (let attempt = 0; attempt < 2000 && !refused; attempt++) refused = (await call(server, admin, 'createkey', { Description: `full ${attempt}` })).status === 503;
      expect(refused, 'a write on a full disk is refused').to.equal(true);
      // Every worker hears of it: a few probes on new connections reach both.
      for (let probe = 0; probe < 6; probe++) expect((await send(server, 'GET', '/readyz')).status, `probe ${probe}`).to.equal(503);
      tmpfs!.free();
      await waitFor('/readyz to answer 200 again', async () => (await send(server, 'GET', '/readyz')).status === 200, 200);
    });
  });

  it('warns at start when the metrics listener is on an address that is not loopback, and not when it is', async () => {
    const { server } = await startCluster({ KEYHOLD_METRICS_ADDR: '0.0.0.0:0', KEYHOLD_WORKERS: '1' });
    expect(server.stdout()).to.match(/"level":40[^\n]*KEYHOLD_METRICS_ADDR is not a loopback address/);
    const { server: quiet } = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0', KEYHOLD_WORKERS: '1' });
    expect(quiet.stdout()).to.include('metrics listening');
    expect(quiet.stdout()).to.not.include('is not a loopback address');
  });

  it('listens for metrics only when KEYHOLD_METRICS_ADDR is set: by default nothing but the API port listens', async () => {
    const { server } = await startCluster();
    expect(server.stdout()).to.not.contain('metrics listening');
    expect(listeningPorts(server.child.pid!)).to.deep.equal([server.port]);

    const withMetrics = await startCluster({ KEYHOLD_METRICS_ADDR: '127.0.0.1:0' });
    expect(listeningPorts(withMetrics.server.child.pid!)).to.deep.equal([withMetrics.server.port, metricsPort(withMetrics.server)].sort((a, b) => a - b));
  });

  // The forms refused are listed in test/unit/config.test.ts; here, that the server process refuses them.
  for (const bad of ['localhost', '127.0.0.1:65536']) {
    it(`refuses to start with KEYHOLD_METRICS_ADDR=${bad}, naming the variable`, async () => {
      const dir = makeTempDir('keyhold-metrics-');
      dirs.push(dir);
      const exited = await runServerToCompletion({ KEYHOLD_DATA_DIR: path.join(dir.path, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_METRICS_ADDR: bad }, dir.path);
      expect(exited.code).to.not.equal(0);
      expect(exited.stderr).to.contain('KEYHOLD_METRICS_ADDR');
      expect(exited.stderr).to.match(/host:port/);
    });
  }

  it('refuses to start when the metrics address is taken, naming the variable', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const dir = makeTempDir('keyhold-metrics-');
      dirs.push(dir);
      const exited = await runServerToCompletion({ KEYHOLD_DATA_DIR: path.join(dir.path, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2', KEYHOLD_METRICS_ADDR: `127.0.0.1:${port}` }, dir.path, 60_000);
      expect(exited.code).to.not.equal(0);
      expect(exited.stderr).to.contain('KEYHOLD_METRICS_ADDR');
      expect(exited.stderr).to.contain('already in use');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
