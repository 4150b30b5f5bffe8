import { expect } from 'chai';
import fc from 'fast-check';
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

  it('evicts, answers and reports exactly as a plain least-recently-used list does, over any sequence of uses', () => {
    // The reference: an array in use order, least recent first; the cache skips moving its newest entry.
    const key = fc.constantFrom('a', 'b', 'c', 'd');
    const operation = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key, value: fc.integer({ min: 0, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteWhere' as const), key }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(operation, { maxLength: 60 }), (capacity, operations) => {
        const { cache, evicted } = recordingCache<number>(capacity);
        const order: Array<[string, number]> = [];
        const expectedEvicted: Array<[string, number]> = [];
        const take = (key: string) => order.splice(order.findIndex(([k]) => k === key), 1)[0]!;
        for (const op of operations) {
          const at = order.findIndex(([k]) => k === op.key);
          if (op.kind === 'get') {
            const expected = at < 0 ? undefined : order[at]![1];
            if (at >= 0) order.push(take(op.key));
            expect(cache.get(op.key)).to.equal(expected);
          } else if (op.kind === 'set') {
            if (at >= 0) {
              const [, old] = take(op.key);
              if (old !== op.value) expectedEvicted.push([op.key, old]);
            }
            order.push([op.key, op.value]);
            while (order.length > capacity) expectedEvicted.push(order.shift()!);
            cache.set(op.key, op.value);
          } else if (op.kind === 'delete') {
            if (at >= 0) expectedEvicted.push(take(op.key));
            expect(cache.delete(op.key)).to.equal(at >= 0);
          } else {
            for (const entry of order.filter(([k]) => k <= op.key)) expectedEvicted.push(take(entry[0]));
            cache.deleteWhere((key) => key <= op.key);
          }
          expect(evicted).to.deep.equal(expectedEvicted);
          expect(cache.size).to.equal(order.length);
        }
      }),
      {
        numRuns: 2000,
        // A read of the newest entry after another was written must still move it.
        examples: [[2, [{ kind: 'set', key: 'a', value: 1 }, { kind: 'get', key: 'a' }, { kind: 'set', key: 'b', value: 2 }, { kind: 'get', key: 'a' }, { kind: 'set', key: 'c', value: 3 }]]],
      },
    );
  });
});
