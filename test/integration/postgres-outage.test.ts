import { expect } from 'chai';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { logLines, serverClient, waitFor, type Exchange, type ServerClient } from '../helpers/server-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'the database goes away for a while (test)';
/** The server's request deadline here (KEYHOLD_REQUEST_TIMEOUT_MS), shorter than the default so that a hang shows. */
const DEADLINE_MS = 5_000;
/** What a busy two-core machine may add to an answer beyond the deadline: connecting, TLS, the test's own pauses. */
const SLACK_MS = 3_000;
/** How long PostgreSQL stays down. */
const DOWN_MS = 4_000;
/** Clients sending at once. */
const LANES = 3;

/** One request of the traffic: when it was sent and answered (test clock), and the answer. */
interface Sent extends Exchange {
  action: string;
  sentAt: number;
  answeredAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The PostgreSQL server stopped under mixed traffic and started again, against a real Keyhold
 * server with two HTTP workers: what clients see while the database is down (a typed 503, fast),
 * what the load balancer sees (/healthz), and that nothing acknowledged is lost.
 */
describe('PostgreSQL store: the database restarted under load', function () {
  this.timeout(180_000);
  let postgres: TestPostgres;
  let server: ServerProcess | undefined;
  const dir = makeTempDir('keyhold-outage-');

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
  });

  // A failure here has been seen once in CI (the server gone, ECONNREFUSED) and not again on this
  // machine: the server's log lines other than the access log, shown when it fails.
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && server) console.log('SERVER OUT\n' + server.stdout().split('\n').filter((line) => !line.includes('"msg":"request"')).slice(-80).join('\n') + '\nSERVER ERR\n' + server.stderr().slice(-5000));
  });

  after(async () => {
    await server?.stop();
    postgres?.remove();
    dir.remove();
  });

  it('answers 503 ServiceUnavailableException while it is down (never 500, never past the deadline), /healthz follows, and serves again once it is back, every acknowledged key kept', async () => {
    server = await startServerProcess(
      {
        KEYHOLD_DATA_DIR: dir.path,
        KEYHOLD_STORE_URL: postgres.url,
        KEYHOLD_PASSPHRASE: PASSPHRASE,
        KEYHOLD_KDF: 'pbkdf2',
        KEYHOLD_WORKERS: '2',
        KEYHOLD_REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
      },
      dir.path,
    );
    const client = serverClient(server, dir.path, DEADLINE_MS + SLACK_MS);
    const keyId = ((await client.call('createkey', { Description: 'outage' })).body.KeyMetadata as { KeyId: string }).KeyId;
    const plaintext = Buffer.from('made before the outage').toString('base64');
    const blob = (await client.call('encrypt', { KeyId: keyId, Plaintext: plaintext })).body.CiphertextBlob as string;
    expect(blob).to.be.a('string');
    const requests: [string, object][] = [
      ['createkey', { Description: 'during the outage test' }],
      ['encrypt', { KeyId: keyId, Plaintext: plaintext }],
      ['decrypt', { CiphertextBlob: blob }],
    ];

    const sent: Sent[] = [];
    const created: string[] = [];
    let running = true;
    const lane = async (first: number) => {
      for (let round = first; running; round++) {
        const [action, body] = requests[round % requests.length]!;
        const sentAt = Date.now();
        const answer = await client.call(action, body);
        sent.push({ action, sentAt, answeredAt: Date.now(), ...answer });
        if (action === 'createkey' && answer.status === 200) created.push((answer.body.KeyMetadata as { KeyId: string }).KeyId);
        // A client that is refused waits a little before it tries again, as a real one would.
        if (answer.status !== 200) await sleep(50);
      }
    };
    const traffic = Promise.all(Array.from({ length: LANES }, (_, index) => lane(index)));
    let stoppedAt = 0;
    let stopping = 0;
    let starting = 0;
    let backAt = 0;
    const healthWhileDown: number[] = [];
    try {
      await sleep(1_500);
      stopping = Date.now();
      postgres.stop();
      stoppedAt = Date.now();
      await healthTurns(client, 503, 'while the database is down', DOWN_MS);
      // Unhealthy it stays, for as long as the database is down.
      while (Date.now() < stoppedAt + DOWN_MS) {
        healthWhileDown.push((await client.get('/healthz')).status);
        await sleep(200);
      }
      starting = Date.now();
      postgres.start();
      // Healthy again by itself, without a restart of Keyhold.
      await healthTurns(client, 200, 'once the database is back', 15_000);
      backAt = Date.now();
      await sleep(2_000);
    } finally {
      running = false;
      await traffic;
    }

    const shown = (each: Sent) => `${each.action} sent ${each.sentAt - stoppedAt} ms after the stop: ${each.status} ${JSON.stringify(each.body)} ${each.error ?? ''}`;
    for (const each of sent) {
      // An answer, never a reset connection (a crash) or silence past the deadline.
      expect(each.status, shown(each)).to.be.oneOf([200, 503]);
      expect(each.ms, shown(each)).to.be.below(DEADLINE_MS + SLACK_MS);
      if (each.status === 503) expect(each.body.__type, shown(each)).to.equal('ServiceUnavailableException');
    }
    const before = sent.filter((each) => each.answeredAt < stopping);
    const down = sent.filter((each) => each.sentAt > stoppedAt && each.answeredAt < starting);
    const after = sent.filter((each) => each.sentAt > backAt);
    expect(before.length, 'requests before the stop').to.be.above(LANES);
    expect(before.filter((each) => each.status !== 200).map(shown)).to.deep.equal([]);
    expect(down.length, 'requests while the database was down').to.be.above(LANES);
    expect(down.filter((each) => each.status !== 503).map(shown)).to.deep.equal([]);
    expect(healthWhileDown.length).to.be.above(0);
    expect(healthWhileDown.filter((status) => status !== 503)).to.deep.equal([]);
    for (const [action] of requests) {
      expect(after.filter((each) => each.action === action).length, `${action} after the database came back`).to.be.above(0);
    }
    expect(after.filter((each) => each.status !== 200).map(shown)).to.deep.equal([]);

    // The same server process, and the same two workers: nothing crashed.
    expect(server.child.exitCode).to.equal(null);
    expect(logLines(server).filter((line) => line.msg === 'a worker exited; starting another')).to.deep.equal([]);
    // Every key whose creation was acknowledged, before, during or after the outage, is there.
    expect(created.length).to.be.above(1);
    await expectDescribable(client, created);
  });
});

/** Resolves once /healthz answers `status`; fails naming its last answer after `patienceMs`. */
async function healthTurns(client: ServerClient, status: number, when: string, patienceMs: number): Promise<void> {
  let last: Exchange | undefined;
  await waitFor(`/healthz to answer ${status} ${when}`, async () => (last = await client.get('/healthz')).status === status, patienceMs).catch((error: Error) => {
    throw new Error(`${error.message}: its last answer was ${last?.status} ${last?.error ?? JSON.stringify(last?.body)}`);
  });
}

async function expectDescribable(client: ServerClient, keyIds: string[]): Promise<void> {
  for (const keyId of keyIds) {
    const described = await client.call('describekey', { KeyId: keyId });
    expect(described.status, `acknowledged key ${keyId}: ${JSON.stringify(described.body)}`).to.equal(200);
  }
}
