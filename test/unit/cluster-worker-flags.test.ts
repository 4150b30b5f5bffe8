import { expect } from 'chai';
import { workerExecArgv } from '../../src/cluster/worker-process.js';

describe('the node flags of a cluster worker (src/cluster/worker-process.ts)', () => {
  it("are the primary's, with the young generation capped", () => {
    expect(workerExecArgv([], undefined)).to.deep.equal(['--max-semi-space-size=4']);
    expect(workerExecArgv(['--enable-source-maps'], '--no-warnings')).to.deep.equal(['--enable-source-maps', '--max-semi-space-size=4']);
  });

  it("leave the young generation alone when the operator sized it, in the primary's flags or NODE_OPTIONS", () => {
    expect(workerExecArgv(['--max-semi-space-size=64'], undefined)).to.deep.equal(['--max-semi-space-size=64']);
    expect(workerExecArgv(['--max_semi_space_size=32'], undefined)).to.deep.equal(['--max_semi_space_size=32']);
    expect(workerExecArgv([], '--no-warnings  --max-semi-space-size=16')).to.deep.equal([]);
  });
});
