/**
 * One lock per key: read-modify-write changes of the same key run one after another,
 * changes of different keys run concurrently.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(keyId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(keyId) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(keyId, tail);
    // Forget the key once nothing is queued behind this change, so the map stays small.
    void tail.then(() => {
      if (this.tails.get(keyId) === tail) this.tails.delete(keyId);
    });
    return result;
  }
}
