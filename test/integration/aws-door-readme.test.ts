import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { skipWithout } from '../helpers/commands.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { capturedLog } from '../helpers/log-capture.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGE_ENDPOINT = 'https://127.0.0.1:8443';

/** The first `sh` block of "Using AWS tools" in docs/aws.md: what a reader pastes first. */
function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, 'docs', 'aws.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using AWS tools'));
  const block = /```sh\n([\s\S]*?)\n```/.exec(section);
  if (!block) throw new Error('docs/aws.md has no sh block under "Using AWS tools"');
  return block[1]!;
}

describe("the AWS CLI example of docs/aws.md, run as written against a real server", function () {
  this.timeout(120_000);
  let work: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;

  before(async function () {
    skipWithout(this, ['aws', 'jq']);
    work = makeTempDir('keyhold-aws-readme-');
    const passphrase = 'aws readme passphrase (test)';
    rememberSecret(passphrase);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(work.path, 'data'), KEYHOLD_PASSPHRASE: passphrase }, work.path);
    rememberSecret(JSON.parse(readFileSync(path.join(work.path, 'data', 'admin.credentials'), 'utf8')).SecretKey);
  });

  after(async () => {
    await server?.stop();
    work?.remove();
  });

  it('creates a key and an alias, encrypts card.txt and decrypts it back', async () => {
    // Only the port differs from the page: the test server listens on a free one.
    const script = readmeExample().replaceAll(PAGE_ENDPOINT, server.url);
    expect(script).to.include(`--endpoint-url ${server.url}`);
    // Nothing of this machine's AWS setup (profiles, a CA bundle, a session) leaks in.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && !name.startsWith('KEYHOLD_')));
    const env = { ...inherited, HOME: work.path, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: work.path, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    capturedLog.push(output);
    expect(code, output).to.equal(0);
    expect(output.trim()).to.equal('4111 1111 1111 1111');
    expect(readFileSync(path.join(work.path, 'card.enc')).length).to.be.above(69);
  });
});
