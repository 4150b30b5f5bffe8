import type { KeyholdConfig } from '../config.js';
import { LevelDbStore } from '../store/leveldb-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { Store } from '../store/store.js';

/**
 * The store the configuration names: the PostgreSQL database of KEYHOLD_STORE_URL (which
 * several nodes may share), else LevelDB in KEYHOLD_DATA_DIR. `reseal` applies to LevelDB only
 * (its commit seal); a database keeps its own durability.
 */
export function openConfiguredStore(config: Pick<KeyholdConfig, 'dataDir' | 'storeUrl'>, options: { reseal?: boolean } = {}): Promise<Store> {
  if (config.storeUrl !== undefined) return PostgresStore.open({ url: config.storeUrl, dataDir: config.dataDir });
  return LevelDbStore.open(config.dataDir, options);
}
