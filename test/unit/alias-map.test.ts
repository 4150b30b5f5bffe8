import { expect } from 'chai';
import { AliasMap } from '../../src/kms/alias-map.js';
import type { AliasRecord } from '../../src/store/records.js';

const alias = (aliasName: string, targetKeyId: string): AliasRecord => ({ aliasName, targetKeyId, creationDate: '2026-12-06T00:00:00.000Z', lastUpdatedDate: '2026-12-06T00:00:00.000Z' });

/** The names of each key's aliases, kept beside the map (what a restricted credential's policy reads per request). */
describe('AliasMap', () => {
  /** What namesOf must answer: a pass over every alias. */
  const scan = (map: AliasMap, keyId: string) => [...map.values()].filter((record) => record.targetKeyId === keyId).map((record) => record.aliasName).sort();

  it('answers the names of a key, sorted, from records given at construction', () => {
    const map = new AliasMap([['alias/b', alias('alias/b', 'k1')], ['alias/a', alias('alias/a', 'k1')], ['alias/c', alias('alias/c', 'k2')]]);
    expect(map.namesOf('k1')).to.deep.equal(['alias/a', 'alias/b']);
    expect(map.namesOf('k2')).to.deep.equal(['alias/c']);
    expect(map.namesOf('k3')).to.deep.equal([]);
    expect(Object.isFrozen(map.namesOf('k1'))).to.equal(true);
  });

  it('stays equal to a scan of every alias through creations, moves to another key and deletions, in any order', () => {
    const map = new AliasMap();
    const keys = ['k1', 'k2', 'k3'];
    let seed = 7;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 2_000; step++) {
      const name = `alias/${next(20)}`;
      if (next(4) === 0) map.delete(name);
      else map.set(name, alias(name, keys[next(3)]!));
      // Read the names now and then: the index is built, then kept up to date.
      if (step % 7 === 0) for (const keyId of keys) expect(map.namesOf(keyId), `step ${step}`).to.deep.equal(scan(map, keyId));
    }
    map.clear();
    expect(map.namesOf('k1')).to.deep.equal([]);
    map.set('alias/x', alias('alias/x', 'k1'));
    expect(map.namesOf('k1')).to.deep.equal(['alias/x']);
  });
});
