/**
 * Issue 13: what verifying a store costs at start and in `keyhold admin verify-store`.
 * Builds (once) a store of COUNT keys as the million-key bench does, then times
 * verifyLevelDbFiles and verifyStoreRecords on it and prints size, times and peak RSS.
 *
 *   node --import tsx bench/verify-store.ts /tmp/keyhold-verify-bench 1000000
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { loadConfig } from '../src/config.js';
import { unwrapRootKeyRecord } from '../src/kms/root-key.js';
import { describeCounts, verifyStoreRecords } from '../src/kms/verify-store.js';
import { createMasterKeyProvider } from '../src/providers/master-keys/index.js';
import { verifyLevelDbFiles } from '../src/store/leveldb-files.js';
import { LevelDbStore } from '../src/store/leveldb-store.js';
import { loadKeys } from './million-keys.js';
import { cleanEnv } from './processes.js';

const MASTER = { KEYHOLD_PASSPHRASE: 'bench passphrase, not a secret' };

function seconds(start: bigint): string {
  return (Number(process.hrtime.bigint() - start) / 1e9).toFixed(2);
}

const [dataDir = '/tmp/keyhold-verify-bench', countText = '1000000'] = process.argv.slice(2);
const count = Number(countText);
const location = path.join(dataDir, 'store');
if (!existsSync(location)) {
  const start = process.hrtime.bigint();
  await loadKeys(dataDir, MASTER, count, 1);
  console.log(`built ${count} keys in ${seconds(start)} s`);
}
const onDisk = readdirSync(location).reduce((sum, name) => sum + statSync(path.join(location, name)).size, 0);
console.log(`store: ${(onDisk / 1e6).toFixed(1)} MB in ${readdirSync(location).length} files`);

let start = process.hrtime.bigint();
const files = await verifyLevelDbFiles(location);
console.log(`verifyLevelDbFiles: ${files.files} files, ${(files.bytes / 1e6).toFixed(1)} MB, ${files.problems.length} problems, ${seconds(start)} s`);

// What a start pays: LevelDB's open alone, then LevelDbStore.open (the file check, LevelDB's open and
// the seal check), each on a closed store.
start = process.hrtime.bigint();
const bare = new Level(location);
await bare.open({ createIfMissing: false });
await bare.close();
console.log(`LevelDB open alone: ${seconds(start)} s`);
start = process.hrtime.bigint();
await (await LevelDbStore.open(dataDir)).close();
console.log(`LevelDbStore.open (file check, open, seal check): ${seconds(start)} s`);

const store = await LevelDbStore.open(dataDir);
const provider = createMasterKeyProvider(loadConfig(cleanEnv({ ...MASTER, KEYHOLD_DATA_DIR: dataDir })), () => {});
try {
  const rootKey = await unwrapRootKeyRecord((await store.getRootKeyRecord())!, provider);
  start = process.hrtime.bigint();
  const records = await verifyStoreRecords(store, rootKey);
  console.log(`verifyStoreRecords: ${describeCounts(records.counts)}, ${records.problemCount} problems, ${seconds(start)} s`);
  rootKey.fill(0);
} finally {
  await store.close();
  await provider.close();
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
