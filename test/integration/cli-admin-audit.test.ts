import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { alterStoredAuditRecord } from '../helpers/audit-tamper.js';
import { KeyholdClient, type AuditEvent } from '../../src/client/index.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { runCli } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { StoreChoice } from '../helpers/test-store.js';

const PASSPHRASE = 'offline admin audit test passphrase';
const DAMAGED = 4;

/**
 * The offline admin commands of issue 14, on a store a real server wrote: `admin audit verify`
 * (intact, then a removed record named, exit 4) and `admin credentials create --admin`, the way
 * back in when every admin credential is lost; and `audit list --verify` against a server over
 * a store with a record altered while it was stopped.
 */
describe('keyhold admin audit verify and admin credentials create (offline)', function () {
  this.timeout(180_000);
  let temp: ReturnType<typeof makeTempDir>;
  let server: ServerProcess | undefined;
  const dataDir = () => path.join(temp.path, 'data');
  const env = (directory = dataDir()) => ({ KEYHOLD_DATA_DIR: directory, KEYHOLD_PASSPHRASE: PASSPHRASE });
  const admin = (args: string[], directory = dataDir()) => runCli(['admin', ...args], { cwd: temp.path, env: env(directory) });

  /** A store a real server wrote an audit trail into (a key made, described five times), stopped. */
  async function auditedStore(directory: string, choice: StoreChoice = {}): Promise<void> {
    server = await startServerProcess(env(directory), temp.path, choice);
    const client = KeyholdClient.fromCredentialsFile(path.join(directory, 'admin.credentials'));
    const { KeyId } = await client.createKey({ description: 'audited' });
    for (let i = 0; i < 5; i++) await client.describeKey(KeyId);
    client.close();
    expect(await server.stop()).to.equal(0);
    server = undefined;
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    temp = makeTempDir('keyhold-admin-audit-');
    await auditedStore(dataDir());
  });
  afterEach(async () => {
    // A failed test may leave its server running: the next one starts its own.
    await server?.stop();
    server = undefined;
  });
  after(() => temp.remove());

  it('reports an intact trail with its record count, exit 0', async () => {
    const result = await admin(['audit', 'verify']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.toString()).to.match(/^audit trail: \d+ records checked: intact\n$/);
  });

  it('makes an admin credential offline into a 0600 file; a server accepts it; the trail records who made it', async () => {
    const out = path.join(temp.path, 'recovered.credentials');
    const made = await admin(['credentials', 'create', '--admin', '--out', out]);
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stdout.toString()).to.match(/^created credential KH[A-Z2-7]{18} in .*recovered\.credentials \(mode 0600\)/);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const file = JSON.parse(readFileSync(out, 'utf8'));
    rememberSecret(file.SecretKey);
    expect((await admin(['credentials', 'create', '--admin', '--out', out])).code, 'never over an existing file').to.not.equal(0);

    server = await startServerProcess(env(), temp.path);
    const recovered = KeyholdClient.fromCredentialsFile(out, { url: server.url, certSha256: server.certSha256 });
    const credentials = await recovered.listCredentials({});
    expect(credentials.credentials.map((credential: { AccessKeyId: string }) => credential.AccessKeyId)).to.include(file.AccessKeyId);
    const events = await recovered.listAuditEvents({ action: 'CreateCredential' });
    expect(events.events.some((event: { Principal: string }) => event.Principal === 'keyhold-admin-offline')).to.equal(true);
    recovered.close();
    expect(await server.stop()).to.equal(0);
    server = undefined;
    expect((await admin(['audit', 'verify'])).code).to.equal(0);
  });

  it('audit list --verify, on a server over a store with one record altered, marks that record alone as not verifying', async () => {
    // LevelDB in any run, as below: the record is altered in-process.
    const directory = path.join(temp.path, 'leveldb-altered');
    await auditedStore(directory, { store: 'leveldb' });
    const store = await LevelDbStore.open(directory);
    let victim: AuditEvent;
    try {
      const events = await store.listAudit();
      victim = events[3]!;
      await alterStoredAuditRecord(store, victim.Seq, (record) => ({ ...record, Principal: 'someone-else' }));
    } finally {
      await store.close();
    }
    server = await startServerProcess(env(directory), temp.path, { store: 'leveldb' });
    // The restarted server listens on another port: its admin credential, with the URL of now.
    const credentials = JSON.parse(readFileSync(path.join(directory, 'admin.credentials'), 'utf8'));
    const file = path.join(temp.path, 'altered.credentials');
    writeFileSync(file, JSON.stringify({ ...credentials, Url: server.url, CertSha256: server.certSha256 }), { mode: 0o600 });
    const list = (format: string) => runCli(['--output', format, 'audit', 'list', '--verify'], { cwd: temp.path, env: { KEYHOLD_CREDENTIALS_FILE: file } });
    const json = await list('json');
    expect(json.code, json.stderr).to.equal(0);
    const listed = JSON.parse(json.stdout.toString()).Events as AuditEvent[];
    expect(listed.filter((event) => event.Verified !== true).map((event) => [event.Seq, event.Verified])).to.deep.equal([[victim.Seq, false]]);
    expect(listed.length).to.be.greaterThan(5);
    const table = await list('table');
    expect(table.code, table.stderr).to.equal(0);
    const lines = table.stdout.toString().trimEnd().split('\n');
    expect(lines[0]).to.match(/^Time\s+Principal\s+Action\s+KeyId\s+Outcome\s+SourceIp\s+Verified$/);
    expect(lines.filter((line) => line.endsWith('DOES NOT VERIFY'))).to.have.length(1);
    expect(lines.find((line) => line.endsWith('DOES NOT VERIFY'))).to.include('someone-else');
    expect(lines.slice(2).filter((line) => line.endsWith('  verified'))).to.have.length(lines.length - 3);
    expect(await server.stop()).to.equal(0);
    server = undefined;
  });

  it('names a record removed from the middle of the trail, exit 4', async () => {
    // A store of its own on LevelDB in any run: the record is removed in-process, and only LevelDB opens here.
    const directory = path.join(temp.path, 'leveldb');
    await auditedStore(directory, { store: 'leveldb' });
    const store = await LevelDbStore.open(directory);
    try {
      const events = await store.listAudit();
      await alterStoredAuditRecord(store, events[3]!.Seq, () => undefined);
    } finally {
      await store.close();
    }
    const result = await admin(['audit', 'verify'], directory);
    expect(result.code).to.equal(DAMAGED);
    expect(result.stdout.toString()).to.match(/first break: record 4 was removed \(the next record is 5\)/);
  });
});
