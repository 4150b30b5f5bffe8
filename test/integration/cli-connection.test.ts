import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { runCli, type CliResult } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cli connection suite passphrase, long enough';

interface Credentials {
  AccessKeyId: string;
  SecretKey: string;
  Url: string;
  CertSha256: string;
}

/** A listener that only counts who connects: where a planted file would send the requests. */
async function startTrap(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('the keyhold command line takes a connection from one source, never mixed', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let serverDir: string;
  let workDir: string;
  let config: string;
  let admin: Credentials;
  let trap: Awaited<ReturnType<typeof startTrap>>;
  let removeDirs: () => void;

  function keyhold(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
    return runCli(args, { cwd, env: { XDG_CONFIG_HOME: config, ...env } });
  }

  /** Plants ./data/admin.credentials in the user's working directory. */
  function plant(fields: Partial<Credentials>): void {
    mkdirSync(path.join(workDir, 'data'), { recursive: true });
    writeFileSync(path.join(workDir, 'data', 'admin.credentials'), JSON.stringify({ ...admin, AccessKeyId: 'KHPLANTEDPLANTEDPLAN', ...fields }), { mode: 0o600 });
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    const serverHome = makeTempDir('keyhold-cli-connection-server-');
    const work = makeTempDir('keyhold-cli-connection-work-');
    const configDir = makeTempDir('keyhold-cli-connection-config-');
    removeDirs = () => [serverHome, work, configDir].forEach((dir) => dir.remove());
    serverDir = serverHome.path;
    workDir = work.path;
    config = configDir.path;
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(serverDir, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, serverDir);
    admin = JSON.parse(readFileSync(path.join(serverDir, 'data', 'admin.credentials'), 'utf8'));
    rememberSecret(admin.SecretKey);
    trap = await startTrap();
  });
  after(async () => {
    await trap.close();
    await server.stop();
    removeDirs();
  });

  const environment = () => ({ KEYHOLD_URL: server.url, KEYHOLD_ACCESS_KEY_ID: admin.AccessKeyId, KEYHOLD_SECRET_KEY: admin.SecretKey });

  it('with the environment, uses neither the URL nor the pin of a planted ./data/admin.credentials', async () => {
    plant({ Url: trap.url, CertSha256: 'ab'.repeat(32) });
    const caCert = path.join(serverDir, 'data', 'tls-cert.pem');
    const result = await keyhold(['--ca-cert', caCert, 'random', '--bytes', '4'], workDir, environment());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.have.length(4);
    expect(result.stderr).to.equal('');
    expect(trap.connections(), 'connections to the planted URL').to.equal(0);
  });

  it("does not pin the planted file's certificate for the environment's URL", async () => {
    // The planted pin is the real server's: were it applied, the self-signed server would be trusted.
    plant({ Url: server.url, CertSha256: admin.CertSha256 });
    const result = await keyhold(['random', '--bytes', '4'], workDir, environment());
    expect(result.code, result.stderr).to.equal(3);
    expect(result.stderr).to.match(/^Error: DEPTH_ZERO_SELF_SIGNED_CERT: /);
  });

  it('refuses a credential from the environment without a URL, rather than take the planted URL', async () => {
    plant({ Url: trap.url, CertSha256: 'ab'.repeat(32) });
    const { KEYHOLD_ACCESS_KEY_ID, KEYHOLD_SECRET_KEY } = environment();
    const result = await keyhold(['random', '--bytes', '4'], workDir, { KEYHOLD_ACCESS_KEY_ID, KEYHOLD_SECRET_KEY });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(/^Error: UsageError: the connection from the environment lacks KEYHOLD_URL \(or --url\): set all three/);
    expect(trap.connections(), 'connections to the planted URL').to.equal(0);
  });

  it("refuses a URL from the environment without a credential, rather than send the file's credential there", async () => {
    const result = await keyhold(['random', '--bytes', '4'], serverDir, { KEYHOLD_URL: trap.url });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(/^Error: UsageError: the connection from the environment lacks KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY/);
    const flag = await keyhold(['--url', trap.url, 'random', '--bytes', '4'], serverDir);
    expect(flag.code, flag.stderr).to.equal(2);
    expect(trap.connections(), 'connections to the URL without a credential').to.equal(0);
  });

  it('uses ./data/admin.credentials whole when nothing else is configured, and says so on stderr', async () => {
    const result = await keyhold(['random', '--bytes', '5'], serverDir);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.have.length(5);
    expect(result.stderr).to.equal(`keyhold: using credentials from ${path.join(serverDir, 'data', 'admin.credentials')}\n`);
    const named = await keyhold(['--credentials', 'data/admin.credentials', 'random', '--bytes', '5'], serverDir);
    expect(named.code, named.stderr).to.equal(0);
    expect(named.stderr, 'a file named with --credentials is no fallback').to.equal('');
  });

  it('refuses two connections named at once', async () => {
    const result = await keyhold(['--credentials', 'data/admin.credentials', '--url', server.url, 'random', '--bytes', '4'], serverDir);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/^Error: UsageError: --credentials and --url name two different connections/);
  });

  it('configure --import-credentials takes the file whole: no --url or pin beside it', async () => {
    const result = await keyhold(['configure', '--import-credentials', 'data/admin.credentials', '--url', trap.url], serverDir);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/^Error: UsageError: --import-credentials takes the URL, the credential and the pin from the file together: drop --url/);
  });
});
