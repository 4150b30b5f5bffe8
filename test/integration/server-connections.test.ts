import path from 'node:path';
import type tls from 'node:tls';
import { expect } from 'chai';
import { adminSigner, connectTls, parseAnswer } from '../helpers/raw-https.js';
import { serverClient } from '../helpers/server-client.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, TEST_WORKERS, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'server connections test passphrase';
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** Header plus request timeout: how long a connection may stay silent both ways. */
const IDLE_TIMEOUT_MS = HEADERS_TIMEOUT_MS + REQUEST_TIMEOUT_MS;
/** The most a test waits for the server to act; a loaded 2-core machine is slow. */
const PATIENCE_MS = 20_000;

/** Watches a socket: what it received, and when (ms after the watch began) the server ended it. */
function watch(socket: tls.TLSSocket) {
  const started = performance.now();
  const state = { received: [] as Buffer[], closedAfterMs: undefined as number | undefined };
  socket.on('data', (chunk: Buffer) => state.received.push(chunk));
  socket.on('error', () => undefined); // a reset is one way the server ends it; 'close' follows
  socket.once('close', () => (state.closedAfterMs = performance.now() - started));
  return state;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves true once a TLS connection completes its handshake, false if the server drops it first. */
function handshakes(port: number): Promise<{ ok: boolean; socket?: tls.TLSSocket }> {
  return connectTls(port).then(
    (socket) => ({ ok: true, socket }),
    () => ({ ok: false }),
  );
}

describe(`the HTTPS server's connection limits, ${TEST_WORKERS} worker(s)`, function () {
  this.timeout(120_000);
  const dir = makeTempDir('keyhold-connections-');
  let server: ServerProcess | undefined;

  before(async () => {
    rememberSecret(PASSPHRASE);
    server = await startServerProcess(
      {
        KEYHOLD_DATA_DIR: path.join(dir.path, 'data'),
        KEYHOLD_PASSPHRASE: PASSPHRASE,
        KEYHOLD_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        KEYHOLD_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      },
      dir.path,
    );
  });

  after(async () => {
    await server?.stop();
    dir.remove();
  });

  it('cuts off a client that sends its headers slowly (slowloris) after KEYHOLD_HEADERS_TIMEOUT_MS', async () => {
    const socket = await connectTls(server!.port);
    const state = watch(socket);
    socket.write('POST /api/v1/kms/listkeys HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // One header line every 200 ms would keep node's default (60 s) waiting; bounded to the patience.
    for (let line = 0; line < PATIENCE_MS / 200 && state.closedAfterMs === undefined; line++) {
      socket.write(`X-Slow-${line}: still coming\r\n`);
      await pause(200);
    }
    socket.destroy();
    expect(state.closedAfterMs, 'the server ended the connection').to.be.a('number');
    expect(state.closedAfterMs!).to.be.below(PATIENCE_MS);
    const answer = Buffer.concat(state.received).toString('latin1');
    if (answer) expect(answer).to.match(/^HTTP\/1\.1 408 /);
    console.log(`      (slowloris connection ended after ${Math.round(state.closedAfterMs!)} ms; header timeout ${HEADERS_TIMEOUT_MS} ms)`);
  });

  it('destroys the connection of a client that stops reading an answer larger than the kernel holds, after the header plus request timeout', async () => {
    const client = serverClient(server!, path.join(dir.path, 'data'), 30_000);
    const created = await client.call('createkey');
    client.close();
    expect(created.status, JSON.stringify(created.body)).to.equal(200);
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    // 1,000 data keys of 1,024 bytes: an answer of about 3 MB, for a body of 60 KB. The kernel's
    // buffers on loopback can hold several of them, so the client asks for six at once.
    const body = Buffer.from(JSON.stringify({ Items: Array.from({ length: 1000 }, () => ({ KeyId: keyId, NumberOfBytes: 1024 })) }));
    const sign = adminSigner(path.join(dir.path, 'data'));
    const requests = Array.from({ length: 6 }, (_, index) => {
      const pathWithQuery = `/api/v1/kms/batchgeneratedatakey?nonce=${index}`;
      const signed = Object.entries(sign(pathWithQuery, body)).map(([name, value]) => `${name}: ${value}`);
      const head = [`POST ${pathWithQuery} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', ...signed, `Content-Length: ${body.length}`, '', ''];
      return Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), body]);
    });

    const socket = await connectTls(server!.port);
    socket.pause(); // never reads, until told below
    socket.write(Buffer.concat(requests));
    // Longer than the server may stay silent, with room for a loaded machine to make the answer.
    await pause(IDLE_TIMEOUT_MS + 8_000);
    const state = watch(socket);
    socket.resume();
    for (let wait = 0; wait < PATIENCE_MS / 50 && state.closedAfterMs === undefined; wait++) await pause(50);
    socket.destroy();

    // Walk the answers the client could still read: each a 200 whose body is as long as its head says.
    const received = Buffer.concat(state.received);
    let whole = 0;
    let offset = 0;
    for (;;) {
      const headEnd = received.indexOf('\r\n\r\n', offset);
      if (headEnd === -1) break;
      const head = received.subarray(offset, headEnd).toString('latin1');
      expect(head.slice(0, 12)).to.equal('HTTP/1.1 200');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
      expect(length, 'Content-Length').to.be.above(2_000_000);
      if (headEnd + 4 + length > received.length) break;
      whole++;
      offset = headEnd + 4 + length;
    }
    expect(state.closedAfterMs, 'the server ended the connection').to.be.a('number');
    expect(received.length, 'bytes the client could read: the server did answer').to.be.above(0);
    // Without the idle timeout all six answers waited for the client, however long it took.
    expect(whole, 'whole answers the client could read').to.be.below(requests.length);
    console.log(`      (the client could read ${whole} whole answers of ${requests.length}, ${received.length} bytes, once it resumed)`);
  });

  const bodies: [string, string[]][] = [
    ['a declared Content-Length over 64 KiB', ['Content-Length: 67108864']],
    ['a chunked body that grows past 64 KiB', ['Transfer-Encoding: chunked']],
  ];
  for (const [title, lengthHeaders] of bodies) {
    it(`closes the connection after answering 413 to ${title}, instead of reading the rest`, async () => {
      const socket = await connectTls(server!.port);
      const state = watch(socket);
      const chunked = lengthHeaders[0]!.startsWith('Transfer-Encoding');
      socket.write(['POST /api/v1/kms/encrypt HTTP/1.1', 'Host: 127.0.0.1', ...lengthHeaders, '', ''].join('\r\n'));
      const piece = Buffer.alloc(64 * 1024, 0x61);
      const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
      // Up to 64 MiB, as fast as the server takes it: before, the server read and dropped all of it.
      const deadline = performance.now() + PATIENCE_MS;
      let sent = 0;
      for (; sent < 1024 && state.closedAfterMs === undefined && performance.now() < deadline; sent++) {
        if (!socket.write(framed)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), pause(200)]);
      }
      for (let wait = 0; wait < PATIENCE_MS / 50 && state.closedAfterMs === undefined; wait++) await pause(50);
      socket.destroy();
      expect(state.closedAfterMs, 'the server ended the connection').to.be.a('number');
      expect(sent, 'pieces of 64 KiB sent before the connection ended').to.be.below(1024);
      const answer = parseAnswer(Buffer.concat(state.received));
      expect(answer.status).to.equal(413);
      expect(answer.body.__type).to.equal('RequestEntityTooLarge');
      expect(answer.headers.connection).to.equal('close');
      console.log(`      (${title}: closed after ${Math.round(state.closedAfterMs!)} ms, ${sent} × 64 KiB written)`);
    });
  }
});

/** Clients of the load test below, each on a keep-alive connection of its own, and how long they send. */
const CLIENTS = 24;
const LOAD_MS = 4_000;

describe('keep-alive connections that carry large answers under load, two HTTP workers', function () {
  this.timeout(120_000);
  const dir = makeTempDir('keyhold-large-answers-');
  let server: ServerProcess | undefined;

  before(async () => {
    rememberSecret(PASSPHRASE);
    // Two workers, as `npm start` runs: a worker's connections were the ones node 20 reset.
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(dir.path, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_WORKERS: '2' }, dir.path);
  });

  after(async () => {
    await server?.stop();
    dir.remove();
  });

  it('answers every batch of clients that send their next batch as soon as they have read an answer (node used to reset some: "Parse Error: Paused")', async () => {
    const client = serverClient(server!, path.join(dir.path, 'data'), 30_000, { keepAlive: true });
    try {
      const created = await client.call('createkey');
      expect(created.status, JSON.stringify(created.body)).to.equal(200);
      const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
      const batch = { Items: Array.from({ length: 100 }, () => ({ KeyId: keyId, Plaintext: Buffer.alloc(1024, 0x61).toString('base64') })) };
      const outcomes = new Map<string, number>();
      const until = performance.now() + LOAD_MS;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (performance.now() < until) {
            const answer = await client.call('batchencrypt', batch);
            const outcome = answer.error ?? String(answer.status);
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          }
        }),
      );
      console.log(`      (batches answered in ${LOAD_MS} ms: ${JSON.stringify(Object.fromEntries(outcomes))})`);
      expect([...outcomes.keys()]).to.deep.equal(['200']);
      // Enough batches that every client sent several on its connection.
      expect(outcomes.get('200')).to.be.at.least(CLIENTS * 3);
    } finally {
      client.close();
    }
  });
});

describe('the connection cap (KEYHOLD_MAX_CONNECTIONS), one serving process', function () {
  this.timeout(120_000);
  const dir = makeTempDir('keyhold-connection-cap-');
  let server: ServerProcess | undefined;
  const open: tls.TLSSocket[] = [];

  before(async () => {
    rememberSecret(PASSPHRASE);
    // One process: the cap holds per serving process, and with workers a connection may go to either.
    server = await startServerProcess(
      { KEYHOLD_DATA_DIR: path.join(dir.path, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE, KEYHOLD_MAX_CONNECTIONS: '2', KEYHOLD_WORKERS: '1' },
      dir.path,
    );
  });

  after(async () => {
    for (const socket of open) socket.destroy();
    await server?.stop();
    dir.remove();
  });

  it('refuses the third connection while two are open, and takes one again once one has closed', async () => {
    for (let index = 0; index < 2; index++) {
      const connected = await handshakes(server!.port);
      expect(connected.ok, `connection ${index + 1}`).to.equal(true);
      open.push(connected.socket!);
    }
    expect((await handshakes(server!.port)).ok, 'the third connection').to.equal(false);

    open.shift()!.destroy();
    // The server notices the close in its own time: try again, bounded.
    let again = { ok: false } as { ok: boolean; socket?: tls.TLSSocket };
    for (let attempt = 0; attempt < 100 && !again.ok; attempt++) {
      await pause(100);
      again = await handshakes(server!.port);
    }
    expect(again.ok, 'a connection after one closed').to.equal(true);
    open.push(again.socket!);
  });
});
