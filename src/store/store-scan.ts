import type { SublevelName } from './records.js';
import type { Store, StoredEntry } from './store.js';

export { SUBLEVEL_NAMES, type SublevelName } from './records.js';

/** One stored entry, undecoded: a verifier must see a value that does not parse, not an exception. */
export type RawEntry = StoredEntry;

/**
 * Every entry of one kind of record in key order, undecoded, a batch at a time: memory stays
 * flat however many records there are.
 * @example for await (const { key, value } of scanSublevel(store, 'keys')) check(key, value);
 */
export function scanSublevel(store: Store, name: SublevelName): AsyncGenerator<RawEntry> {
  return store.scanRecords(name);
}

/** One entry of a kind of record, undecoded; undefined when absent. */
export function readRawEntry(store: Store, name: SublevelName, key: string): Promise<Buffer | undefined> {
  return store.readStoredEntry(name, key);
}

/** The KeyId and version of a `versions` or `rotations` key (`<KeyId>!<10 digits>`), or undefined. */
export function parseVersionRecordKey(key: string): { keyId: string; version: number } | undefined {
  const match = /^([^!]+)!(\d{10})$/.exec(key);
  return match ? { keyId: match[1]!, version: Number(match[2]) } : undefined;
}
