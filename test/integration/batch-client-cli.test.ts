import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { KeyholdApiError, KeyholdClient } from '../../src/client/index.js';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'batch client and command line test passphrase';

function secret(text: string): Buffer {
  rememberSecret(text);
  return Buffer.from(text);
}

/** The client's batch methods against a real server of two workers (whose records reach the store through the primary). */
describe('KeyholdClient batch methods, against a real server', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let temp: ReturnType<typeof makeTempDir>;
  let kms: KeyholdClient;
  let keyA: string;
  let disabled: string;

  before(async () => {
    rememberSecret(PASSPHRASE);
    temp = makeTempDir('keyhold-batch-');
    const dataDir = path.join(temp.path, 'data');
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2' }, temp.path);
    kms = KeyholdClient.fromCredentialsFile(path.join(dataDir, 'admin.credentials'));
    keyA = (await kms.createKey()).KeyId;
    disabled = (await kms.createKey()).KeyId;
    await kms.disableKey(disabled);
  });
  after(async () => {
    kms?.close();
    await server?.stop();
    temp?.remove();
  });

  it('answers each item with its result or its own typed error, in order', async () => {
    const plaintexts = [0, 1, 2, 3].map((i) => secret(`client batch ${i} ${randomUUID()}`));
    const encrypted = await kms.batchEncrypt([
      { keyId: keyA, plaintext: plaintexts[0]!, encryptionContext: { row: '0' } },
      { keyId: randomUUID(), plaintext: plaintexts[1]! },
      { keyId: disabled, plaintext: plaintexts[2]! },
      { keyId: keyA, plaintext: plaintexts[3]! },
    ]);
    expect(encrypted.map((outcome) => (outcome.ok ? 'ok' : outcome.error.type))).to.deep.equal(['ok', 'NotFoundException', 'DisabledException', 'ok']);
    const failed = encrypted[1]!;
    if (failed.ok) throw new Error('item 1 should have failed');
    expect(failed.error).to.be.instanceOf(KeyholdApiError);

    const blobs = encrypted.flatMap((outcome) => (outcome.ok ? [outcome.result.ciphertextBlob] : []));
    const decrypted = await kms.batchDecrypt([
      { ciphertextBlob: blobs[0]!, encryptionContext: { row: '0' } },
      { ciphertextBlob: blobs[1]!, encryptionContext: { row: 'wrong' } },
      { ciphertextBlob: blobs[1]! },
    ]);
    expect(decrypted.map((outcome) => (outcome.ok ? outcome.result.plaintext.toString() : outcome.error.type))).to.deep.equal([
      plaintexts[0]!.toString(),
      'InvalidCiphertextException',
      plaintexts[3]!.toString(),
    ]);

    const keyB = (await kms.createKey()).KeyId;
    const moved = await kms.batchReEncrypt([{ ciphertextBlob: blobs[1]!, destinationKeyId: keyB }]);
    if (!moved[0]!.ok) throw moved[0]!.error;
    expect(moved[0]!.result).to.include({ keyId: keyB, sourceKeyId: keyA });
    // sourceKeyId reaches the server: a blob of keyA named as keyB's is refused, one by one and in a batch.
    const wrongSource = { ciphertextBlob: blobs[1]!, sourceKeyId: keyB, destinationKeyId: keyB };
    const refused = await kms.batchReEncrypt([wrongSource, { ...wrongSource, sourceKeyId: keyA }]);
    expect(refused.map((outcome) => (outcome.ok ? 'ok' : outcome.error.type))).to.deep.equal(['IncorrectKeyException', 'ok']);
    const single = await kms.reEncrypt(wrongSource).then(() => 'ok', (err: KeyholdApiError) => err.type);
    expect(single).to.equal('IncorrectKeyException');
    const dataKeys = await kms.batchGenerateDataKey([{ keyId: keyB, keySpec: 'AES_128' }, { keyId: disabled, keySpec: 'AES_256' }]);
    if (!dataKeys[0]!.ok) throw dataKeys[0]!.error;
    expect(dataKeys[0]!.result.plaintext).to.have.length(16);
    expect(dataKeys[1]!.ok ? 'ok' : dataKeys[1]!.error.type).to.equal('DisabledException');

    // The request's one record lists each item's key and outcome; the worker's record went to the store through the primary.
    const events = (await kms.listAuditEvents({ keyId: disabled, action: 'BatchEncrypt' })).events;
    expect(events).to.have.length(1);
    expect(events[0]!.Items?.find((item) => item.KeyId === disabled)).to.deep.equal({ KeyId: disabled, Outcome: 'DisabledException' });
  });

  it('takes 1,000 items; rejects the request as a whole for 0 or 1,001', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ keyId: keyA, plaintext: Buffer.from(`row ${i}`) }));
    const outcomes = await kms.batchEncrypt(items);
    expect(outcomes.filter((outcome) => outcome.ok)).to.have.length(1000);
    for (const count of [0, 1001]) {
      const refused = await kms.batchEncrypt(Array.from({ length: count }, () => items[0]!)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused, `${count} items`).to.be.instanceOf(KeyholdApiError);
      expect(refused).to.include({ type: 'ValidationException', status: 400 });
    }
  });
});

describe('keyhold encrypt --batch and decrypt --batch', function () {
  this.timeout(180_000);
  let h: CliServer;
  let keyId: string;

  before(async () => {
    h = await startCliServer(PASSPHRASE);
    keyId = (await h.admin.createKey()).KeyId;
  });
  after(async () => h?.close());

  it('writes one JSON answer per line in order, and exits 1 naming the lines that failed', async () => {
    const plaintexts = [0, 1, 2].map((i) => secret(`cli batch ${i} ${randomUUID()}`).toString('base64'));
    const lines = [
      JSON.stringify({ KeyId: keyId, Plaintext: plaintexts[0], EncryptionContext: { line: '1' } }),
      JSON.stringify({ KeyId: randomUUID(), Plaintext: plaintexts[1] }),
      '',
      'not json',
      JSON.stringify({ KeyId: keyId, Plaintext: plaintexts[2] }),
    ];
    writeFileSync(path.join(h.cwd, 'rows.jsonl'), `${lines.join('\n')}\n`);
    const run = await h.keyhold(['encrypt', '--batch', 'rows.jsonl']);
    expect(run.code, run.stderr).to.equal(1);
    expect(run.stderr.trim()).to.equal('Error: BatchItemsFailed: 2 of 4 items failed (lines 2, 4)');
    const answers = run.stdout.toString().trim().split('\n').map((line) => JSON.parse(line));
    expect(answers).to.have.length(4);
    expect(answers[0]).to.include({ KeyId: keyId });
    expect(answers[1].Error.__type).to.equal('NotFoundException');
    expect(answers[2].Error).to.deep.equal({ __type: 'ValidationException', message: 'Line 4 is not JSON' });
    expect(answers[3]).to.include({ KeyId: keyId });

    const blobs = [
      JSON.stringify({ CiphertextBlob: answers[0].CiphertextBlob, EncryptionContext: { line: '1' } }),
      JSON.stringify({ CiphertextBlob: answers[3].CiphertextBlob }),
    ];
    const decrypted = await h.keyhold(['decrypt', '--batch', '-'], { input: `${blobs.join('\n')}\n` });
    expect(decrypted.code, decrypted.stderr).to.equal(0);
    const opened = decrypted.stdout.toString().trim().split('\n').map((line) => JSON.parse(line).Plaintext);
    expect(opened).to.deep.equal([plaintexts[0], plaintexts[2]]);
  });

  it('sends more than 1,000 lines in several requests, keeping their order', async () => {
    const rows = Array.from({ length: 1500 }, (_, i) => JSON.stringify({ KeyId: keyId, Plaintext: Buffer.from(`row ${i}`).toString('base64') }));
    writeFileSync(path.join(h.cwd, 'many.jsonl'), rows.join('\n'));
    const run = await h.keyhold(['encrypt', '--batch', 'many.jsonl']);
    expect(run.code, run.stderr).to.equal(0);
    const blobs = run.stdout.toString().trim().split('\n').map((line) => JSON.stringify({ CiphertextBlob: JSON.parse(line).CiphertextBlob }));
    expect(blobs).to.have.length(1500);
    const back = await h.keyhold(['decrypt', '--batch', '-'], { input: blobs.join('\n') });
    expect(back.code, back.stderr).to.equal(0);
    const texts = back.stdout.toString().trim().split('\n').map((line) => Buffer.from(JSON.parse(line).Plaintext, 'base64').toString());
    expect(texts[0]).to.equal('row 0');
    expect(texts[1499]).to.equal('row 1499');
    expect(texts.every((text, i) => text === `row ${i}`)).to.equal(true);
  });

  it('refuses the single request options with --batch, and still needs --key-id without it', async () => {
    const mixed = await h.keyhold(['encrypt', '--batch', 'rows.jsonl', '--key-id', keyId]);
    expect(mixed.code).to.equal(2);
    expect(mixed.stderr).to.match(/^Error: UsageError: --batch takes each request from its file: leave out --key-id/);
    const alone = await h.keyhold(['encrypt', '--plaintext', 'no key id']);
    expect(alone.code).to.equal(2);
    expect(alone.stderr).to.match(/^Error: UsageError: required option '--key-id <key>' not specified/);
  });
});
