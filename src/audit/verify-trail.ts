import type { AuditEvent } from '../protocol/types.js';
import { verifyJournals } from './audit-journal.js';
import { decodeCheckedJson } from '../store/checked-json.js';
import { scanSublevel } from '../store/store-scan.js';
import type { Store } from '../store/store.js';
import {
  anchorMacMatches,
  auditRecordKey,
  CHAINED_PREFIX,
  deriveAuditKey,
  FIRST_PREV_MAC,
  headMac,
  macEqual,
  recordMacMatches,
  recordsOfEntry,
} from '../store/audit-record.js';

export interface TrailVerdict {
  /** Chained records read. */
  checked: number;
  /** Lines written before the trail was chained (not verifiable). */
  unchained: number;
  /** Records in the workers' audit journals not yet moved into the store (checked too; the server moves them when it starts). */
  journaled: number;
  /** On a store several nodes share: the other nodes whose journals hold records not yet moved, or may (checked by verify on those nodes). */
  otherNodes: string[];
  /** This data directory's node id, when its journals were checked and a server has started there. */
  node?: string;
  /** Undefined when intact: else the first break found, in words, naming the record. */
  problem?: string;
}

/**
 * Checks the whole audit trail offline (`keyhold admin audit verify`): every record's MAC
 * under the audit key, the numbers following on without gaps from the retention anchor (or
 * from 1), each record naming the MAC of the one before it, and the chain's head naming the
 * newest record. A record altered, removed, reordered or inserted, or records removed from
 * the end, break one of these; the first break is reported. Then the records the workers'
 * journals in `dataDir` hold beyond what was moved into the store, checked the same way (on a
 * store several nodes share, `shared`, this node's journals; the other nodes' are named).
 */
export async function verifyAuditTrail(store: Store, rootKey: Buffer, dataDir?: string, shared = false): Promise<TrailVerdict> {
  const auditKey = deriveAuditKey(rootKey);
  try {
    const verdict = await verifyStoredTrail(store, auditKey);
    if (verdict.problem !== undefined || dataDir === undefined) return { ...verdict, journaled: 0, otherNodes: [] };
    const journals = await verifyJournals(store, dataDir, auditKey, shared);
    return {
      ...verdict,
      journaled: journals.pending,
      otherNodes: journals.otherNodes,
      ...(journals.node === undefined ? {} : { node: journals.node }),
      ...(journals.problem === undefined ? {} : { problem: journals.problem }),
    };
  } finally {
    auditKey.fill(0);
  }
}

async function verifyStoredTrail(store: Store, auditKey: Buffer): Promise<Omit<TrailVerdict, 'journaled' | 'otherNodes'>> {
  const head = await store.getAuditHead();
  const anchor = await store.getAuditAnchor();
  if (head && !macEqual(head.HeadMac, headMac(auditKey, head))) return { checked: 0, unchained: 0, problem: "the chain's head was altered (its MAC does not match)" };
  if (anchor && !anchorMacMatches(auditKey, anchor)) {
    return { checked: 0, unchained: 0, problem: "the retention anchor was altered (its MAC does not match)" };
  }
  let expectedSeq = (anchor?.Seq ?? 0) + 1;
  let prevMac = anchor?.Mac ?? FIRST_PREV_MAC;
  const chain = head?.Chain ?? anchor?.Chain;
  let checked = 0;
  let unchained = 0;
  for await (const { key, value } of scanSublevel(store, 'audit')) {
    if (!key.startsWith(CHAINED_PREFIX)) {
      unchained++;
      continue;
    }
    const records = readEntry(key, value);
    if (typeof records === 'string') return { checked, unchained, problem: records };
    for (const [index, event] of records.entries()) {
      // An entry holds the records of one store write and is kept under its last record's number.
      const problem = checkRecord(auditKey, key, event, index === records.length - 1, { expectedSeq, prevMac, chain });
      if (problem) return { checked, unchained, problem };
      checked++;
      expectedSeq = event.Seq + 1;
      prevMac = event.Mac;
    }
  }
  const newest = expectedSeq - 1;
  if (head && (head.Seq !== newest || head.Mac !== prevMac)) {
    return head.Seq > newest
      ? { checked, unchained, problem: `records ${newest + 1} to ${head.Seq} were removed from the end (the chain's head names record ${head.Seq})` }
      : { checked, unchained, problem: `record ${newest} is past the chain's head (record ${head.Seq}): inserted at the end` };
  }
  if (!head && checked > 0) return { checked, unchained, problem: "the chain's head is missing" };
  return { checked, unchained };
}

/** The records of one stored entry, oldest first, or what is wrong with it. */
function readEntry(key: string, value: Buffer | undefined): AuditEvent[] | string {
  let decoded: unknown;
  try {
    decoded = decodeCheckedJson(value!.toString('utf8'));
  } catch {
    return `the record stored as ${key.slice(0, 40)} cannot be read (damaged or not JSON)`;
  }
  try {
    return recordsOfEntry(decoded);
  } catch {
    return `the record stored as ${key.slice(0, 40)} is not an audit record`;
  }
}

function checkRecord(
  auditKey: Buffer,
  key: string,
  event: AuditEvent,
  lastOfEntry: boolean,
  expected: { expectedSeq: number; prevMac: string; chain: string | undefined },
): string | undefined {
  const at = `record ${expected.expectedSeq}`;
  if (!recordMacMatches(auditKey, event)) return `${at} (stored as ${key.slice(0, 40)}) was altered or inserted: its MAC does not match`;
  if (lastOfEntry && key !== auditRecordKey(event.Seq)) return `${at}: record ${event.Seq} is stored in the place of another (${key.slice(0, 40)}): reordered`;
  if (expected.chain !== undefined && event.Chain !== expected.chain) return `${at}: record ${event.Seq} belongs to another chain (${event.Chain.slice(0, 40)})`;
  if (event.Seq > expected.expectedSeq) {
    const missing = event.Seq - 1 === expected.expectedSeq ? `record ${expected.expectedSeq} was` : `records ${expected.expectedSeq} to ${event.Seq - 1} were`;
    return `${missing} removed (the next record is ${event.Seq})`;
  }
  if (event.PrevMac !== expected.prevMac) return `${at}: it does not follow the record before it (PrevMac differs): removed, reordered or inserted records`;
  return undefined;
}
