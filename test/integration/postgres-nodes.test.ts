import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { parseCiphertext } from '../../src/crypto/ciphertext-codec.js';
import { runCli } from '../helpers/cli.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { serverClient, waitFor, type ServerClient } from '../helpers/server-client.js';
import { launchServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'two nodes, one database (test)';

/**
 * Two Keyhold nodes on one PostgreSQL database, as two real server processes: what one node
 * changes, the other uses; what one node disables, the other refuses within a second.
 */
describe('PostgreSQL store: two nodes on one database', function () {
  this.timeout(180_000);
  let postgres: TestPostgres;
  const dirs = [makeTempDir('keyhold-node-a-'), makeTempDir('keyhold-node-b-')];
  const nodes: ServerProcess[] = [];
  let a: ServerClient;
  let b: ServerClient;
  let url: string;
  /** The data directory whose admin.credentials the clients sign with. */
  let makerDir: string;

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
    url = postgres.url;
    // Both at the same moment, on an empty database: one schema, one root key, one admin credential.
    const env = (dir: string) => ({ KEYHOLD_DATA_DIR: dir, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', KEYHOLD_LOG_LEVEL: 'info' });
    const launched = dirs.map((dir) => launchServerProcess(env(dir.path), dir.path));
    nodes.push(...(await Promise.all(launched.map((launch) => launch.listening))));
    // The credential is in the admin.credentials of whichever node made it.
    makerDir = dirs.find((dir) => existsSync(path.join(dir.path, 'admin.credentials')))!.path;
    a = serverClient(nodes[0]!, makerDir);
    b = serverClient(nodes[1]!, makerDir);
  });

  after(async () => {
    for (const node of nodes) await node.stop();
    postgres?.remove();
    for (const dir of dirs) dir.remove();
  });

  async function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  }

  it('initialises the database exactly once when both start together', async () => {
    const roots = await sql("SELECT key FROM keyhold_meta WHERE key = 'root'");
    expect(roots).to.have.length(1);
    const credentials = await sql('SELECT key FROM keyhold_credentials');
    expect(credentials).to.have.length(1);
    const listed = await a.call('listcredentials');
    expect(listed.status).to.equal(200);
    expect((listed.body.Credentials as unknown[]).length).to.equal(1);
  });

  it('encrypts on one node under a key made on the other, and decrypts across them', async () => {
    const created = await a.call('createkey', { Description: 'made on A' });
    expect(created.status).to.equal(200);
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    const plaintext = Buffer.from('across nodes').toString('base64');
    const onB = await b.call('encrypt', { KeyId: keyId, Plaintext: plaintext });
    expect(onB.status, JSON.stringify(onB.body)).to.equal(200);
    const onA = await a.call('decrypt', { CiphertextBlob: onB.body.CiphertextBlob });
    expect(onA.body.Plaintext).to.equal(plaintext);
    // An alias made on B resolves on A.
    await expectOk(b, 'createalias', { AliasName: 'alias/across', TargetKeyId: keyId });
    const byAlias = await waitForStatus(a, 'encrypt', { KeyId: 'alias/across', Plaintext: plaintext }, 200);
    expect(byAlias.status).to.equal(200);
  });

  it('refuses a key on the other node within a second of its disabling, and serves it again once enabled', async () => {
    const keyId = ((await a.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const plaintext = Buffer.from('x').toString('base64');
    // B caches the key first.
    await expectOk(b, 'encrypt', { KeyId: keyId, Plaintext: plaintext });
    await expectOk(a, 'disablekey', { KeyId: keyId });
    const started = Date.now();
    const refused = await waitForStatus(b, 'encrypt', { KeyId: keyId, Plaintext: plaintext }, 400);
    expect(refused.body.__type).to.equal('DisabledException');
    expect(Date.now() - started).to.be.below(1_000);
    await expectOk(a, 'enablekey', { KeyId: keyId });
    expect((await waitForStatus(b, 'encrypt', { KeyId: keyId, Plaintext: plaintext }, 200)).status).to.equal(200);
  });

  it('uses on one node the version a rotation on the other made', async () => {
    const keyId = ((await a.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const plaintext = Buffer.from('rotate me').toString('base64');
    const before = await a.call('encrypt', { KeyId: keyId, Plaintext: plaintext });
    expect(parseCiphertext(Buffer.from(before.body.CiphertextBlob as string, 'base64')).version).to.equal(1);
    await expectOk(b, 'rotatekeyondemand', { KeyId: keyId });
    await waitFor('node A to encrypt under version 2', async () => {
      const after = await a.call('encrypt', { KeyId: keyId, Plaintext: plaintext });
      return parseCiphertext(Buffer.from(after.body.CiphertextBlob as string, 'base64')).version === 2;
    }, 1_000);
    // Both versions decrypt on both nodes.
    expect((await b.call('decrypt', { CiphertextBlob: before.body.CiphertextBlob })).body.Plaintext).to.equal(plaintext);
  });

  it('serialises changes of one key across nodes: concurrent tag writes on both nodes are all kept', async () => {
    const keyId = ((await a.call('createkey')).body.KeyMetadata as { KeyId: string }).KeyId;
    const writes = Array.from({ length: 20 }, (_, index) =>
      (index % 2 === 0 ? a : b).call('tagresource', { KeyId: keyId, Tags: [{ TagKey: `t${index}`, TagValue: String(index) }] }),
    );
    const answers = await Promise.all(writes);
    expect(answers.map((answer) => answer.status)).to.deep.equal(answers.map(() => 200));
    const tags = await a.call('listresourcetags', { KeyId: keyId });
    expect((tags.body.Tags as unknown[]).length).to.equal(20);
  });

  it('refuses a disabled credential on the other node within a second', async () => {
    const created = await a.call('createcredential', { Description: 'app', Policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }] } });
    expect(created.status, JSON.stringify(created.body)).to.equal(200);
    const accessKeyId = (created.body.Credential as { AccessKeyId: string }).AccessKeyId;
    await expectOk(a, 'disablecredential', { AccessKeyId: accessKeyId });
    const started = Date.now();
    await waitFor('node B to see the credential disabled', async () => {
      const described = await b.call('describecredential', { AccessKeyId: accessKeyId });
      return (described.body.Credential as { Enabled: boolean }).Enabled === false;
    }, 1_000);
    expect(Date.now() - started).to.be.below(1_000);
  });

  it('refuses on one node a state-changing request the other node already accepted (a replay)', async () => {
    const signed = { nonce: randomUUID(), now: new Date() };
    const first = await a.call('createkey', { Description: 'once only' }, signed);
    expect(first.status).to.equal(200);
    const replayed = await b.call('createkey', { Description: 'once only' }, signed);
    expect(replayed.body.__type).to.equal('ReplayedRequestException');
    // To the same node again: refused by its own memory, as before.
    expect((await a.call('createkey', { Description: 'once only' }, signed)).body.__type).to.equal('ReplayedRequestException');
    const made = await a.call('listkeys', { Limit: 1000 });
    const descriptions = await Promise.all((made.body.Keys as { KeyId: string }[]).map(async (key) => ((await a.call('describekey', { KeyId: key.KeyId })).body.KeyMetadata as { Description: string }).Description));
    expect(descriptions.filter((description) => description === 'once only')).to.have.length(1);
  });

  it("lists on one node, within two seconds, what another node's workers journaled; verify on a node checks its own journals and names the others'", async () => {
    const dir = makeTempDir('keyhold-node-c-');
    const c = await launchServerProcess({ KEYHOLD_DATA_DIR: dir.path, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', KEYHOLD_WORKERS: '2' }, dir.path).listening;
    const verifyOn = (dataDir: string) => runCli(['admin', 'audit', 'verify'], { cwd: dataDir, env: { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' } });
    try {
      const cNode = readFileSync(path.join(dir.path, 'audit-journal', 'node'), 'utf8').trim();
      const keyId = ((await a.call('createkey', { Description: 'journaled on C' })).body.KeyMetadata as { KeyId: string }).KeyId;
      const onC = serverClient(c, makerDir);
      for (let i = 0; i < 4; i++) expect((await onC.call('encrypt', { KeyId: keyId, Plaintext: 'AAAA' })).status).to.equal(200);
      const answered = Date.now();
      // C's workers wrote those records to their own journals, named after C.
      const files = readdirSync(path.join(dir.path, 'audit-journal')).filter((name) => name.endsWith('.log'));
      expect(files).to.have.length(2);
      for (const name of files) expect(name.startsWith(`${cNode}.`), name).to.equal(true);
      const listedOnA = async () => ((await a.call('listauditevents', { KeyId: keyId, Action: 'Encrypt', Limit: 100 })).body.Events as unknown[]).length;
      // C moves them every 100 ms; the bound (documented) leaves room for a busy machine.
      await waitFor("C's records in A's listing", async () => (await listedOnA()) === 4, 5_000);
      expect(Date.now() - answered).to.be.below(2_000);

      const fromA = await verifyOn(dirs[0]!.path);
      expect(fromA.code, fromA.stdout.toString() + fromA.stderr).to.equal(0);
      const aNode = readFileSync(path.join(dirs[0]!.path, 'audit-journal', 'node'), 'utf8').trim();
      expect(fromA.stdout.toString()).to.match(new RegExp(`: intact.*; not checked here: the journals of \\d+ other nodes? \\([0-9a-f, ]*${cNode}[0-9a-f, ]*\\): run this on them \\(this node is ${aNode}\\)\n$`));
      const fromC = await verifyOn(dir.path);
      expect(fromC.code, fromC.stdout.toString() + fromC.stderr).to.equal(0);
      expect(fromC.stdout.toString()).to.match(/^audit trail: \d+ records checked: intact/);
      // C never names itself among the others; it names itself as "this node" only when A or B has
      // journals not finished at that moment (their workers' last records).
      const othersOfC = /not checked here: the journals of \d+ other nodes? \(([0-9a-f, ]*)\): run this on them \(this node is ([0-9a-f]{16})\)\n$/.exec(fromC.stdout.toString());
      if (othersOfC) {
        expect(othersOfC[1]!.split(', ')).to.not.include(cNode);
        expect(othersOfC[2]).to.equal(cNode);
      } else {
        expect(fromC.stdout.toString()).to.not.include(cNode);
      }

      // Stopped, C moves the rest and finishes its journals: nothing of C is left for A to name.
      expect(await c.stop()).to.equal(0);
      const afterStop = await verifyOn(dirs[0]!.path);
      expect(afterStop.code, afterStop.stdout.toString() + afterStop.stderr).to.equal(0);
      expect(afterStop.stdout.toString()).to.not.include(cNode);
    } finally {
      await c.stop();
      dir.remove();
    }
  });

  it('verifies the shared store and its audit trail with the offline admin commands while the nodes run', async () => {
    const env = { KEYHOLD_DATA_DIR: dirs[0]!.path, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2' };
    const store = await runCli(['admin', 'verify-store'], { cwd: dirs[0]!.path, env });
    expect(store.code, store.stdout.toString() + store.stderr).to.equal(0);
    expect(store.stdout.toString()).to.match(/^records: .*: all intact$/m);
    const trail = await runCli(['admin', 'audit', 'verify'], { cwd: dirs[0]!.path, env });
    expect(trail.code, trail.stdout.toString() + trail.stderr).to.equal(0);
    expect(trail.stdout.toString()).to.match(/audit trail: \d+ records checked: intact/);
    // Damage in the database is found as on LevelDB: a key record's bytes altered.
    const [row] = await sql<{ key: string }>('SELECT key FROM keyhold_keys ORDER BY key LIMIT 1');
    await sql(`UPDATE keyhold_keys SET value = overlay(value placing '9' from 3 for 1) WHERE key = '${row!.key}'`);
    const damaged = await runCli(['admin', 'verify-store'], { cwd: dirs[0]!.path, env });
    expect(damaged.code, damaged.stdout.toString() + damaged.stderr).to.equal(4);
    expect(damaged.stdout.toString()).to.include(row!.key);
  });

  it('loses no acknowledged write when a node is killed mid-flight; the other takes over the background work; the killed node rejoins', async () => {
    const leader = nodes.findIndex((node) => node.stdout().includes('this node now runs the background work'));
    expect(leader, 'one node leads the background work').to.be.at.least(0);
    expect(nodes.filter((node) => node.stdout().includes('this node now runs the background work'))).to.have.length(1);
    const victim = nodes[leader]!;
    const survivor = nodes[1 - leader]!;
    const victimClient = leader === 0 ? a : b;
    const survivorClient = leader === 0 ? b : a;
    // Mixed traffic on both nodes; the leader is killed while it flows.
    const acknowledged: string[] = [];
    let stop = false;
    const traffic = [victimClient, survivorClient].map(async (client) => {
      while (!stop) {
        const answer = await client.call('createkey', { Description: 'failover' });
        if (answer.status === 200) acknowledged.push((answer.body.KeyMetadata as { KeyId: string }).KeyId);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await Promise.all(traffic);
    expect(acknowledged.length).to.be.above(5);
    for (const keyId of acknowledged) {
      const described = await survivorClient.call('describekey', { KeyId: keyId });
      expect(described.status, `acknowledged key ${keyId}`).to.equal(200);
    }
    // The lease moves within seconds of the holder's death.
    await waitFor('the surviving node to take over the background work', () => survivor.stdout().includes('this node now runs the background work'), 15_000);
    // The killed node starts again on its data directory and the same database, and serves.
    const dir = dirs[leader]!;
    const restarted = await launchServerProcess(
      { KEYHOLD_DATA_DIR: dir.path, KEYHOLD_STORE_URL: url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', KEYHOLD_LOG_LEVEL: 'info' },
      dir.path,
    ).listening;
    nodes[leader] = restarted;
    const maker = dirs.find((candidate) => existsSync(path.join(candidate.path, 'admin.credentials')))!;
    const rejoined = serverClient(restarted, maker.path);
    expect((await rejoined.call('describekey', { KeyId: acknowledged[acknowledged.length - 1] })).status).to.equal(200);
  });
});

/** Calls until the answer has `status` (another node's change arrives within a second), or gives up after two. */
/** A call that must answer 200; a failure shows the answer's error. */
async function expectOk(client: ServerClient, action: string, body: object) {
  const answered = await client.call(action, body);
  expect(answered.status, `${action}: ${JSON.stringify(answered.body)}`).to.equal(200);
  return answered;
}

async function waitForStatus(client: ServerClient, action: string, body: object, status: number) {
  const until = Date.now() + 2_000;
  for (;;) {
    const answer = await client.call(action, body);
    if (answer.status === status || Date.now() > until) return answer;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
