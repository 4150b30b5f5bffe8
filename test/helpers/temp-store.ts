import { Store } from '../../src/store/store.js';
import { makeTempDir } from './temp-dir.js';

/** A real LevelDB store in a fresh temp dir (the caller closes it and removes the dir). */
export async function openTempStore(): Promise<{ dir: ReturnType<typeof makeTempDir>; store: Store }> {
  const dir = makeTempDir();
  return { dir, store: await Store.open(dir.path) };
}
