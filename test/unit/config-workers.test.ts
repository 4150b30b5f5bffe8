import os from 'node:os';
import { expect } from 'chai';
import { loadConfig, MAX_WORKERS } from '../../src/config.js';
import { StartupError } from '../../src/errors.js';

describe('loadConfig: KEYHOLD_WORKERS', () => {
  it('defaults to the number of cores', () => {
    expect(loadConfig({}).workers).to.equal(Math.min(os.availableParallelism(), MAX_WORKERS));
  });

  it('takes a whole number from 1 to 256', () => {
    expect(loadConfig({ KEYHOLD_WORKERS: '1' }).workers).to.equal(1);
    expect(loadConfig({ KEYHOLD_WORKERS: '256' }).workers).to.equal(256);
  });

  it('refuses 0, 257 and what is not a whole number, naming KEYHOLD_WORKERS', () => {
    for (const value of ['0', '257', 'two', '1.5', '-1']) {
      expect(() => loadConfig({ KEYHOLD_WORKERS: value }), value)
        .to.throw(StartupError)
        .with.property('message')
        .that.matches(/^KEYHOLD_WORKERS: (is at least 1|is at most 256|must be a whole number)$/);
    }
  });
});
