import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { writeFileDurably } from '../../src/durable-file.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('writeFileDurably', () => {
  let dir: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => dir.remove());

  it('writes the whole file with mode 0600 and leaves no temp file behind', () => {
    const file = path.join(dir.path, 'secret');
    expect(writeFileDurably(file, 'contents')).to.equal(true);
    expect(readFileSync(file, 'utf8')).to.equal('contents');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir.path)).to.deep.equal(['secret']);
  });

  it('replaces an existing file, which does not keep its looser mode', () => {
    const file = path.join(dir.path, 'out');
    writeFileSync(file, 'old', { mode: 0o666 });
    writeFileDurably(file, Buffer.from('new'));
    expect(readFileSync(file, 'utf8')).to.equal('new');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
  });

  it('with exclusive, keeps an existing file and says so (the first writer wins)', () => {
    const file = path.join(dir.path, 'dev-passphrase');
    expect(writeFileDurably(file, 'first', { exclusive: true })).to.equal(true);
    expect(writeFileDurably(file, 'second', { exclusive: true })).to.equal(false);
    expect(readFileSync(file, 'utf8')).to.equal('first');
    expect(readdirSync(dir.path)).to.deep.equal(['dev-passphrase']);
  });
});
