import { Writable } from 'node:stream';
import { expect } from 'chai';
import fc from 'fast-check';
import { createLogger, flatInfoLogger, type FlatLine } from '../../src/runtime/logger.js';

function capturing(level = 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

const withoutTime = (line: string) => {
  const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return rest;
};

describe('flatInfoLogger', () => {
  it('writes a flat line exactly as logger.info does, redacted names included', async () => {
    const { logger, lines } = capturing();
    const logLine = flatInfoLogger(logger);
    const names = fc.constantFrom('requestId', 'path', 'pin', 'Plaintext', 'SecretKey', 'passphrase', 'authorization', 'status', 'plaintext');
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined));
    await fc.assert(
      fc.asyncProperty(fc.dictionary(names, scalar), async (line) => {
        lines.length = 0;
        logLine(line as FlatLine, 'request');
        logger.info(line, 'request');
        await new Promise((resolve) => setImmediate(resolve));
        expect(lines).to.have.length(2);
        expect(withoutTime(lines[0]!)).to.deep.equal(withoutTime(lines[1]!));
      }),
      { numRuns: 200 },
    );
  });

  it('applies every redaction path to a line that holds an object after all', async () => {
    const { logger, lines } = capturing();
    flatInfoLogger(logger)({ requestId: 'r', body: { Plaintext: 'secret' } } as unknown as FlatLine, 'request');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.join('')).to.contain('"Plaintext":"[redacted]"').and.not.contain('secret');
  });

  it("follows the logger's level, also when it changes later", async () => {
    const { logger, lines } = capturing('warn');
    const logLine = flatInfoLogger(logger);
    logLine({ requestId: 'a' }, 'request');
    logger.level = 'info';
    logLine({ requestId: 'b' }, 'request');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => JSON.parse(line).requestId)).to.deep.equal(['b']);
  });
});

describe('createLogger in pretty form (KEYHOLD_LOG_FORMAT=pretty)', () => {
  function prettyCapturing() {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { logger: createLogger('info', sink, 'pretty'), lines };
  }

  it('writes lines for people: level word and message first, fields below, no JSON object per line', () => {
    const { logger, lines } = prettyCapturing();
    logger.info({ url: 'https://127.0.0.1:8443', requestId: 'r-1' }, 'keyhold is listening');
    const text = lines.join('');
    expect(text).to.match(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{4}\] INFO: keyhold is listening\n/);
    expect(text).to.contain('url: "https://127.0.0.1:8443"').and.contain('requestId: "r-1"');
    expect(() => JSON.parse(lines[0]!)).to.throw();
  });

  it('keeps every redaction: the pretty printer only ever sees lines pino has redacted', () => {
    const { logger, lines } = prettyCapturing();
    const secrets = ['plain-secret-1', 'secret-key-2', 'passphrase-3', 'pin-4', 'Bearer token-5'];
    logger.info({ Plaintext: secrets[0], body: { SecretKey: secrets[1] }, passphrase: secrets[2], pin: secrets[3], req: { headers: { authorization: secrets[4] } } }, 'request');
    flatInfoLogger(logger)({ requestId: 'r', Plaintext: secrets[0], pin: secrets[3] }, 'request');
    logger.child({ worker: 1 }).warn({ headers: { authorization: secrets[4] } }, 'child line');
    const text = lines.join('');
    expect(text.match(/\[redacted\]/g)).to.have.length(8);
    for (const secret of secrets) expect(text).not.to.contain(secret);
  });
});
