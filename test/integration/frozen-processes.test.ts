import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { HEARTBEAT_INTERVAL_MS, PEER_TIMEOUT_MS } from '../../src/cluster/heartbeat.js';
import { rememberSecret } from '../helpers/secrets.js';
import { logLines, serverClient, waitFor, workerPids, type Exchange, type ServerClient } from '../helpers/server-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startFakeGcpKms } from '../fakes/gcp-kms.js';

const PASSPHRASE = 'frozen processes test passphrase';
/**
 * What a request may take past the bound while a process is frozen: a loaded 2-core machine
 * (other suites run meanwhile, a replacement worker starts) is slow, but a request that waits
 * for a frozen process waits for as long as it stays frozen, far longer than this.
 */
const SLACK_MS = 3_000;
/** Processes stay frozen this long (unless killed first): longer than any bound plus slack. */
const FROZEN_MS = 6_000;
/** How much longer the first load of Google's SDK takes in each process of the SDK test: well past PEER_TIMEOUT_MS. */
const SLOW_SDK_MS = 2_500;
const SLOW_SDK_HOOK = fileURLToPath(new URL('../helpers/slow-cloud-sdk.cjs', import.meta.url));

interface Running {
  server: ServerProcess;
  client: ServerClient;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps `lanes` requests in flight, each on a new connection, until `until` resolves. */
async function steadyLoad(lanes: number, request: () => Promise<Exchange>, until: Promise<unknown>): Promise<Exchange[]> {
  let done = false;
  void until.then(() => (done = true));
  const seen: Exchange[] = [];
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      // Bounded in count as well as by `until`.
      for (let i = 0; i < 2_000 && !done; i++) seen.push(await request());
    }),
  );
  return seen;
}

function slowest(exchanges: Exchange[]): number {
  return Math.max(...exchanges.map((exchange) => exchange.ms));
}

describe('frozen processes do not stall the service (SIGSTOP)', function () {
  this.timeout(180_000);
  const dirs: { remove(): void }[] = [];
  const stopped: number[] = [];
  let running: Running | undefined;

  async function start(env: Record<string, string>): Promise<Running> {
    const dir = makeTempDir('keyhold-frozen-');
    dirs.push(dir);
    const dataDir = path.join(dir.path, 'data');
    rememberSecret(PASSPHRASE);
    const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, ...env }, dir.path);
    running = { server, client: serverClient(server, dataDir) };
    return running;
  }

  function freeze(pid: number): void {
    stopped.push(pid);
    process.kill(pid, 'SIGSTOP');
  }

  function thaw(pid: number): void {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Killed meanwhile (a frozen worker is): nothing to resume.
    }
  }

  afterEach(async () => {
    // Nothing stays stopped, whatever the test did.
    for (const pid of stopped.splice(0)) thaw(pid);
    await running?.server.stop();
    running = undefined;
  });

  after(() => dirs.forEach((dir) => dir.remove()));

  it('replaces a frozen worker within the bound; meanwhile no request and no change waits longer', async () => {
    const { server, client } = await start({ KEYHOLD_WORKERS: '2' });
    const keyId = ((await client.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const encrypt = () => client.call('encrypt', { KeyId: keyId, Plaintext: Buffer.from('steady').toString('base64') });
    const [victim, survivor] = workerPids(server);

    const frozenFor = (async () => {
      await sleep(500);
      freeze(victim!);
      await sleep(FROZEN_MS);
    })();
    const writes = (async () => {
      const made: Exchange[] = [];
      await sleep(600);
      // Changes made while the victim is frozen wait for its confirmation, or its death.
      for (let i = 0; i < 5; i++) made.push(await client.call('createkey'));
      return made;
    })();
    const reads = await steadyLoad(4, encrypt, frozenFor);

    const bound = PEER_TIMEOUT_MS + SLACK_MS;
    expect(reads.length, 'requests answered under load').to.be.greaterThan(20);
    expect(slowest(reads), 'the slowest request (ms)').to.be.lessThan(bound);
    // A request the victim had taken before it froze dies with it: reset, never left open.
    for (const read of reads) expect(read.status === 200 || read.error === 'ECONNRESET', JSON.stringify(read)).to.equal(true);
    for (const write of await writes) expect(write.status, JSON.stringify(write.body)).to.equal(200);
    expect(slowest(await writes), 'the slowest createkey (ms)').to.be.lessThan(bound);

    const killed = logLines(server).find((line) => String(line.msg).startsWith('a worker did not'));
    expect(killed, 'the log line of the kill').to.include({ workerPid: victim, timeoutMs: PEER_TIMEOUT_MS });
    await waitFor('a replacement worker', () => workerPids(server).length === 3);
    const replacement = workerPids(server)[2]!;
    expect([victim, survivor]).to.not.include(replacement);
    expect((await client.call('createkey')).status).to.equal(200);
  });

  it('answers 503 on /healthz, /readyz, changes and (their audit records unwritable) encryptions while the primary is frozen, at once', async () => {
    const { server, client } = await start({ KEYHOLD_WORKERS: '2' });
    const warm = ((await client.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const cold = ((await client.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const encrypt = (keyId: string) => client.call('encrypt', { KeyId: keyId, Plaintext: Buffer.from('cached').toString('base64') });
    // Both workers cache the warm key (each answers a request on a new connection, in time).
    const warmedBy = new Set<string | undefined>();
    for (let i = 0; i < 60 && warmedBy.size < 2; i++) warmedBy.add((await encrypt(warm)).worker);
    expect(warmedBy.size, 'workers that cached the key').to.equal(2);
    const pids = workerPids(server);

    const frozenAt = performance.now();
    freeze(server.child.pid!);
    await waitFor('/healthz to answer 503', async () => (await client.get('/healthz')).status === 503, PEER_TIMEOUT_MS + SLACK_MS);
    const seenWithin = performance.now() - frozenAt;
    expect(seenWithin, 'ms until /healthz saw the frozen primary').to.be.lessThan(PEER_TIMEOUT_MS + SLACK_MS);
    // That was one worker; each watches the primary on its own timer, so the other notices
    // within a few heartbeats (it answered /readyz 200 once when asked at once).
    await new Promise((resolve) => setTimeout(resolve, 5 * HEARTBEAT_INTERVAL_MS));

    const answers: Exchange[] = [];
    for (let i = 0; i < 4; i++) {
      const ready = await client.get('/readyz');
      expect(ready).to.deep.include({ status: 503, body: { status: 'unavailable' } });
      // A cached key could encrypt, but the request's audit record reaches the trail only through the
      // primary (its worker's journal is moved by it): it fails closed.
      const cached = await encrypt(warm);
      expect(cached.status, JSON.stringify(cached.body)).to.equal(503);
      expect(cached.body.__type).to.equal('ServiceUnavailableException');
      expect(cached.body).not.to.have.property('CiphertextBlob');
      const created = await client.call('createkey');
      expect(created.status).to.equal(503);
      expect(created.body.__type).to.equal('ServiceUnavailableException');
      expect(created.body.message).to.include(`The primary process did not answer within ${PEER_TIMEOUT_MS} ms`);
      const uncached = await encrypt(cold);
      expect(uncached.status).to.equal(503);
      answers.push(ready, cached, created, uncached);
    }
    expect(slowest(answers), 'the slowest request while the primary is frozen (ms)').to.be.lessThan(SLACK_MS);

    thaw(server.child.pid!);
    await waitFor('/readyz to answer 200', async () => (await client.get('/readyz')).status === 200);
    expect((await client.call('createkey')).status).to.equal(200);
    expect((await encrypt(cold)).status).to.equal(200);
    // The primary was not running either: it holds the workers' silence meanwhile against no one.
    expect(workerPids(server)).to.deep.equal(pids);
  });

  it('waits for a process that says it is loading a cloud SDK (a second or more of silence): nothing is killed, nothing answers 503', async () => {
    const gcp = await startFakeGcpKms();
    try {
      const nodeOptions = [process.env.NODE_OPTIONS, '--require', SLOW_SDK_HOOK].filter(Boolean).join(' ');
      const { server, client } = await start({ KEYHOLD_WORKERS: '2', KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint, KEYHOLD_TEST_SLOW_SDK_MS: String(SLOW_SDK_MS), NODE_OPTIONS: nodeOptions });
      const pids = workerPids(server);
      const local = ((await client.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      const encrypt = () => client.call('encrypt', { KeyId: local, Plaintext: Buffer.from('steady').toString('base64') });

      // The primary makes the remote key (a forwarded change), so it loads the SDK: the workers
      // wait for it (every encrypt's audit record goes to it) instead of answering 503 after 1 s.
      const version = gcp.addKeyVersion('EC_SIGN_P256_SHA256');
      const creating = client.call('createkey', { Origin: 'GCP_KMS', ProviderKeyId: version.name });
      const whileThePrimaryLoads = await steadyLoad(2, encrypt, creating);
      const created = await creating;
      expect(created.status, JSON.stringify(created.body)).to.equal(200);
      expect(created.ms, 'the createkey that loaded the SDK (ms)').to.be.greaterThan(SLOW_SDK_MS);
      for (const answer of whileThePrimaryLoads) expect(answer.status, JSON.stringify(answer.body)).to.equal(200);

      // A worker signs with it, so it loads the SDK too: the primary does not take it for hung.
      const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
      const sign = () => client.call('sign', { KeyId: keyId, Message: Buffer.from('hi').toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' });
      const signing = Promise.all([sign(), sign(), sign(), sign()]);
      const whileAWorkerLoads = await steadyLoad(2, encrypt, signing);
      for (const signed of await signing) expect(signed.status, JSON.stringify(signed.body ?? signed.error)).to.equal(200);
      expect(Math.max(...(await signing).map((signed) => signed.ms)), 'the slowest first signature (ms)').to.be.greaterThan(SLOW_SDK_MS);
      for (const answer of whileAWorkerLoads) expect(answer.status, JSON.stringify(answer.body ?? answer.error)).to.equal(200);

      expect(logLines(server).filter((line) => String(line.msg).startsWith('a worker did not')), 'workers killed').to.deep.equal([]);
      expect(workerPids(server)).to.deep.equal(pids);
    } finally {
      await gcp.close();
    }
  });
});
