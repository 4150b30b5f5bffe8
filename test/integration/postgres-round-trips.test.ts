import { expect } from 'chai';
import pg from 'pg';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { serverClient, type ServerClient } from '../helpers/server-client.js';
import { launchServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cold reads, one round trip (test)';
/** Every line PostgreSQL logs starts with this and the backend's pid, so that sessions can be told apart. */
const PREFIX = 'kh-log ';

/** After the prefix: `<pid> LOG:  statement: …` (simple protocol) or `<pid> LOG:  execute <name>: …` (extended). */
const STATEMENT_LINE = /^(\d+) LOG:\s+(?:statement|execute [^:]+): (.*)$/;

/** How the store calls its audit append function (a temporary function, made on each pooled connection). */
const APPEND_FUNCTION = 'pg_temp.keyhold_audit_append';
const APPEND_CALL = `SELECT ${APPEND_FUNCTION}($1, $2, $3, $4, $5, $6, $7, $8) AS written`;

/** What each new pooled connection runs once: not part of any request's round trips. */
const CONNECTION_SETUP = [`CREATE FUNCTION ${APPEND_FUNCTION}(`, "SELECT set_config('default_toast_compression'"];

/** One statement as PostgreSQL logged it: the backend that ran it and its text (parameters left out). */
interface Statement {
  pid: number;
  text: string;
}

/**
 * Issue: "a cold key read adds at most one database round trip". A real server (one process,
 * KEYHOLD_WORKERS=1) on a real PostgreSQL that logs every statement (log_statement = all): the
 * statements one decrypt, and one encrypt, of a key the server has not cached cause, read from
 * the database's own log.
 *
 * What is counted: every statement a backend logged between the request and its answer,
 * grouped per backend (each pool connection is one backend, so one session's BEGIN … COMMIT
 * stays together even when sessions interleave). Two kinds are allowed:
 *   - reads of the key: statements that read keyhold_keys or keyhold_versions. Exactly one,
 *     and it reads both tables (the key's record and the wrapped version, joined).
 *   - write transactions: BEGIN … COMMIT blocks that write, in at most three round trips, or
 *     one call of the audit append function (a transaction of its own). Here that is the audit
 *     record's (BEGIN, SET LOCAL synchronous_commit = off, the chain's advisory lock and the
 *     read of its head and newest record in one message; one statement inserting the record
 *     and the head; COMMIT; or, once the node wrote the head itself, the function) and, on the
 *     first request of a credential in a process, its LastUsedDate (an INSERT into keyhold_meta),
 *     which may share the audit record's transaction (group commit). Neither reads a key.
 * Anything else (a second read of the key, a read of any record outside a write transaction)
 * fails the test. Left out: `SELECT 1` on the background-work lease's own connection, which
 * the server sends every 3 s whatever the requests, and the CREATE FUNCTION of the append
 * function that each pool connection runs once when it opens.
 *
 * It can fail: were getKeyWithVersion two queries (getKey, then getVersion: the record, then
 * the wrapped version), a cold decrypt would log two statements reading the key tables, and
 * the count of key reads would be 2, not 1. That was checked once by making it so in a working
 * copy (PostgresStore.getKeyWithVersion returning `{ record: await this.getKey(keyId), wrapped:
 * await this.getVersion(keyId, n) }`): both tests failed with "2 statements read the key".
 */
describe('PostgreSQL store: a cold key read is one database round trip', function () {
  this.timeout(120_000);
  let postgres: TestPostgres;
  const dir = makeTempDir('keyhold-round-trips-');
  let server: ServerProcess | undefined;
  let client: ServerClient;
  let blob: string;
  let uncachedKeyId: string;

  const start = async () => {
    const env = { KEYHOLD_DATA_DIR: dir.path, KEYHOLD_STORE_URL: postgres.url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', KEYHOLD_WORKERS: '1' };
    server = await launchServerProcess(env, dir.path).listening;
    client = serverClient(server, dir.path);
  };

  before(async function () {
    requirePostgres(this);
    postgres = await startPostgres();
    await logEveryStatement(postgres.url);
    // Two keys and a blob under the first, made by one server process …
    await start();
    const keyIds: string[] = [];
    for (const description of ['decrypted cold', 'encrypted cold']) {
      const created = await client.call('createkey', { Description: description });
      expect(created.status, JSON.stringify(created.body)).to.equal(200);
      keyIds.push((created.body.KeyMetadata as { KeyId: string }).KeyId);
    }
    const sealed = await client.call('encrypt', { KeyId: keyIds[0], Plaintext: Buffer.from('cold').toString('base64') });
    expect(sealed.status).to.equal(200);
    blob = sealed.body.CiphertextBlob as string;
    uncachedKeyId = keyIds[1]!;
    // … and used by a fresh one, which has cached nothing.
    await server!.stop();
    await start();
  });

  after(async () => {
    await server?.stop();
    postgres?.remove();
    dir.remove();
  });

  /** The statements logged while `request` ran, per backend, in each backend's order. */
  async function statementsOf(request: () => Promise<{ status: number; body: unknown }>): Promise<Statement[]> {
    const from = postgres.log().length;
    const answer = await request();
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    return parseStatements(postgres.log().slice(from)).filter((statement) => statement.text !== 'SELECT 1' && !CONNECTION_SETUP.some((setup) => statement.text.startsWith(setup)));
  }

  it('decrypts under a key not cached with one statement that reads the key (its record and the version, joined)', async () => {
    const statements = await statementsOf(() => client.call('decrypt', { CiphertextBlob: blob }));
    expectOneKeyRead(statements);
  });

  it('encrypts under a key not cached with one statement that reads the key (its record and its newest version, joined)', async () => {
    const statements = await statementsOf(() => client.call('encrypt', { KeyId: uncachedKeyId, Plaintext: Buffer.from('cold too').toString('base64') }));
    expectOneKeyRead(statements);
  });

  it('writes the audit record of a request that changed nothing in one round trip once the node wrote the head itself', async () => {
    // The requests above wrote records: this node knows the chain's head it stored.
    const statements = await statementsOf(() => client.call('encrypt', { KeyId: uncachedKeyId, Plaintext: Buffer.from('warm').toString('base64') }));
    const listing = statements.map((statement) => `  [${statement.pid}] ${statement.text}`).join('\n');
    expect(statements, `one statement in all:\n${listing}`).to.have.length(1);
    const [only] = statements as [Statement];
    expect(only.text).to.equal(APPEND_CALL);
  });

  it('goes back to the full transaction when another writer moved the head, and the chain stays whole', async () => {
    // A second node on the same database writes a record: the head is no longer the one this node stored.
    const second = await launchServerProcess({ KEYHOLD_DATA_DIR: dir.path, KEYHOLD_STORE_URL: postgres.url, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_KDF: 'pbkdf2', KEYHOLD_WORKERS: '1' }, dir.path).listening;
    try {
      const secondClient = serverClient(second, dir.path);
      expect((await secondClient.call('encrypt', { KeyId: uncachedKeyId, Plaintext: Buffer.from('other node').toString('base64') })).status).to.equal(200);
    } finally {
      await second.stop();
    }
    const statements = await statementsOf(() => client.call('encrypt', { KeyId: uncachedKeyId, Plaintext: Buffer.from('after the other').toString('base64') }));
    const listing = statements.map((statement) => `  [${statement.pid}] ${statement.text}`).join('\n');
    // The one-call attempt wrote nothing (the head was not ours), then BEGIN … COMMIT read the head again.
    expect(statements[0]!.text, listing).to.equal(APPEND_CALL);
    expect(statements.slice(1).map((statement) => statement.text.split(' ')[0]), listing).to.deep.equal(['BEGIN;', 'WITH', 'COMMIT']);
    expectWholeWriteTransactions(statements, listing);
    // One chain across both nodes: every record follows the one before it.
    const events = (await client.call('listauditevents', { Limit: 1000 })).body.Events as Array<{ Seq: number; PrevMac: string; Mac: string }>;
    events.forEach((event, i) => {
      if (i === 0) return;
      expect(event.Seq, `record ${i}`).to.equal(events[i - 1]!.Seq + 1);
      expect(event.PrevMac, `record ${event.Seq}`).to.equal(events[i - 1]!.Mac);
    });
  });
});

/** Turns on statement logging for every new session, with the backend's pid on every line. */
async function logEveryStatement(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query("ALTER SYSTEM SET log_statement = 'all'");
    await admin.query(`ALTER SYSTEM SET log_line_prefix = '${PREFIX}%p '`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  // The reload is asynchronous: wait until a new session sees it.
  for (let attempt = 0; attempt < 100; attempt++) {
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    const { rows } = await probe.query<{ log_line_prefix: string }>('SHOW log_line_prefix').finally(() => probe.end());
    if (rows[0]?.log_line_prefix === `${PREFIX}%p `) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('PostgreSQL did not take the logging settings');
}

/**
 * The statements in a slice of PostgreSQL's log (STATEMENT_LINE; pg sends a query with
 * parameters by the extended protocol). A statement's text may go on over several lines without
 * the prefix; DETAIL lines (its parameters) are left out.
 */
function parseStatements(log: string): Statement[] {
  const statements: Statement[] = [];
  let current: Statement | undefined;
  for (const line of log.split('\n')) {
    if (line.startsWith(PREFIX)) {
      current = undefined;
      const match = STATEMENT_LINE.exec(line.slice(PREFIX.length));
      if (match) statements.push((current = { pid: Number(match[1]), text: match[2]! }));
    } else if (current) {
      current.text += ` ${line.trim()}`;
    }
  }
  return statements.map((statement) => ({ ...statement, text: statement.text.replace(/\s+/g, ' ').trim() }));
}

/**
 * Exactly one statement reads keyhold_keys or keyhold_versions, and it reads both (one round
 * trip for the record and the version); every other statement is inside a BEGIN … COMMIT of
 * its backend that writes.
 */
function expectOneKeyRead(statements: Statement[]): void {
  const listing = statements.map((statement) => `  [${statement.pid}] ${statement.text}`).join('\n');
  const readsKey = (statement: Statement) => /^SELECT\b/i.test(statement.text) && /\bkeyhold_(keys|versions)\b/.test(statement.text);
  const keyReads = statements.filter(readsKey);
  expect(keyReads, `${keyReads.length} statements read the key:\n${listing}`).to.have.length(1);
  expect(keyReads[0]!.text, 'the key read').to.match(/\bkeyhold_keys\b.*\bkeyhold_versions\b/);
  expectWholeWriteTransactions(statements.filter((statement) => !readsKey(statement)), listing);
}

/**
 * Every statement is inside a BEGIN … COMMIT of its backend that writes, in at most three round
 * trips, or is a whole such transaction in one message.
 */
function expectWholeWriteTransactions(statements: Statement[], listing: string): void {
  for (const pid of new Set(statements.map((statement) => statement.pid))) {
    let transaction: Statement[] | undefined;
    for (const statement of statements.filter((candidate) => candidate.pid === pid)) {
      if (statement.text === APPEND_CALL) {
        // The audit append function: one statement, a transaction of its own that writes.
        expect(transaction, `a transaction inside another on backend ${pid}:\n${listing}`).to.equal(undefined);
      } else if (/^BEGIN\b.*; COMMIT$/.test(statement.text)) {
        // A whole transaction in one message (audit records alone, on from the head this node wrote).
        expect(transaction, `a transaction inside another on backend ${pid}:\n${listing}`).to.equal(undefined);
        expect(/\b(INSERT|UPDATE|DELETE)\b/i.test(statement.text), `a transaction that writes nothing on backend ${pid}:\n${listing}`).to.equal(true);
      } else if (/^BEGIN\b/.test(statement.text)) {
        transaction = [statement];
      } else if (statement.text === 'COMMIT') {
        expect(transaction, `a COMMIT without its BEGIN on backend ${pid}:\n${listing}`).to.not.equal(undefined);
        expect(transaction!.some((inside) => /\b(INSERT|UPDATE|DELETE)\b/i.test(inside.text)), `a transaction that writes nothing on backend ${pid}:\n${listing}`).to.equal(true);
        // Its opening (BEGIN, its locks and the read under them, in one message), one write, and this COMMIT.
        expect(transaction!.length + 1, `a write transaction of more than three round trips on backend ${pid}:\n${listing}`).to.be.at.most(3);
        transaction = undefined;
      } else if (transaction) {
        transaction.push(statement);
      } else {
        expect.fail(`a statement outside a write transaction that is not the key read: ${statement.text}\n${listing}`);
      }
    }
    expect(transaction, `a transaction left open on backend ${pid}:\n${listing}`).to.equal(undefined);
  }
}
