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
