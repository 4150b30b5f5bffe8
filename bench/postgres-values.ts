/**
 * The database's CPU per audit record as the store writes them, by how the values travel and how
 * PostgreSQL compresses them: `node --import tsx bench/postgres-values.ts [records per write] [writes]`.
 * Each write is one transaction that inserts a primary's move of journal records (grouped into
 * entries of up to 64 KiB by the store's own auditEntries) into a table shaped like
 * keyhold_audit, on a throwaway PostgreSQL (test/helpers/postgres.ts). CPU is summed over the
 * postmaster and its children (/proc), so it is the database's alone.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { auditEntries } from '../src/store/audit-record.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { processTree, readTreeCpuSeconds } from './processes.js';

const perWrite = Number(process.argv[2] ?? 1_000);
const writes = Number(process.argv[3] ?? 150);

/** A chained record's text, as a journal's move stores it (random request ids and MACs, so compression gets no more than it would). */
function recordText(seq: number): string {
  return JSON.stringify({ Action: 'Encrypt', Chain: 'c0ffee', EncryptionContext: { table: 'orders' }, KeyId: randomUUID(), Outcome: 'Success', PrevMac: randomBytes(32).toString('hex'), Principal: 'KHAAAAAAAAAAAAAAAAAA', RequestId: randomUUID(), Seq: seq, SourceIp: '127.0.0.1', Time: new Date().toISOString(), Mac: randomBytes(32).toString('hex') });
}

/** One write's entries, grouped as the store groups chained records (at most AUDIT_ENTRY_BYTES of text each). */
function entries(firstSeq: number): Buffer[] {
  const records = Array.from({ length: perWrite }, (_, index) => ({ seq: firstSeq + index, mac: '', text: recordText(firstSeq + index) }));
  return auditEntries(records).map((entry) => Buffer.from(entry.text));
}

type Insert = (client: pg.Client, keys: string[], values: Buffer[]) => Promise<unknown>;
const INSERTS: Record<string, Insert> = {
  // Before: node-postgres writes an array of Buffers as an array literal of hex text.
  'bytea[] (hex text)': (client, keys, values) => client.query({ name: 'array', text: 'INSERT INTO t (key, value) SELECT * FROM unnest($1::text[], $2::bytea[])', values: [keys, values] }),
  // Now: one Buffer parameter (sent as binary), cut by offsets and lengths.
  'one binary bytea': (client, keys, values) => {
    const offsets: number[] = [];
    let offset = 0;
    for (const value of values) {
      offsets.push(offset);
      offset += value.length;
    }
    return client.query({ name: 'packed', text: 'INSERT INTO t (key, value) SELECT e.key, substring($2::bytea FROM e.start + 1 FOR e.length) FROM unnest($1::text[], $3::integer[], $4::integer[]) AS e (key, start, length)', values: [keys, Buffer.concat(values), offsets, values.map((value) => value.length)] });
  },
};

const postgres = await startPostgres();
const client = new pg.Client({ connectionString: postgres.url });
await client.connect();
try {
  console.log(`| values sent as | compression | database CPU µs per record | stored MB |`);
  console.log(`| --- | --- | ---: | ---: |`);
  for (let round = 0; round < 2; round++) {
    for (const [sent, insert] of Object.entries(INSERTS)) {
      for (const compression of ['pglz', 'lz4']) {
        await client.query('DROP TABLE IF EXISTS t');
        await client.query('CREATE TABLE t (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)');
        await client.query(`SET default_toast_compression = '${compression}'`);
        const pids = processTree(postgres.pid());
        const before = readTreeCpuSeconds(...pids);
        for (let write = 0; write < writes; write++) {
          const values = entries(write * perWrite + 1);
          await client.query('BEGIN');
          await insert(client, values.map((_, index) => `${String(write).padStart(8, '0')}-${index}`), values);
          await client.query('COMMIT');
        }
        const after = readTreeCpuSeconds(...pids);
        const cpu = ((after.user + after.system - before.user - before.system) * 1e6) / (perWrite * writes);
        const size = Number((await client.query("SELECT pg_total_relation_size('t') AS size")).rows[0].size);
        console.log(`| ${sent} | ${compression} | ${cpu.toFixed(1)} | ${(size / 1e6).toFixed(1)} |`);
      }
    }
  }
} finally {
  await client.end();
  postgres.remove();
}
