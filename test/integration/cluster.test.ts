import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { expect } from 'chai';
import { PinnedAgent, signRequest } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { wrapMaterial } from '../helpers/imported-material.js';
import { rememberSecret } from '../helpers/secrets.js';
import { runServerToCompletion, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cluster test passphrase, long enough';
const WORKER_HEADER = 'x-keyhold-worker';
/** Conditions are awaited this long at most: a deadline for a stuck test, never a measurement. */
const PATIENCE_MS = 60_000;

interface Answer {
  status: number;
  /** The worker that answered (its X-Keyhold-Worker header). */
  worker: string;
  body: Record<string, unknown>;
}

interface Cluster {
  server: ServerProcess;
  /** One request on a new connection: node:cluster hands new connections to the workers in turn. */
  call(action: string, body?: object): Promise<Answer>;
  /** One request on `agent`'s connections (keep-alive ones stay open between calls). */
  callWith(agent: https.Agent, action: string, body?: object): Promise<Answer>;
  health(): Promise<Answer>;
  /** Repeats a call on new connections until `workers` distinct workers have answered it. */
  onWorkers(count: number, action: string, body?: object): Promise<Map<string, Answer>>;
  /** Worker pids, in the order the primary logged them listening. */
  workerPids(): number[];
  dataDir: string;
}

async function startCluster(tempDir: string, env: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = path.join(tempDir, 'data');
  rememberSecret(PASSPHRASE);
  const server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2', ...env }, tempDir);
  const credentials = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8'));
  const secretKey = Buffer.from(credentials.SecretKey, 'base64');
  rememberSecret(secretKey);

  const send = (method: string, pathWithQuery: string, body?: Buffer, given?: https.Agent): Promise<Answer> => {
    const agent = given ?? new PinnedAgent({ certSha256: server.certSha256, keepAlive: false });
    const headers: Record<string, string> = body
      ? { 'Content-Type': 'application/json', ...signRequest({ method, pathWithQuery, body, accessKeyId: credentials.AccessKeyId, secretKey }) }
      : {};
    return new Promise<Answer>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.port, method, path: pathWithQuery, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, worker: String(res.headers[WORKER_HEADER]), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    }).finally(() => {
      if (given === undefined) agent.destroy();
    });
  };
  // A nonce per call, as the client sends: equal state-changing calls in one second are not replays.
  let calls = 0;
  const call = (action: string, body: object = {}) => send('POST', `/api/v1/kms/${action}?nonce=${calls++}`, Buffer.from(JSON.stringify(body)));

  return {
    server,
    dataDir,
    call,
    callWith: (agent, action, body = {}) => send('POST', `/api/v1/kms/${action}?nonce=${calls++}`, Buffer.from(JSON.stringify(body)), agent),
    health: () => send('GET', '/healthz'),
    async onWorkers(count, action, body = {}) {
      const answers = new Map<string, Answer>();
      for (let attempt = 0; attempt < 40 && answers.size < count; attempt++) {
        const answer = await call(action, body);
        if (!answers.has(answer.worker)) answers.set(answer.worker, answer);
      }
      expect(answers.size, `workers that answered ${action}`).to.equal(count);
      return answers;
    },
    workerPids: () =>
      logLines(server)
        .filter((line) => line.msg === 'worker listening')
        .map((line) => line.workerPid as number),
  };
}

function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Whether a process runs (a zombie, exited and not yet reaped, does not). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The key version a format-1 blob was made under (bytes 17..21). */
function blobVersion(ciphertextBase64: unknown): number {
  return Buffer.from(String(ciphertextBase64), 'base64').readUInt32BE(17);
}

describe('the server with two HTTP workers (KEYHOLD_WORKERS=2)', function () {
  this.timeout(180_000);
  const dirs: { remove(): void }[] = [];
  const running: ServerProcess[] = [];

  async function start(env: Record<string, string> = {}): Promise<Cluster> {
    const dir = makeTempDir('keyhold-cluster-');
    dirs.push(dir);
    const cluster = await startCluster(dir.path, env);
    running.push(cluster.server);
    return cluster;
  }

  after(async () => {
    await Promise.all(running.map((server) => server.stop()));
    dirs.forEach((dir) => dir.remove());
  });

  describe('serving', () => {
    let cluster: Cluster;
    before(async () => {
      cluster = await start();
    });

    it('logs "keyhold is listening" once, after both workers listen on the port it names', () => {
      const lines = logLines(cluster.server);
      const listening = lines.filter((line) => line.msg === 'keyhold is listening');
      expect(listening).to.have.length(1);
      const workers = lines.filter((line) => line.msg === 'worker listening');
      expect(workers).to.have.length(2);
      expect(workers.map((line) => line.port)).to.deep.equal([cluster.server.port, cluster.server.port]);
      expect(lines.indexOf(listening[0]!)).to.be.greaterThan(lines.indexOf(workers[1]!));
    });

    it('spreads new connections over both workers, each healthy', async () => {
      // The workers accept from the shared socket themselves (SCHED_NONE): the kernel, not a
      // rotation, decides who takes a connection, so a few rounds may go to one worker.
      const workers = new Set<string>();
      for (let round = 0; round < 10 && workers.size < 2; round++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => cluster.health()));
        for (const answer of answers) expect(answer).to.deep.include({ status: 200, body: { status: 'ok' } });
        for (const answer of answers) workers.add(answer.worker);
      }
      expect(workers.size).to.equal(2);
    });

    it('creates a key through one worker and encrypts and decrypts with it on every worker', async () => {
      const created = await cluster.call('createkey', { Description: 'made by one worker' });
      expect(created.status).to.equal(200);
      const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
      const plaintext = Buffer.from('crosses workers');
      rememberSecret(plaintext);
      const encrypted = await cluster.onWorkers(2, 'encrypt', { KeyId: keyId, Plaintext: plaintext.toString('base64') });
      for (const answer of encrypted.values()) {
        expect(answer.status).to.equal(200);
        expect(Buffer.from(String(answer.body.CiphertextBlob), 'base64')[0], 'ciphertext format 2 by default').to.equal(2);
        const decrypted = await cluster.onWorkers(2, 'decrypt', { CiphertextBlob: answer.body.CiphertextBlob });
        for (const result of decrypted.values()) expect(result.body).to.deep.include({ Plaintext: plaintext.toString('base64'), KeyId: keyId });
      }
    });

    it("answers the primary's typed errors (type, status, message) from a worker", async () => {
      const missing = await cluster.call('disablekey', { KeyId: '00000000-0000-4000-8000-000000000000' });
      expect(missing.status).to.equal(404);
      expect(missing.body).to.deep.equal({ __type: 'NotFoundException', message: "Key '00000000-0000-4000-8000-000000000000' does not exist" });
      const keyId = ((await cluster.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      const notPending = await cluster.call('cancelkeydeletion', { KeyId: keyId });
      expect(notPending.status).to.equal(400);
      expect(notPending.body).to.deep.equal({ __type: 'KMSInvalidStateException', message: `Key '${keyId}' is not pending deletion` });
      expect((await cluster.call('createalias', { AliasName: 'alias/twice', TargetKeyId: keyId })).status).to.equal(200);
      const twice = await cluster.call('createalias', { AliasName: 'alias/twice', TargetKeyId: keyId });
      expect(twice.status).to.equal(400);
      expect(twice.body.__type).to.equal('AlreadyExistsException');
    });

    it('refuses a disabled key on every worker as soon as disablekey has answered', async () => {
      const keyId = ((await cluster.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      const request = { KeyId: keyId, Plaintext: Buffer.from('warm').toString('base64') };
      // Both workers cache the key and its material first.
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(answer.status).to.equal(200);

      expect((await cluster.call('disablekey', { KeyId: keyId })).status).to.equal(200);
      const answers = [];
      for (let i = 0; i < 12; i++) answers.push(await cluster.call('encrypt', request));
      expect(new Set(answers.map((answer) => answer.worker)).size, 'workers asked after disablekey').to.equal(2);
      for (const answer of answers) expect(answer.body.__type).to.equal('DisabledException');

      expect((await cluster.call('enablekey', { KeyId: keyId })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(answer.status).to.equal(200);
    });

    it('resolves an alias made, moved and deleted through one worker on every worker', async () => {
      const first = ((await cluster.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      const second = ((await cluster.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      // Both workers load the aliases first, so a stale copy would show.
      await cluster.onWorkers(2, 'listaliases');
      const request = { KeyId: 'alias/moving', Plaintext: Buffer.from('by alias').toString('base64') };

      expect((await cluster.call('createalias', { AliasName: 'alias/moving', TargetKeyId: first })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(answer.body.KeyId).to.equal(first);

      expect((await cluster.call('updatealias', { AliasName: 'alias/moving', TargetKeyId: second })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(answer.body.KeyId).to.equal(second);

      expect((await cluster.call('deletealias', { AliasName: 'alias/moving' })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(answer.body.__type).to.equal('NotFoundException');
    });

    it('encrypts under the new version on every worker once a rotation has answered', async () => {
      const keyId = ((await cluster.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
      const request = { KeyId: keyId, Plaintext: Buffer.from('rotating').toString('base64') };
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(blobVersion(answer.body.CiphertextBlob)).to.equal(1);
      expect((await cluster.call('rotatekeyondemand', { KeyId: keyId })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'encrypt', request)).values()) expect(blobVersion(answer.body.CiphertextBlob)).to.equal(2);
    });

    it('imports key material through a worker; deleting it refuses the blobs on every worker, reimporting opens them on every worker', async () => {
      const keyId = ((await cluster.call('createkey', { Origin: 'EXTERNAL' })).body.KeyMetadata as { KeyId: string }).KeyId;
      const material = randomBytes(32);
      rememberSecret(material);
      const importMaterial = async () => {
        const parameters = await cluster.call('getparametersforimport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
        expect(parameters.status, JSON.stringify(parameters.body)).to.equal(200);
        const wrapped = wrapMaterial(Buffer.from(parameters.body.PublicKey as string, 'base64'), 'RSAES_OAEP_SHA_256', material);
        const imported = await cluster.call('importkeymaterial', {
          KeyId: keyId,
          ImportToken: parameters.body.ImportToken,
          EncryptedKeyMaterial: wrapped.toString('base64'),
          ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        });
        expect(imported.status, JSON.stringify(imported.body)).to.equal(200);
      };
      await importMaterial();
      const request = { KeyId: keyId, Plaintext: Buffer.from('imported').toString('base64') };
      const blobs = [...(await cluster.onWorkers(2, 'encrypt', request)).values()].map((answer) => answer.body.CiphertextBlob);
      // Both workers hold the material in their caches now.
      for (const answer of (await cluster.onWorkers(2, 'decrypt', { CiphertextBlob: blobs[0] })).values()) expect(answer.status).to.equal(200);
      expect((await cluster.call('deleteimportedkeymaterial', { KeyId: keyId })).status).to.equal(200);
      for (const answer of (await cluster.onWorkers(2, 'decrypt', { CiphertextBlob: blobs[1] })).values()) expect(answer.body.__type).to.equal('KMSInvalidStateException');
      await importMaterial();
      for (const answer of (await cluster.onWorkers(2, 'decrypt', { CiphertextBlob: blobs[1] })).values()) expect(answer.body.KeyId).to.equal(keyId);
    });

    it('refuses a second server on the same port with one line naming KEYHOLD_PORT', async () => {
      const dir = makeTempDir('keyhold-cluster-');
      dirs.push(dir);
      const result = await runServerToCompletion(
        { KEYHOLD_DATA_DIR: path.join(dir.path, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2', KEYHOLD_PORT: String(cluster.server.port) },
        dir.path,
        60_000,
      );
      expect(result.code).to.equal(1);
      expect(result.stderr.trim()).to.equal(`keyhold: KEYHOLD_PORT: port ${cluster.server.port} on 127.0.0.1 is already in use`);
    });

    it('starts another worker when one is killed, and keeps answering', async () => {
      const [victim, survivor] = cluster.workerPids();
      process.kill(victim!, 'SIGKILL');
      await waitFor('the primary to see the worker exit', () => logLines(cluster.server).some((line) => line.msg === 'a worker exited; starting another'));
      // The survivor answers meanwhile.
      for (let i = 0; i < 4; i++) expect((await cluster.health()).status).to.equal(200);
      await waitFor('a new worker', () => cluster.workerPids().length === 3);
      const replacement = cluster.workerPids()[2]!;
      expect([victim, survivor]).to.not.include(replacement);
      expect(isRunning(replacement)).to.equal(true);
      const answers = await cluster.onWorkers(2, 'generaterandom', { NumberOfBytes: 8 });
      expect([...answers.keys()]).to.include('3');
      for (const answer of answers.values()) expect(answer.status).to.equal(200);
    });
  });

  describe('connections between the workers', () => {
    it('evens out keep-alive connections that all went to one worker: the one with too many closes some, and they come back to the other', async () => {
      const cluster = await start();
      const [first, second] = cluster.workerPids() as [number, number];
      const agent = new PinnedAgent({ certSha256: cluster.server.certSha256, keepAlive: true, maxSockets: 24 });
      const wave = () => Promise.all(Array.from({ length: 24 }, () => cluster.callWith(agent, 'generaterandom', { NumberOfBytes: 8 })));
      try {
        // The second worker frozen (well under the 1 s that gets it replaced), the first accepts all 24 connections.
        process.kill(second, 'SIGSTOP');
        let opened: Answer[];
        try {
          opened = await wave();
        } finally {
          process.kill(second, 'SIGCONT');
        }
        const byFirst = opened[0]!.worker;
        expect(opened.every((answer) => answer.status === 200 && answer.worker === byFirst), 'all on the first worker').to.equal(true);
        expect(isRunning(first)).to.equal(true);
        // The same 24 connections stay open (keep-alive); without evening out they would all stay with the first.
        let shares = new Map<string, number>();
        for (let round = 0; round < 100; round++) {
          const answers = await wave();
          expect(answers.every((answer) => answer.status === 200)).to.equal(true);
          shares = new Map<string, number>();
          for (const answer of answers) shares.set(answer.worker, (shares.get(answer.worker) ?? 0) + 1);
          if (shares.size === 2 && Math.min(...shares.values()) >= 8) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect([...shares.values()].sort(), JSON.stringify([...shares])).to.have.length(2);
        expect(Math.min(...shares.values()), JSON.stringify([...shares])).to.be.at.least(8);
        // Both workers are the ones that started: nobody was replaced.
        expect(cluster.workerPids()).to.have.length(2);
      } finally {
        agent.destroy();
      }
    });
  });

  describe('with KEYHOLD_CIPHERTEXT_FORMAT=1', () => {
    it('writes format-1 blobs on every worker (encrypt, generatedatakey), which every worker opens', async () => {
      const cluster = await start({ KEYHOLD_CIPHERTEXT_FORMAT: '1' });
      const created = await cluster.call('createkey', {});
      const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
      const encrypted = await cluster.onWorkers(2, 'encrypt', { KeyId: keyId, Plaintext: Buffer.from('for an older release').toString('base64') });
      const dataKeys = await cluster.onWorkers(2, 'generatedatakey', { KeyId: keyId, KeySpec: 'AES_256' });
      for (const answer of [...encrypted.values(), ...dataKeys.values()]) {
        expect(answer.status).to.equal(200);
        expect(Buffer.from(String(answer.body.CiphertextBlob), 'base64')[0]).to.equal(1);
        const decrypted = await cluster.onWorkers(2, 'decrypt', { CiphertextBlob: answer.body.CiphertextBlob });
        for (const result of decrypted.values()) expect(result).to.deep.include({ status: 200 });
      }
    });
  });

  describe("the workers' audit journals", () => {
    const journalDir = (cluster: Cluster) => path.join(cluster.dataDir, 'audit-journal');
    const journals = (cluster: Cluster) => readdirSync(journalDir(cluster)).filter((name) => name.endsWith('.log'));
    /** How many GenerateRandom records the trail lists, asked right after the answers. */
    const listed = async (cluster: Cluster) => {
      const answer = await cluster.call('listauditevents', { Action: 'GenerateRandom', Limit: 1000 });
      expect(answer.status).to.equal(200);
      return (answer.body.Events as unknown[]).length;
    };

    it("lists every worker's records right after the answers; a killed worker's journal is moved into the trail and removed", async () => {
      const cluster = await start();
      expect(journals(cluster)).to.have.length(2);
      const answers = await cluster.onWorkers(2, 'generaterandom', { NumberOfBytes: 8 });
      let made = 0;
      for (let i = 0; i < 6; i++) made += (await cluster.call('generaterandom', { NumberOfBytes: 8 })).status === 200 ? 1 : 0;
      expect(made).to.equal(6);
      // The listing asks the primary, which moves what the journals hold first.
      const calls = [...answers.values()].length;
      expect(await listed(cluster)).to.be.at.least(6 + calls);
      const before = await listed(cluster);

      const [victim] = cluster.workerPids();
      const files = journals(cluster);
      process.kill(victim!, 'SIGKILL');
      await waitFor('the killed worker\'s journal to be removed', () => journals(cluster).filter((name) => files.includes(name)).length === 1);
      expect(await listed(cluster)).to.equal(before);
      await waitFor('a new worker with a journal of its own', () => cluster.workerPids().length === 3 && journals(cluster).length === 2);
      expect(await cluster.server.stop()).to.equal(0);
      // Stopped cleanly: every journal moved and removed, and the trail verifies.
      expect(journals(cluster)).to.deep.equal([]);
      const verified = await runCli(['admin', 'audit', 'verify'], { cwd: cluster.dataDir, env: { KEYHOLD_DATA_DIR: cluster.dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE } });
      expect(verified.code, verified.stderr).to.equal(0);
      expect(verified.stdout.toString()).to.match(/^audit trail: \d+ records checked: intact\n$/);
    });

    it('keeps the records of requests answered while the primary was frozen and then killed; verify counts them, the next start moves them in', async () => {
      const cluster = await start();
      await cluster.call('generaterandom', { NumberOfBytes: 8 });
      const pids = cluster.workerPids();
      // Frozen, the primary moves nothing: what the workers answer now stays in their journals.
      cluster.server.child.kill('SIGSTOP');
      let answered = 0;
      for (let i = 0; i < 4; i++) answered += (await cluster.call('generaterandom', { NumberOfBytes: 8 })).status === 200 ? 1 : 0;
      cluster.server.child.kill('SIGKILL');
      await waitFor('the workers to exit', () => pids.every((pid) => !isRunning(pid)));
      expect(answered).to.equal(4);
      const left = journals(cluster);
      expect(left).to.have.length(2);
      expect(left.some((name) => statSync(path.join(journalDir(cluster), name)).size > 0)).to.equal(true);

      const env = { KEYHOLD_DATA_DIR: cluster.dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE };
      const verified = await runCli(['admin', 'audit', 'verify'], { cwd: cluster.dataDir, env });
      expect(verified.code, verified.stderr).to.equal(0);
      const pending = /intact, and (\d+) records? in the workers' audit journals, checked, not yet in the trail/.exec(verified.stdout.toString());
      expect(pending, verified.stdout.toString()).to.not.equal(null);
      expect(Number(pending![1])).to.be.at.least(4);

      const restarted = await startCluster(cluster.dataDir.replace(/\/data$/, ''));
      running.push(restarted.server);
      expect(await listed(restarted)).to.equal(5);
      for (const name of left) expect(existsSync(path.join(journalDir(cluster), name)), name).to.equal(false);
    });
  });

  describe('stopping', () => {
    it('on SIGTERM, stops the workers, closes the store and exits 0', async () => {
      const cluster = await start();
      const pids = cluster.workerPids();
      expect(pids).to.have.length(2);
      expect(await cluster.server.stop()).to.equal(0);
      expect(cluster.server.stdout()).to.contain('"msg":"stopped"');
      for (const pid of pids) expect(isRunning(pid), `worker ${pid}`).to.equal(false);
    });

    it('stops the workers when the primary is killed', async () => {
      const cluster = await start();
      const pids = cluster.workerPids();
      expect(pids).to.have.length(2);
      cluster.server.child.kill('SIGKILL');
      await waitFor('the workers to exit', () => pids.every((pid) => !isRunning(pid)));
    });
  });
});
