import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startFakeAwsKms, type FakeAwsKms } from '../fakes/aws-kms.js';
import { startFakeGcpKms, type FakeGcpKms } from '../fakes/gcp-kms.js';
import { capturedLog } from '../helpers/log-capture.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'cli/keyhold.ts');
const TSX = import.meta.resolve('tsx');
const CLOUD_ONLY = '<!-- walkthrough: cloud only -->';
const RUNNABLE = '<!-- walkthrough -->';

/** The pages that may hold walk-throughs: the README and every page under docs/. */
function pages(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort();
  return ['README.md', ...docs.map((name) => `docs/${name}`)];
}

/**
 * The walk-throughs of every page, read from the pages themselves: each section whose heading
 * starts with "Walk-through: ", or whose first line is `<!-- walkthrough -->`, up to the next
 * heading of its level or above, with its `sh` blocks except those marked as needing a cloud
 * account. A title is "<page>: <heading without Walk-through:>".
 */
function walkthroughs(): { title: string; script: string }[] {
  const found: { title: string; script: string }[] = [];
  for (const page of pages()) {
    const lines = readFileSync(path.join(ROOT, page), 'utf8').split('\n');
    // Headings outside code blocks (a `# 1. …` comment in an sh block is no heading).
    const headings: { line: number; level: number; text: string }[] = [];
    let fenced = false;
    lines.forEach((line, index) => {
      if (line.startsWith('```')) fenced = !fenced;
      const heading = fenced ? null : /^(#{1,6}) (.*)$/.exec(line);
      if (heading) headings.push({ line: index, level: heading[1]!.length, text: heading[2]!.trim() });
    });
    headings.forEach((heading, index) => {
      const marked = lines[heading.line + 1]?.trim() === RUNNABLE;
      if (!heading.text.startsWith('Walk-through: ') && !marked) return;
      const next = headings.slice(index + 1).find((other) => other.level <= heading.level);
      const section = lines.slice(heading.line + 1, next ? next.line : lines.length).join('\n');
      const blocks: string[] = [];
      const fence = /(^|\n)([^\n]*)\n```sh\n([\s\S]*?)\n```/g;
      for (let match = fence.exec(section); match; match = fence.exec(section)) {
        if (match[2]!.trim() !== CLOUD_ONLY) blocks.push(match[3]!);
      }
      found.push({ title: `${page}: ${heading.text.replace(/^Walk-through: /, '')}`, script: blocks.join('\n') });
    });
  }
  return found;
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  // No KEYHOLD_* setting of the test run leaks in: the walk-through connects as a reader would.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_')));
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.once('close', (code) => {
    capturedLog.push(output);
    resolve({ code, output });
  }));
}

describe('the walk-throughs of the README and docs/, run as written (AWS and Google are the fakes of the tests)', function () {
  this.timeout(300_000);
  let dir: ReturnType<typeof makeTempDir>;
  let server: ServerProcess;
  let aws: FakeAwsKms;
  let gcp: FakeGcpKms;
  const env: Record<string, string> = {};

  before(async () => {
    dir = makeTempDir('keyhold-walkthrough-');
    rememberSecret('walkthrough-test-secret-not-real');
    aws = await startFakeAwsKms();
    gcp = await startFakeGcpKms();
    server = await startServerProcess(
      {
        AWS_ENDPOINT_URL_KMS: aws.url,
        AWS_ACCESS_KEY_ID: 'AKIAWALKTHROUGHTEST',
        AWS_SECRET_ACCESS_KEY: 'walkthrough-test-secret-not-real',
        AWS_REGION: 'eu-west-1',
        AWS_CONFIG_FILE: '/nonexistent/keyhold-test/aws-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/keyhold-test/aws-credentials',
        AWS_EC2_METADATA_DISABLED: 'true',
        KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint,
      },
      dir.path,
    );
    // `keyhold` on the PATH, as after `npm link`; it connects with ./data/admin.credentials.
    const bin = path.join(dir.path, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'keyhold'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${CLI}" "$@"\n`);
    chmodSync(path.join(bin, 'keyhold'), 0o755);
    Object.assign(env, {
      PATH: `${bin}:${process.env.PATH}`,
      XDG_CONFIG_HOME: path.join(dir.path, 'config'),
      // What the blocks "in your cloud account" would have set.
      KEY_VERSION: gcp.addKeyVersion('EC_SIGN_P256_SHA256').name,
      KEY_ARN: aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY', 'eu-west-1').arn,
    });
  });

  after(async () => {
    await server?.stop();
    await aws?.close();
    await gcp?.close();
    dir?.remove();
  });

  const expectations: Record<string, RegExp[]> = {
    'README.md: A five-minute tour': [
      /^Enabled$/m, /^4111 1111 1111 1111$/m, /other context: refused/, /^2$/m, /CiphertextBlob KeyId Plaintext/,
      /restored: same bytes/, /changed file: refused/, /encrypt: allowed/, /keys create: denied/,
      /^Encrypt Success$/m, /^CreateKey AccessDeniedException$/m,
    ],
    'docs/api.md: Signing by hand': [/"Keys":\[/, /"Truncated":false/],
    'docs/cli.md: a two-level CA with KMS keys': [/issuing-ca\.pem: OK/, /web\.pem: OK/, /same key/, /Verify return code: 0 \(ok\)/, /TLS Web Server Authentication/],
    'docs/cli.md: an mTLS client certificate from a Google Cloud KMS key': [/verify OK/, /client\.pem: OK/, /TLS Web Client Authentication/, /URI:spiffe:\/\/example\.org\/billing-worker/],
    'docs/cli.md: a TLS server certificate for an AWS KMS key': [/verify OK/, /DNS:www\.example\.com, DNS:example\.com/, /www\.pem: OK/],
  };

  it('finds every walk-through of the pages, each with commands to run, and no other', () => {
    const found = walkthroughs();
    // A new walk-through on any page must be added here, with what its output must show.
    expect(found.map((w) => w.title)).to.deep.equal(Object.keys(expectations));
    for (const walkthrough of found.filter((w) => !w.title.startsWith('docs/api.md'))) expect(walkthrough.script).to.match(/keyhold /);
    expect(found.find((w) => w.title === 'docs/api.md: Signing by hand')?.script).to.match(/curl .*--cacert data\/tls-cert\.pem/);
    for (const walkthrough of found.filter((w) => w.title.startsWith('docs/cli.md'))) expect(walkthrough.script).to.match(/keyhold (csr|cert)/);
    // The cloud-side blocks are left out, and only those.
    expect(found.map((w) => w.script).join('\n')).to.not.match(/gcloud|aws kms/);
  });

  for (const [title, patterns] of Object.entries(expectations)) {
    it(`runs "${title}"`, async () => {
      const walkthrough = walkthroughs().find((w) => w.title === title)!;
      const { code, output } = await bash(walkthrough.script, dir.path, env);
      expect(code, output).to.equal(0);
      for (const pattern of patterns) expect(output, output).to.match(pattern);
    });
  }

  it('signed the remote certificates in AWS KMS and Google Cloud KMS', () => {
    expect(gcp.calls).to.include('AsymmetricSign');
    expect(aws.requests.some((r) => r.target === 'TrentService.Sign')).to.equal(true);
  });
});
