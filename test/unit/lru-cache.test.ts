import { expect } from 'chai';
import { LruCache } from '../../src/store/lru-cache.js';

/** A cache that records every value that leaves it, in order. */
function recordingCache<V>(capacity: number) {
  const evicted: Array<[string, V]> = [];
  const cache = new LruCache<string, V>(capacity, (value, key) => evicted.push([key, value]));
  return { cache, evicted };
}

describe('LruCache', () => {
  it('refuses a capacity below 1 or not an integer', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) {
      expect(() => new LruCache(capacity), String(capacity)).to.throw(RangeError, 'capacity must be a positive integer');
    }
    expect(new LruCache(1).capacity).to.equal(1);
  });

  it('holds at most `capacity` entries, evicting the least recently used first', () => {
    const { cache, evicted } = recordingCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);

    expect(cache.size).to.equal(2);
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.get('b')).to.equal(2);
    expect(cache.get('c')).to.equal(3);
    expect(evicted).to.deep.equal([['a', 1]]);
  });

  it('counts a get as a use, so a recently read entry outlives an older write', () => {
    const { cache, evicted } = recordingCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).to.equal(1);
    cache.set('c', 3);

    expect(evicted).to.deep.equal([['b', 2]]);
    expect(cache.get('a')).to.equal(1);
    expect(cache.get('b')).to.equal(undefined);
  });

  it('counts replacing a value as a use', () => {
    const { cache, evicted } = recordingCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('a', 10);
    cache.set('c', 3);

    expect(evicted).to.deep.equal([
      ['a', 1],
      ['b', 2],
    ]);
    expect(cache.get('a')).to.equal(10);
  });

  it('runs onEvict for the old value when a key is set to a new value', () => {
    const { cache, evicted } = recordingCache<string>(4);
    cache.set('k', 'old');
    cache.set('k', 'new');

    expect(evicted).to.deep.equal([['k', 'old']]);
    expect(cache.get('k')).to.equal('new');
    expect(cache.size).to.equal(1);
  });

  it('does not run onEvict when a key is set again to the very same value, which is still in use', () => {
    const { cache, evicted } = recordingCache<Buffer>(4);
    const key = Buffer.alloc(32, 0xaa);
    cache.set('k', key);
    cache.set('k', key);

    expect(evicted).to.deep.equal([]);
    expect(key.equals(Buffer.alloc(32, 0xaa))).to.equal(true);
  });

  it('runs onEvict on delete and reports whether the key was there', () => {
    const { cache, evicted } = recordingCache<number>(4);
    cache.set('a', 1);

    expect(cache.delete('a')).to.equal(true);
    expect(cache.delete('a')).to.equal(false);
    expect(evicted).to.deep.equal([['a', 1]]);
    expect(cache.size).to.equal(0);
  });

  it('runs onEvict on every entry deleteWhere matches, and only on those', () => {
    const { cache, evicted } = recordingCache<number>(8);
    cache.set('key1!1', 1);
    cache.set('key2!1', 2);
    cache.set('key1!2', 3);
    cache.deleteWhere((key) => key.startsWith('key1!'));

    expect(evicted).to.deep.equal([
      ['key1!1', 1],
      ['key1!2', 3],
    ]);
    expect(cache.size).to.equal(1);
    expect(cache.get('key2!1')).to.equal(2);
  });

  it('runs onEvict on every entry when cleared', () => {
    const { cache, evicted } = recordingCache<number>(8);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.clear();

    expect(evicted).to.have.deep.members([
      ['a', 1],
      ['b', 2],
    ]);
    expect(cache.size).to.equal(0);
    expect(cache.get('a')).to.equal(undefined);
  });

  it('lets onEvict zero key material as it leaves the cache', () => {
    const cache = new LruCache<string, Buffer>(1, (key) => key.fill(0));
    const first = Buffer.alloc(32, 0x11);
    const second = Buffer.alloc(32, 0x22);
    cache.set('first', first);
    cache.set('second', second);

    expect(first.equals(Buffer.alloc(32))).to.equal(true);
    expect(second.equals(Buffer.alloc(32, 0x22))).to.equal(true);
    cache.delete('second');
    expect(second.equals(Buffer.alloc(32))).to.equal(true);
  });

  it('works without an onEvict callback', () => {
    const cache = new LruCache<string, number>(1);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.deleteWhere(() => true);
    cache.clear();
    expect(cache.size).to.equal(0);
  });
});
