import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { CommitSeal, SEAL_FILE } from '../../src/store/commit-seal.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('the commit seal', () => {
  let dir: ReturnType<typeof makeTempDir>;
  beforeEach(() => (dir = makeTempDir()));
  afterEach(() => dir.remove());

  it('reads back what it was advanced to, after being closed', async () => {
    const created = CommitSeal.create(dir.path);
    expect(created.commit).to.equal(0);
    const seal = await CommitSeal.open(dir.path, created);
    await Promise.all([seal.advance(3), seal.advance(1), seal.advance(7), seal.advance(5)]);
    expect(seal.commit).to.equal(7);
    await seal.close();
    expect(CommitSeal.read(dir.path)).to.deep.equal({ storeId: created.storeId, commit: 7 });
  });

  it('is created once: a second create fails and leaves the first', () => {
    const first = CommitSeal.create(dir.path);
    expect(() => CommitSeal.create(dir.path)).to.throw(/exists already/);
    expect(CommitSeal.read(dir.path)?.storeId).to.equal(first.storeId);
  });

  it('falls back to the other slot when the newest one is torn', async () => {
    const seal = await CommitSeal.open(dir.path, CommitSeal.create(dir.path));
    await seal.advance(1); // slot 0
    await seal.advance(2); // slot 1
    await seal.close();
    const file = path.join(dir.path, SEAL_FILE);
    const bytes = readFileSync(file);
    bytes[512 + 20]! ^= 0x01; // a bit of slot 1's commit number
    writeFileSync(file, bytes);
    expect(CommitSeal.read(dir.path)?.commit).to.equal(1);
  });

  it('refuses a seal with no valid slot', () => {
    CommitSeal.create(dir.path);
    writeFileSync(path.join(dir.path, SEAL_FILE), Buffer.alloc(1024, 0x41));
    expect(() => CommitSeal.read(dir.path)).to.throw(/damaged/);
  });

  it('is absent, not an error, in a directory without one', () => {
    expect(CommitSeal.read(dir.path)).to.equal(undefined);
  });
});
