/**
 * CPU per audit record written by the store's owner (the cluster primary's share of every
 * request since the audit trail): `node --import tsx bench/audit-write.ts [records]`.
 * Writes records the way the API does (AuditTrail.record, unsynced), N at a time per turn of
 * the event loop, into a real store in a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { LevelDbStore } from '../src/store/leveldb-store.js';
import { AuditTrail } from '../src/audit/audit-trail.js';
import type { AuditEntry } from '../src/store/audit-record.js';

const total = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(path.join(tmpdir(), 'keyhold-audit-bench-'));
const store = await LevelDbStore.open(dir);
await store.useAuditKey(randomBytes(32));
const trail = new AuditTrail(store);
const keyId = randomUUID();

function entry(): AuditEntry {
  return {
    Time: new Date().toISOString(),
    RequestId: randomUUID(),
    Principal: 'KHAAAAAAAAAAAAAAAAAA',
    SourceIp: '127.0.0.1',
    Action: 'Encrypt',
    KeyId: keyId,
    Outcome: 'Success',
    EncryptionContext: { table: 'orders' },
  };
}

console.log('| records per turn | records | wall µs/record | CPU µs/record |');
console.log('| ---: | ---: | ---: | ---: |');
for (const perTurn of (process.env.PER_TURN ?? "1,4,16,64").split(",").map(Number)) {
  const rounds = Math.max(1, Math.floor(total / perTurn / (perTurn === 1 ? 4 : 1)));
  // warm-up
  for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: perTurn }, () => trail.record(entry())));
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await Promise.all(Array.from({ length: perTurn }, () => trail.record(entry())));
  const wall = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const n = rounds * perTurn;
  console.log(`| ${perTurn} | ${n} | ${(wall / n).toFixed(1)} | ${((used.user + used.system) / n).toFixed(1)} |`);
}
await store.close();
rmSync(dir, { recursive: true, force: true });
