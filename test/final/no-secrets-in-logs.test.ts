import { expect } from 'chai';
import { capturedLog } from '../helpers/log-capture.js';
import { usedSecrets } from '../helpers/secrets.js';

// Runs last (see .mocharc.json): by now every server of the run has written its log.
describe('the captured log of the whole test run', () => {
  it('holds the access log lines of the run (so the search below is not vacuous)', () => {
    const requests = capturedLog.filter((line) => line.includes('"msg":"request"'));
    expect(requests.length).to.be.greaterThan(100);
    expect(usedSecrets.size).to.be.greaterThan(10);
  });

  it('contains none of the plaintexts, passphrases, data keys and credential secrets the tests used', () => {
    const log = capturedLog.join('');
    const leaked = [...usedSecrets].filter((secret) => log.includes(secret));
    expect(leaked, 'secrets found in the log').to.deep.equal([]);
  });
});
