import type { Store } from './store.js';

/** The sublevels of a Keyhold store (DESIGN.md), in the order a verifier walks them. */
export const SUBLEVEL_NAMES = ['meta', 'keys', 'versions', 'aliases', 'rotations', 'schedule', 'credentials', 'audit'] as const;
export type SublevelName = (typeof SUBLEVEL_NAMES)[number];

/** One stored entry, undecoded: a verifier must see a value that does not parse, not an exception. */
export interface RawEntry {
  key: string;
  value: Buffer;
}

/** Entries fetched per LevelDB call: enough to amortise the call, few enough to keep memory flat. */
const SCAN_BATCH = 256;

type RawIterator = {
  nextv(size: number): Promise<[string, Buffer][]>;
  close(): Promise<void>;
};
type RawSublevel = {
  iterator(options: { valueEncoding: 'buffer' }): RawIterator;
  get(key: string, options: { valueEncoding: 'buffer' }): Promise<Buffer | undefined>;
};

/**
 * Every entry of one sublevel in key order, undecoded, a batch at a time: memory stays flat
 * however many records there are.
 * @example for await (const { key, value } of scanSublevel(store, 'keys')) check(key, value);
 */
export async function* scanSublevel(store: Store, name: SublevelName): AsyncGenerator<RawEntry> {
  const iterator = (store[name] as unknown as RawSublevel).iterator({ valueEncoding: 'buffer' });
  try {
    for (;;) {
      const entries = await iterator.nextv(SCAN_BATCH);
      if (entries.length === 0) return;
      for (const [key, value] of entries) yield { key, value };
    }
  } finally {
    await iterator.close();
  }
}

/** One entry of a sublevel, undecoded; undefined when absent. */
export async function readRawEntry(store: Store, name: SublevelName, key: string): Promise<Buffer | undefined> {
  return (store[name] as unknown as RawSublevel).get(key, { valueEncoding: 'buffer' });
}

/** The KeyId and version of a `versions` or `rotations` key (`<KeyId>!<10 digits>`), or undefined. */
export function parseVersionRecordKey(key: string): { keyId: string; version: number } | undefined {
  const match = /^([^!]+)!(\d{10})$/.exec(key);
  return match ? { keyId: match[1]!, version: Number(match[2]) } : undefined;
}
