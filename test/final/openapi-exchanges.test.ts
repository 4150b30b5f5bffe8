import { expect } from 'chai';
import { openApiDocument } from '../../src/api/openapi/document.js';
import { readVerdicts, type RecordedVerdict } from '../helpers/exchange-recorder.js';

// Runs last (see .mocharc.json): by now every server of the run has checked what it answered.
// OPENAPI_EXCHANGES_SUMMARY=1 prints how many exchanges of each operation and status were checked.
describe('every request and answer the test run exchanged, against docs/openapi.json', () => {
  let verdicts: RecordedVerdict[] = [];
  before(() => {
    verdicts = readVerdicts();
    if (process.env.OPENAPI_EXCHANGES_SUMMARY) {
      const byOperation = new Map<string, number>();
      for (const verdict of verdicts) byOperation.set(`${verdict.operation} ${verdict.status}`, (byOperation.get(`${verdict.operation} ${verdict.status}`) ?? 0) + 1);
      console.log([...byOperation].sort().map(([key, n]) => `${n}\t${key}`).join('\n'));
    }
  });

  it('were checked on every door, in process and in the server processes (so the check below is not vacuous)', () => {
    const count = (pattern: RegExp) => verdicts.filter((verdict) => pattern.test(verdict.operation)).length;
    expect(count(/^POST \/api\/v1\/kms\//), 'native prefix').to.be.greaterThan(500);
    expect(count(/^POST \/api\/v1\/go-kms\//), 'go-kms prefix').to.be.greaterThan(5);
    expect(count(/^POST \/#X-Amz-Target=/), 'AWS door').to.be.greaterThan(50);
    expect(count(/^GET \/(healthz|readyz)$/), 'probes').to.be.greaterThan(0);
    expect(new Set(verdicts.map((verdict) => verdict.pid)).size, 'processes').to.be.greaterThan(10);
  });

  it('exercised every action of the native API, most of them to a success', () => {
    const paths = Object.keys((openApiDocument() as { paths: object }).paths).filter((path) => path.startsWith('/api/v1/kms/'));
    const exchanged = new Set(verdicts.map((verdict) => verdict.operation));
    expect(paths.filter((path) => !exchanged.has(`POST ${path}`)), 'never exchanged').to.deep.equal([]);
    const succeeded = new Set(verdicts.filter((verdict) => verdict.status < 300 && verdict.operation.startsWith('POST /api/v1/kms/')).map((verdict) => verdict.operation));
    expect(succeeded.size).to.be.greaterThan(paths.length - 5);
  });

  it('conform: every answer is what the description says for its status, every accepted request one it allows', () => {
    const failures = verdicts.filter((verdict) => verdict.problems.length > 0);
    const distinct = [...new Set(failures.map((verdict) => `${verdict.operation} → ${verdict.status}: ${verdict.problems.join('; ')}`))];
    expect(distinct, `${failures.length} of ${verdicts.length} exchanges do not conform`).to.deep.equal([]);
  });
});
