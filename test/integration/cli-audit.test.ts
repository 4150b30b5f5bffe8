import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { expect } from 'chai';
import { KeyholdClient, type AuditEvent } from '../../src/client/index.js';
import { spawnCli } from '../helpers/cli.js';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';
import { capturedLog } from '../helpers/log-capture.js';
import { rememberSecret } from '../helpers/secrets.js';

const PLAINTEXT = 'audited plaintext that no record may hold';

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('keyhold audit list, against a real server', function () {
  this.timeout(180_000);
  let h: CliServer;
  /** A credential that may encrypt under alias/orders only, and its client. */
  let app: KeyholdClient;
  let appId: string;
  let ordersKeyId: string;
  /** A key `app` may not use: its one request for it was denied. */
  let otherKeyId: string;
  let started: Date;

  /** A credential allowed only `policy`, signing for the test. */
  async function credentialClient(description: string, policy: object): Promise<KeyholdClient> {
    const { credential, secretKey } = await h.admin.createCredential({ description, policy });
    rememberSecret(secretKey);
    const { Url: url, CertSha256: certSha256 } = h.adminCredentials;
    return new KeyholdClient({ url, certSha256, accessKeyId: credential.AccessKeyId, secretKey });
  }

  const events = async (args: string[]): Promise<AuditEvent[]> => (await h.json(['--output', 'json', 'audit', 'list', ...args])).Events;

  before(async () => {
    rememberSecret(PLAINTEXT);
    h = await startCliServer('audit cli suite passphrase');
    started = new Date();
    ordersKeyId = (await h.admin.createKey({ description: 'orders' })).KeyId;
    await h.admin.call('createalias', { AliasName: 'alias/orders', TargetKeyId: ordersKeyId });
    const other = await h.admin.createKey({ description: 'other' });
    otherKeyId = other.KeyId;
    app = await credentialClient('app', { Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: 'alias/orders' }] });
    appId = app.accessKeyId;
    for (const table of ['orders', 'invoices']) {
      await app.encrypt({ keyId: 'alias/orders', plaintext: Buffer.from(PLAINTEXT), encryptionContext: { table } });
    }
    await app.encrypt({ keyId: other.KeyId, plaintext: Buffer.from(PLAINTEXT) }).catch(() => undefined);
  });
  after(async () => {
    app.close();
    await h.close();
  });

  it('filters by principal, action, outcome and key, and records the context but never the plaintext', async () => {
    const all = await events(['--principal', appId]);
    expect(all.map((event) => [event.Action, event.Outcome])).to.deep.equal([
      ['Encrypt', 'Success'],
      ['Encrypt', 'Success'],
      ['Encrypt', 'AccessDeniedException'],
    ]);
    expect(all.every((event) => event.Principal === appId && event.SourceIp !== null)).to.equal(true);
    expect(all.slice(0, 2).map((event) => event.EncryptionContext)).to.deep.equal([{ table: 'orders' }, { table: 'invoices' }]);
    const denied = await events(['--principal', appId, '--outcome', 'AccessDeniedException']);
    expect(denied).to.have.length(1);
    expect(await events(['--principal', appId, '--action', 'encrypt', '--outcome', 'Success'])).to.have.length(2);
    expect(await events(['--principal', appId, '--action', 'Decrypt'])).to.deep.equal([]);
    const byAlias = await events(['--key-id', 'alias/orders', '--principal', appId]);
    expect(byAlias.map((event) => event.KeyId)).to.deep.equal([ordersKeyId, ordersKeyId]);
    expect(await events(['--key-id', ordersKeyId.toUpperCase(), '--principal', appId])).to.deep.equal(byAlias);
    const text = (await h.keyhold(['--output', 'json', 'audit', 'list'])).stdout.toString();
    expect(text).to.contain(appId);
    expect(text).to.not.contain(PLAINTEXT);
    expect(text).to.not.contain(Buffer.from(PLAINTEXT).toString('base64'));
  });

  // Server gap found on core 514a2c0 (src/api/action-route.ts): a denied request's record keeps
  // KeyId null even when the request named the key by its UUID, so `--key-id` never shows the
  // attempts on a key that were refused. Fails until the server records the key a denial names.
  it('a denied request is found by the key it named (--key-id)', async () => {
    const denied = await events(['--key-id', otherKeyId, '--principal', appId]);
    expect(denied.map((event) => [event.Action, event.Outcome])).to.deep.equal([['Encrypt', 'AccessDeniedException']]);
  });

  it('--since and --until select by time, relative or ISO 8601', async () => {
    expect(await events(['--principal', appId, '--since', '30m'])).to.have.length(3);
    expect(await events(['--principal', appId, '--until', '30m'])).to.deep.equal([]);
    const startedIso = new Date(started.getTime() - 1000).toISOString();
    expect(await events(['--principal', appId, '--since', startedIso, '--until', new Date(Date.now() + 60_000).toISOString()])).to.have.length(3);
    expect(await events(['--principal', appId, '--since', new Date(Date.now() + 3_600_000).toISOString()])).to.deep.equal([]);
  });

  it('refuses bad dates and options that do not go together with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--since', 'yesterday'], /--since expects an ISO 8601 time/],
      [['--until', '2026-02-30'], /--until expects an ISO 8601 time/],
      [['--since', '1h', '--until', '2h'], /--until is before --since/],
      [['--follow', '--limit', '5'], /--follow takes no --until and no --limit/],
      [['--follow', '--until', '1h'], /--follow takes no --until and no --limit/],
      [['--follow', '--output', 'table'], /--follow writes JSON lines/],
      [['--limit', '0'], /--limit must be at least 1/],
    ];
    for (const [args, message] of cases) {
      const result = await h.keyhold(['audit', 'list', ...args]);
      expect(result.code, args.join(' ')).to.equal(2);
      expect(result.stderr, args.join(' ')).to.match(message);
    }
  });

  it('pages through every record by default (more than one page of 1000), and --limit/--marker page by hand', async () => {
    const random = await credentialClient('random', { Statement: [{ Effect: 'Allow', Action: 'kms:GenerateRandom', Resource: '*' }] });
    const calls = 1100;
    try {
      for (let next = 0; next < calls; next += 10) await Promise.all(Array.from({ length: 10 }, () => random.generateRandom(1)));
    } finally {
      random.close();
    }
    const all = await h.json(['--output', 'json', 'audit', 'list', '--principal', random.accessKeyId]);
    expect(all.Events).to.have.length(calls);
    expect(all.Truncated).to.equal(false);
    const seqs = all.Events.map((event: AuditEvent) => event.Seq);
    expect(seqs.every((seq: number, i: number) => i === 0 || seq > seqs[i - 1])).to.equal(true);

    const first = await h.json(['--output', 'json', 'audit', 'list', '--principal', random.accessKeyId, '--limit', '5']);
    expect(first.Events.map((event: AuditEvent) => event.Seq)).to.deep.equal(seqs.slice(0, 5));
    expect(first.Truncated).to.equal(true);
    const rest = await h.json(['--output', 'json', 'audit', 'list', '--principal', random.accessKeyId, '--marker', first.NextMarker]);
    expect(rest.Events.map((event: AuditEvent) => event.Seq)).to.deep.equal(seqs.slice(5));

    const lines = (await h.keyhold(['--output', 'jsonl', 'audit', 'list', '--principal', random.accessKeyId, '--limit', '3'])).stdout.toString().trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line).Seq)).to.deep.equal(seqs.slice(0, 3));
    const table = (await h.keyhold(['--output', 'table', 'audit', 'list', '--principal', appId])).stdout.toString().split('\n');
    expect(table[0]).to.match(/^Time\s+Principal\s+Action\s+KeyId\s+Outcome\s+SourceIp$/);
    expect(table.filter((line) => line.includes('AccessDeniedException'))).to.have.length(1);
  });

  it('shows a batch whose items used several keys as how many items it lists in the table, and each item in JSON', async () => {
    await h.admin.batchEncrypt([
      { keyId: ordersKeyId, plaintext: Buffer.from(PLAINTEXT) },
      { keyId: otherKeyId, plaintext: Buffer.from(PLAINTEXT), encryptionContext: { row: '2' } },
    ]);
    const [batch] = await events(['--action', 'BatchEncrypt', '--key-id', otherKeyId]);
    expect(batch!.KeyId).to.equal(null);
    expect(batch!.Items).to.deep.equal([
      { KeyId: ordersKeyId, Outcome: 'Success' },
      { KeyId: otherKeyId, Outcome: 'Success', EncryptionContext: { row: '2' } },
    ]);
    const table = (await h.keyhold(['--output', 'table', 'audit', 'list', '--action', 'BatchEncrypt'])).stdout.toString().trimEnd().split('\n');
    expect(table.slice(2).map((line) => line.split(/\s{2,}/)[3])).to.deep.equal(['(2 items)']);
  });

  it('--verify marks every record of an intact trail verified, in JSON and in words in the table', async () => {
    const listed = await events(['--principal', appId, '--verify']);
    expect(listed.map((event) => event.Verified)).to.deep.equal([true, true, true]);
    expect((await events(['--principal', appId])).some((event) => 'Verified' in event)).to.equal(false);
    const table = (await h.keyhold(['--output', 'table', 'audit', 'list', '--principal', appId, '--verify'])).stdout.toString().trimEnd().split('\n');
    expect(table[0]).to.match(/^Time\s+Principal\s+Action\s+KeyId\s+Outcome\s+SourceIp\s+Verified$/);
    expect(table.slice(2).map((line) => line.split(/\s+/).pop())).to.deep.equal(['verified', 'verified', 'verified']);
  });

  /** `keyhold audit list --follow --principal <app>`, with its stdout lines as they come. */
  function follow(): { child: ReturnType<typeof spawnCli>; lines: string[]; stderr: () => string; exited: Promise<number | null> } {
    const child = spawnCli(['audit', 'list', '--follow', '--principal', appId], { cwd: h.cwd, env: { KEYHOLD_CREDENTIALS_FILE: path.join(h.cwd, 'data', 'admin.credentials') } });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.end();
    const exited = once(child, 'exit').then(([code]) => {
      capturedLog.push(stderr);
      return code as number | null;
    });
    return { child, lines, stderr: () => stderr, exited };
  }

  it('--follow prints a new record as a JSON line within seconds, and exits 0 on SIGINT', async () => {
    const follower = follow();
    try {
      await waitFor(() => follower.lines.length >= 3, 'the records so far');
      const probe = randomUUID();
      await app.encrypt({ keyId: 'alias/orders', plaintext: Buffer.from(PLAINTEXT), encryptionContext: { probe } });
      await waitFor(() => follower.lines.some((line) => line.includes(probe)), 'the new record');
      const record = JSON.parse(follower.lines.find((line) => line.includes(probe))!);
      expect(record).to.include({ Principal: appId, Action: 'Encrypt', Outcome: 'Success', KeyId: ordersKeyId });
      expect(follower.lines.every((line) => JSON.parse(line).Principal === appId)).to.equal(true);
    } finally {
      follower.child.kill('SIGINT');
    }
    expect(await follower.exited).to.equal(0);
    expect(follower.stderr()).to.equal('');
  });

  it('--follow exits 0 when its reader goes away (SIGPIPE)', async () => {
    const follower = follow();
    try {
      await waitFor(() => follower.lines.length >= 3, 'the records so far');
      follower.child.stdout.destroy();
      await app.encrypt({ keyId: 'alias/orders', plaintext: Buffer.from(PLAINTEXT), encryptionContext: { after: 'reader left' } });
      const code = await Promise.race([follower.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
      expect(code).to.equal(0);
      expect(follower.stderr()).to.equal('');
    } finally {
      follower.child.kill('SIGKILL');
    }
  });
});
