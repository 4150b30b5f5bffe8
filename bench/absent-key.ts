/**
 * Issue 13: what a read that finds nothing costs now that it checks the tables that would hold
 * the key (LevelDbStore.getKey -> checkTablesHolding), against a read that finds its key, on a store of
 * 100,000 key records in a temp dir.
 *
 *   node --import tsx bench/absent-key.ts
 */
import { randomUUID } from 'node:crypto';
import { LevelDbStore } from '../src/store/leveldb-store.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { sampleKeyRecord } from '../test/helpers/temp-store.js';
const dir = makeTempDir();
const store = await LevelDbStore.open(dir.path);
for (let start = 0; start < 100_000; start += 1000) {
  const batch = store.batch();
  for (let i = 0; i < 1000; i++) batch.putKey(sampleKeyRecord());
  await store.write(batch);
}
await store.compact();
const existing = (await store.listKeys(undefined, 1000)).map((r) => r.keyId);
for (const [label, ids] of [['present', existing], ['absent, first 1000', null], ['absent, next 1000', null], ['absent, again', null]] as const) {
  const list = ids ?? Array.from({ length: 1000 }, () => randomUUID());
  const t = process.hrtime.bigint();
  for (const id of list) await store.getKey(id);
  console.log(label, (Number(process.hrtime.bigint() - t) / 1e3 / list.length).toFixed(1), 'µs per getKey');
}
await store.close();
dir.remove();
