/**
 * The measurements of the process that owns the store: how long its operations take, and how
 * many keys it holds in each state (counted when scraped).
 */
import { Gauge, type Registry } from 'prom-client';
import type { KeyState } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';

/** The store operations timed: every read a worker may forward, the writes, and the replay claims. */
const TIMED_OPERATIONS = [
  'getKey', 'getVersion', 'getKeyWithVersion', 'listKeys', 'listAliases', 'listRotations', 'dueWork', 'listCredentials', 'getCredentialLastUsed', 'write', 'claimRequest',
] as const satisfies readonly (keyof Store)[];

const KEY_STATES: readonly KeyState[] = ['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport'];
/**
 * Keys are counted a page at a time, at most once a minute however often Prometheus asks (a
 * count reads every key record: about a second of the primary's time at a million keys), and a
 * scrape waits at most KEY_COUNT_WAIT_MS for a count (a store that does not answer leaves the
 * last counts, and the count goes on for the next scrape).
 */
const KEY_COUNT_PAGE = 1_000;
const KEY_COUNT_MAX_AGE_MS = 60_000;
const KEY_COUNT_WAIT_MS = 2_000;

/**
 * Times the store's operations into `metrics` (keyhold_store_operation_duration_seconds): each
 * timed method of this store object is replaced by one that measures and calls the original,
 * so every holder of the store is measured without knowing it.
 */
export function timeStoreOperations(store: Store, metrics: Metrics): void {
  if (!metrics.enabled) return;
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const operation of TIMED_OPERATIONS) {
    const original = methods[operation]!.bind(store);
    methods[operation] = (...args) => {
      const started = performance.now();
      return original(...args).finally(() => metrics.storeOperation(operation, started));
    };
  }
}

/**
 * keyhold_keys{state}, and keyhold_workers_listening when `workersListening` is given: gauges
 * read when scraped. The key counts page through the store, so they are kept for a minute.
 */
export function registerStoreGauges(registry: Registry, store: Store, workersListening?: () => number): void {
  let counted: { at: number; counts: Map<KeyState, number> } | undefined;
  // One count at a time, shared by the scrapes that arrive while it runs.
  let counting: Promise<Map<KeyState, number>> | undefined;
  const freshCounts = (): Promise<Map<KeyState, number> | undefined> => {
    if (counted && performance.now() - counted.at < KEY_COUNT_MAX_AGE_MS) return Promise.resolve(counted.counts);
    counting ??= countKeys().finally(() => (counting = undefined));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), KEY_COUNT_WAIT_MS);
    });
    // A store that cannot be read (closed, reopening) or is slow leaves the last counts.
    return Promise.race([counting.catch(() => undefined), late]).then((counts) => {
      clearTimeout(timer);
      return counts ?? counted?.counts;
    });
  };
  const countKeys = async (): Promise<Map<KeyState, number>> => {
    const counts = new Map<KeyState, number>(KEY_STATES.map((state) => [state, 0]));
    let after: string | undefined;
    for (;;) {
      const page = await store.listKeys(after, KEY_COUNT_PAGE);
      for (const record of page) counts.set(record.keyState, (counts.get(record.keyState) ?? 0) + 1);
      if (page.length < KEY_COUNT_PAGE) break;
      after = page[page.length - 1]!.keyId;
    }
    counted = { at: performance.now(), counts };
    return counts;
  };
  new Gauge({
    name: 'keyhold_keys',
    help: 'Keys in the store, by state (counted at most once a minute).',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await freshCounts();
      for (const [state, count] of counts ?? []) this.labels(state).set(count);
    },
  });
  if (workersListening === undefined) return;
  new Gauge({
    name: 'keyhold_workers_listening',
    help: 'HTTP workers that listen now (KEYHOLD_WORKERS when all do).',
    registers: [registry],
    collect() {
      this.set(workersListening());
    },
  });
}
