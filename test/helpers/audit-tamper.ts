import type { AuditEvent } from '../../src/protocol/types.js';
import { auditRecordKey } from '../../src/store/audit-record.js';
import type { AuditRecord } from '../../src/store/records.js';
import type { LevelDbStore } from '../../src/store/leveldb-store.js';

/**
 * Alters (or, when `alter` gives nothing, removes) one chained audit record where it is stored,
 * as someone with write access to the data directory (and no audit key) could: inside the
 * stored entry that holds it (an entry is the records of one store write, kept under the last
 * one's number), the rest of the entry kept.
 */
export async function alterStoredAuditRecord(store: LevelDbStore, seq: number, alter: (record: AuditEvent) => AuditEvent | undefined): Promise<void> {
  for await (const [key, value] of store.audit.iterator({ gte: auditRecordKey(seq), limit: 1 })) {
    const records = (Array.isArray(value) ? value : [value]) as unknown as AuditEvent[];
    const index = records.findIndex((record) => record.Seq === seq);
    if (index < 0) throw new Error(`no stored entry holds audit record ${seq}`);
    const altered = alter(records[index]!);
    if (altered) records[index] = altered;
    else records.splice(index, 1);
    if (records.length === 0) await store.audit.del(key);
    else await store.audit.put(key, (records.length === 1 ? records[0] : records) as unknown as AuditRecord);
    return;
  }
  throw new Error(`no stored entry holds audit record ${seq}`);
}
