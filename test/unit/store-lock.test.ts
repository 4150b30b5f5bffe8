import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Level } from 'level';
import { isStoreLockHeld } from '../../src/store/store-lock.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('isStoreLockHeld', () => {
  it('says whether LevelDB holds the lock on a store directory, without opening it', async function () {
    if (!existsSync('/proc/locks')) {
      if (process.env.CI === 'true') throw new Error('/proc/locks is needed on CI');
      this.skip(); // not Linux: the check answers undefined there
    }
    const dir = makeTempDir();
    const location = path.join(dir.path, 'store');
    const db = new Level(location);
    try {
      await db.open();
      expect(isStoreLockHeld(location)).to.equal(true);
      await db.close();
      expect(isStoreLockHeld(location)).to.equal(false);
    } finally {
      await db.close();
      dir.remove();
    }
  });

  it('answers undefined for a directory without a LOCK file', () => {
    const dir = makeTempDir();
    try {
      expect(isStoreLockHeld(dir.path)).to.equal(undefined);
    } finally {
      dir.remove();
    }
  });
});
