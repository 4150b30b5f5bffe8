import path from 'node:path';
import { expect } from 'chai';
import { adminSigner, rawRequest, type RawAnswer } from '../helpers/raw-https.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, TEST_WORKERS, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'wire requests test passphrase';

/**
 * Requests written byte by byte on a TLS socket to a real server process: what node:https and
 * the client would never send (repeated headers, bytes that are not UTF-8).
 */
describe(`requests on the wire (real HTTPS, raw requests), ${TEST_WORKERS} worker(s)`, function () {
  this.timeout(120_000);
  const dir = makeTempDir('keyhold-wire-');
  const dataDir = path.join(dir.path, 'data');
  let server: ServerProcess;
  let sign: ReturnType<typeof adminSigner>;

  before(async () => {
    rememberSecret(PASSPHRASE);
    server = await startServerProcess({ KEYHOLD_DATA_DIR: dataDir, KEYHOLD_PASSPHRASE: PASSPHRASE }, dir.path);
    sign = adminSigner(dataDir);
  });

  after(async () => {
    await server?.stop();
    dir.remove();
  });

  /** A signed action request, its signature headers first, then `extraHeaders` as written. */
  let nonce = 0;
  function send(action: string, body: Buffer, extraHeaders: string[] = []): Promise<RawAnswer> {
    // A nonce per request, as the Keyhold client sends: equal state-changing requests in one second are not replays.
    const pathWithQuery = `/api/v1/kms/${action}?nonce=${nonce++}`;
    const signed = Object.entries(sign(pathWithQuery, body)).map(([name, value]) => `${name}: ${value}`);
    const head = [`POST ${pathWithQuery} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', ...signed, ...extraHeaders];
    return rawRequest(server.port, head, body);
  }

  async function createKey(): Promise<string> {
    const answer = await send('createkey', Buffer.from('{}'));
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    return (answer.body.KeyMetadata as { KeyId: string }).KeyId;
  }

  describe('a signature header sent twice is refused as UnrecognizedClientException', () => {
    const body = Buffer.from('{"NumberOfBytes":8}');

    it('answers a correctly signed raw request (the control)', async () => {
      expect((await send('generaterandom', body)).status).to.equal(200);
    });

    const repeats: [string, string, (value: string) => string][] = [
      // node keeps only the first Authorization in req.headers: the second went unseen.
      ['Authorization', 'authorization', () => 'Authorization: KMS-HMAC-SHA256 Credential=someone-else, Signature=AAAA'],
      // node joins other repeated headers with ", ", which failed as a garbled value.
      ['X-Kms-Date', 'x-kms-date', (value) => `X-Kms-Date: ${value}`],
      ['X-Kms-Content-Sha256', 'x-kms-content-sha256', (value) => `X-Kms-Content-Sha256: ${value}`],
    ];
    for (const [name, lowerName, second] of repeats) {
      it(`two ${name} headers`, async () => {
        const first = sign('/api/v1/kms/generaterandom', body)[lowerName]!;
        const answer = await send('generaterandom', body, [second(first)]);
        expect(answer.status).to.equal(401);
        expect(answer.body).to.deep.equal({ __type: 'UnrecognizedClientException', message: `The ${name} header must appear once` });
      });
    }
  });

  describe('a body that is not valid UTF-8 is refused as ValidationException', () => {
    /** `{"KeyId":…,"EncryptionContext":{"k":"<valueBytes>"}…}` with the value's bytes as given. */
    function withContext(fields: Record<string, string>, valueBytes: Buffer): Buffer {
      const json = JSON.stringify({ ...fields, EncryptionContext: { k: 'VALUE' } });
      const [before, after] = json.split('VALUE') as [string, string];
      return Buffer.concat([Buffer.from(before), valueBytes, Buffer.from(after)]);
    }

    it('refuses a context with byte 0xFF, then one with 0xFE: the blob made under U+FFFD does not decrypt', async () => {
      const keyId = await createKey();
      const plaintext = Buffer.from('wire context test').toString('base64');
      const encrypt = await send('encrypt', withContext({ KeyId: keyId, Plaintext: plaintext }, Buffer.from([0xff])));
      expect(encrypt.status).to.equal(400);
      expect(encrypt.body).to.deep.equal({ __type: 'ValidationException', message: 'The request body is not valid UTF-8' });

      // U+FFFD is what node made of 0xFF and of 0xFE alike: a blob made under it decrypted with either.
      const replacement = Buffer.from('\ufffd', 'utf8');
      const made = await send('encrypt', withContext({ KeyId: keyId, Plaintext: plaintext }, replacement));
      expect(made.status, JSON.stringify(made.body)).to.equal(200);
      const blob = made.body.CiphertextBlob as string;
      const decrypt = await send('decrypt', withContext({ CiphertextBlob: blob }, Buffer.from([0xfe])));
      expect(decrypt.status).to.equal(400);
      expect(decrypt.body).to.deep.equal({ __type: 'ValidationException', message: 'The request body is not valid UTF-8' });
      expect((await send('decrypt', withContext({ CiphertextBlob: blob }, replacement))).status).to.equal(200);
    });

    it('a blob made under one context does not decrypt under another', async () => {
      const keyId = await createKey();
      const plaintext = Buffer.from('wire context test').toString('base64');
      const made = await send('encrypt', withContext({ KeyId: keyId, Plaintext: plaintext }, Buffer.from('\u00ff', 'utf8')));
      expect(made.status, JSON.stringify(made.body)).to.equal(200);
      const other = await send('decrypt', withContext({ CiphertextBlob: made.body.CiphertextBlob as string }, Buffer.from('\u00fe', 'utf8')));
      expect(other.status).to.equal(400);
      expect(other.body.__type).to.equal('InvalidCiphertextException');
    });
  });

  it('refuses a duplicate key in EncryptionContext and a Kelvin-sign KeyId as ValidationException', async () => {
    const keyId = await createKey();
    const duplicate = `{"KeyId":"${keyId}","Plaintext":"aGk=","EncryptionContext":{"k":"a","k":"b"}}`;
    const answer = await send('encrypt', Buffer.from(duplicate));
    expect(answer.status).to.equal(400);
    expect(answer.body).to.deep.equal({ __type: 'ValidationException', message: 'The request body names a key twice in one object' });
    const kelvin = await send('encrypt', Buffer.from(JSON.stringify({ '\u212AeyId': keyId, Plaintext: 'aGk=' })));
    expect(kelvin.status).to.equal(400);
    expect(kelvin.body).to.deep.equal({ __type: 'ValidationException', message: 'Field names must be ASCII' });
  });
});
