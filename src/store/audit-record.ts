/**
 * The audit trail's records and their chain (docs/design.md, "Principals, policies and the audit
 * trail"): each record carries the HMAC-SHA256 of its canonical JSON under the audit key,
 * and the HMAC of the record before it in the same chain, so that a record cannot be
 * altered, removed, reordered or inserted without the key. The store numbers and MACs each
 * record as it writes the batch that holds it, so the chain lives here, below src/audit (which
 * lists, retains and verifies the trail).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { AuditEvent } from '../protocol/types.js';
import { DamagedValueError } from './checked-json.js';

/** The fields the writer of a record fills in; the chain adds the rest when it is written. */
export type AuditEntry = Omit<AuditEvent, 'Chain' | 'Seq' | 'PrevMac' | 'Mac' | 'Verified'>;

/**
 * A record of a worker's audit journal, as the text its writer's chain made (and the mover
 * checked under the audit key): chained again by the store by editing that text.
 */
export interface JournalRecordText {
  journalText: string;
  /** `recordTextParts(journalText)`, when the mover found them while checking the record (then they are not looked for again). */
  parts?: RecordTextParts;
}

/** Where a chain stands: its newest record, MACed so that it cannot be moved back by hand. */
export interface AuditHead {
  Chain: string;
  Seq: number;
  Mac: string;
  HeadMac: string;
}

/** The last record removed by retention: the first kept record must follow it. */
export interface AuditAnchor {
  Chain: string;
  Seq: number;
  Mac: string;
  /** Records older than this were removed. */
  Before: string;
  AnchorMac: string;
}

/** Where a worker's audit journal has been read to: its offset, and the number and MAC of the last record before it. */
export interface JournalPosition {
  Offset: number;
  Seq: number;
  Mac: string;
}

/**
 * What the store keeps of a worker's audit journal (src/audit/audit-journal.ts), written with
 * the records moved from it: how far they were moved, and Done once the last were and the
 * journal's writer had exited (its file is removed next). StateMac, under the audit key,
 * keeps it from being moved by hand.
 */
export interface AuditJournalState extends JournalPosition {
  Done?: true;
  StateMac: string;
}

export const FIRST_PREV_MAC = '0'.repeat(64);
/**
 * Chained records live in the `audit` sublevel, the records of one store write together under
 * `c!<Seq of the last as 16 digits>` (auditEntryText); older, unchained lines sort before.
 */
export const CHAINED_PREFIX = 'c!';
export const AUDIT_HEAD_KEY = 'audit-head';
export const AUDIT_ANCHOR_KEY = 'audit-anchor';
/** Meta records `audit-journal!<journal id>`: an AuditJournalState. */
export const AUDIT_JOURNAL_PREFIX = 'audit-journal!';

export function auditRecordKey(seq: number): string {
  return `${CHAINED_PREFIX}${String(seq).padStart(16, '0')}`;
}

/** The audit key: HKDF-SHA256(root key, empty salt, `keyhold/v1/audit`, 32 bytes). */
export function deriveAuditKey(rootKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'keyhold/v1/audit', 32));
}

/** JSON with object keys sorted at every depth and no spaces: the bytes a MAC covers. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const fields = Object.keys(object)
      .filter((name) => object[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * An entry holds records up to this much text; a record longer than that has an entry of its
 * own. It keeps a backup's line (an entry in base64, at most 1 MiB), a page of the trail and a
 * read of the newest entry under the chain's lock small.
 */
export const AUDIT_ENTRY_BYTES = 64 * 1024;

/**
 * The entries one store write keeps for the records it chained, in order, each under the key of
 * its last record (`auditRecordKey(last.seq)`): one record as itself, several as a JSON array
 * of them in order, up to AUDIT_ENTRY_BYTES of text each. Few entries per write instead of one
 * per record is what makes a record cheap for the store (one key, one CRC, one B-tree entry or
 * row for a group commit's records); each record keeps its own MAC and place in the chain.
 */
export function auditEntries(records: readonly ChainedRecord[]): Array<{ key: string; text: string }> {
  const entries: Array<{ key: string; text: string }> = [];
  let group: ChainedRecord[] = [];
  let length = 0;
  const close = () => {
    if (group.length === 0) return;
    const text = group.length === 1 ? group[0]!.text : `[${group.map((record) => record.text).join(',')}]`;
    entries.push({ key: auditRecordKey(group.at(-1)!.seq), text });
    group = [];
    length = 0;
  };
  for (const record of records) {
    if (group.length > 0 && length + record.text.length + 1 > AUDIT_ENTRY_BYTES) close();
    group.push(record);
    length += record.text.length + 1;
  }
  close();
  return entries;
}

/**
 * The records of one stored audit entry (as decoded JSON), oldest first.
 *
 * @throws DamagedValueError the entry is not a record or a non-empty list of records
 */
export function recordsOfEntry(value: unknown): AuditEvent[] {
  const records = (Array.isArray(value) ? value : [value]) as unknown[];
  /* Precondition: what the store wrote (verify names the entry; a reader answers 503). */
  if (records.length === 0 || !records.every(isChainedRecord)) throw new DamagedValueError();
  return records as AuditEvent[];
}

function isChainedRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as AuditEvent).Seq === 'number' && typeof (value as AuditEvent).Mac === 'string';
}

/** Entries read at a time when records are wanted: at most 64 × AUDIT_ENTRY_BYTES in memory. */
const ENTRIES_PER_READ = 64;

/**
 * Up to `limit` records numbered after `afterSeq`, oldest first, from a store's entries read in
 * key order a few at a time (`read(afterSeq, count)`: up to `count` entries holding records
 * after `afterSeq`, each as its records). An entry's key is its last record's number, so the
 * first entry read may start at or before `afterSeq`.
 */
export async function recordsAfter(read: (afterSeq: number, count: number) => Promise<AuditEvent[][]>, afterSeq: number, limit: number): Promise<AuditEvent[]> {
  const records: AuditEvent[] = [];
  let after = afterSeq;
  while (records.length < limit) {
    const entries = await read(after, Math.min(ENTRIES_PER_READ, limit));
    for (const entry of entries) {
      for (const record of entry) {
        if (record.Seq <= afterSeq) continue;
        if (records.length === limit) return records;
        records.push(record);
      }
      after = entry.at(-1)!.Seq;
    }
    if (entries.length < Math.min(ENTRIES_PER_READ, limit)) break;
  }
  return records;
}

/** A record as the chain made it: its number, its MAC and the JSON text stored for it. */
export interface ChainedRecord {
  seq: number;
  mac: string;
  text: string;
}

const ENTRY_FIELDS = new Set(['Time', 'RequestId', 'Principal', 'SourceIp', 'Action', 'KeyId', 'Outcome', 'EncryptionContext', 'Items', 'Detail']);

/**
 * `canonicalJson` of the record without its Mac, written field by field in sorted order, and
 * where the Mac goes in it; undefined for an entry of an unexpected shape, which takes the
 * generic path. Either way the text is exactly what `recordMac` (and `keyhold admin audit
 * verify`) compute.
 */
function coveredText(entry: AuditEntry, chain: string, seq: number, prevMac: string): [string, number] | undefined {
  if (!hasEntryShape(entry)) return undefined;
  const head =
    `{"Action":${JSON.stringify(entry.Action)},"Chain":${JSON.stringify(chain)}` +
    (entry.Detail === undefined ? '' : `,"Detail":${canonicalJson(entry.Detail)}`) +
    (entry.EncryptionContext === undefined ? '' : `,"EncryptionContext":${canonicalJson(entry.EncryptionContext)}`) +
    (entry.Items === undefined ? '' : `,"Items":${canonicalJson(entry.Items)}`) +
    `,"KeyId":${JSON.stringify(entry.KeyId)},`;
  const tail =
    `"Outcome":${JSON.stringify(entry.Outcome)},"PrevMac":${JSON.stringify(prevMac)},"Principal":${JSON.stringify(entry.Principal)}` +
    `,"RequestId":${JSON.stringify(entry.RequestId)},"Seq":${seq},"SourceIp":${JSON.stringify(entry.SourceIp)},"Time":${JSON.stringify(entry.Time)}}`;
  return [head + tail, head.length];
}

function hasEntryShape(entry: AuditEntry): boolean {
  let fields = 0;
  for (const name in entry) {
    if (!ENTRY_FIELDS.has(name)) return false;
    fields++;
  }
  const optional = (entry.Detail === undefined ? 0 : 1) + (entry.EncryptionContext === undefined ? 0 : 1) + (entry.Items === undefined ? 0 : 1);
  return (
    fields === 7 + optional &&
    typeof entry.Action === 'string' &&
    typeof entry.Outcome === 'string' &&
    typeof entry.Principal === 'string' &&
    typeof entry.Time === 'string' &&
    (entry.KeyId === null || typeof entry.KeyId === 'string') &&
    (entry.RequestId === null || typeof entry.RequestId === 'string') &&
    (entry.SourceIp === null || typeof entry.SourceIp === 'string')
  );
}

const JSON_STRING = '"(?:[^"\\\\]|\\\\.)*"';
/** A record's text up to its Chain's value: Action is a string, so the first `","Chain":"` is the member. */
const RECORD_HEAD = new RegExp(`^\\{"Action":${JSON_STRING},"Chain":"([^"\\\\]*)",`);
/**
 * A record's covered text from where its Mac member was to the end: Outcome, then only strings,
 * null and a number. Matched there, it proves the Mac member stood just before the record's own
 * Outcome (not moved into a context or a string by someone editing a journal).
 */
const RECORD_TAIL = new RegExp(`^"Outcome":${JSON_STRING},"PrevMac":"([0-9a-f]{64})","Principal":${JSON_STRING},"RequestId":(?:null|${JSON_STRING}),"Seq":(\\d{1,15}),"SourceIp":(?:null|${JSON_STRING}),"Time":${JSON_STRING}\\}$`);

/** What `recordTextParts` finds in a record's text. */
export interface RecordTextParts {
  covered: string;
  atMac: number;
  mac: string;
  chain: string;
  chainAt: number;
  prevMac: string;
  prevMacAt: number;
  seq: number;
  seqAt: number;
  seqLength: number;
}

/**
 * The parts of a record's text that its chain gave it, found without parsing the record: the
 * text without its Mac member (what the MAC covers), where the Mac member was, and Chain,
 * PrevMac and Seq with where each is in the covered text. Undefined for a text of another
 * shape (then the record is parsed). The text must be one that `AuditChain.append` made: a
 * canonical record has its Mac right after KeyId and only strings and numbers after it, so the
 * last `,"Mac":"` is the member whatever an encryption context holds.
 */
export function recordTextParts(text: string): RecordTextParts | undefined {
  const at = text.lastIndexOf(',"Mac":"');
  if (at < 0 || text.slice(at + 72, at + 74) !== '",') return undefined;
  const mac = text.slice(at + 8, at + 72);
  const covered = text.slice(0, at + 1) + text.slice(at + 74);
  const head = RECORD_HEAD.exec(covered);
  if (!head || head[0].length > at + 1) return undefined;
  const tail = RECORD_TAIL.exec(covered.slice(at + 1));
  if (!tail) return undefined;
  // Only strings (whose quotes are escaped), null and a number follow the Mac's place: these are the members.
  const prevMacAt = covered.lastIndexOf(',"PrevMac":"') + 12;
  const seqAt = covered.lastIndexOf(',"Seq":') + 7;
  return { covered, atMac: at + 1, mac, chain: head[1]!, chainAt: head[0].length - head[1]!.length - 2, prevMac: tail[1]!, prevMacAt, seq: Number(tail[2]), seqAt, seqLength: tail[2]!.length };
}

export function recordMac(auditKey: Buffer, record: Omit<AuditEvent, 'Mac'> | AuditEvent): string {
  const { Mac: _mac, ...covered } = record as AuditEvent;
  return createHmac('sha256', auditKey).update(canonicalJson(covered), 'utf8').digest('hex');
}

/** Whether a MAC read from the store (of any type: it may be damaged) is the expected one; in constant time. */
export function macEqual(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string' || presented.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(expected));
}

/** Whether a stored record's Mac is the HMAC of the rest of it under the audit key: it was not altered. */
export function recordMacMatches(auditKey: Buffer, record: AuditEvent): boolean {
  return macEqual(record.Mac, recordMac(auditKey, record));
}

/** Whether the retention anchor's AnchorMac is right under the audit key: it was not altered. */
export function anchorMacMatches(auditKey: Buffer, anchor: AuditAnchor): boolean {
  return macEqual(anchor.AnchorMac, anchorMac(auditKey, anchor));
}

export function headMac(auditKey: Buffer, head: Omit<AuditHead, 'HeadMac'>): string {
  return createHmac('sha256', auditKey).update(`keyhold/audit-head\n${head.Chain}\n${head.Seq}\n${head.Mac}`, 'utf8').digest('hex');
}

export function anchorMac(auditKey: Buffer, anchor: Omit<AuditAnchor, 'AnchorMac'>): string {
  return createHmac('sha256', auditKey)
    .update(`keyhold/audit-anchor\n${anchor.Chain}\n${anchor.Seq}\n${anchor.Mac}\n${anchor.Before}`, 'utf8')
    .digest('hex');
}

/**
 * The chain of the one process that writes the store: gives each entry its number and MACs,
 * in the order the store writes them. `mark`/`rollback` undo what a failed write numbered.
 */
export class AuditChain {
  private seq: number;
  private mac: string;

  constructor(
    private readonly auditKey: Buffer,
    readonly chain: string,
    head: { Seq: number; Mac: string } | undefined,
  ) {
    this.seq = head?.Seq ?? 0;
    this.mac = head?.Mac ?? FIRST_PREV_MAC;
  }

  /**
   * Numbers and MACs the next record. Returns its stored text: the record's canonical JSON
   * with its Mac, made in one pass (the chain's hot path: one record per request).
   */
  append(entry: AuditEntry | JournalRecordText): ChainedRecord {
    if ('journalText' in entry) return this.appendJournalText(entry.journalText, entry.parts);
    const seq = this.seq + 1;
    const fast = coveredText(entry, this.chain, seq, this.mac);
    let mac: string;
    let text: string;
    if (fast) {
      const [covered, atMac] = fast;
      mac = createHmac('sha256', this.auditKey).update(covered, 'utf8').digest('hex');
      // The Mac sorts after KeyId and before Outcome: inserted there, the text stays canonical.
      text = `${covered.slice(0, atMac)}"Mac":"${mac}",${covered.slice(atMac)}`;
    } else {
      const unsigned = { ...entry, Chain: this.chain, Seq: seq, PrevMac: this.mac };
      mac = recordMac(this.auditKey, unsigned);
      text = canonicalJson({ ...unsigned, Mac: mac });
    }
    this.seq = seq;
    this.mac = mac;
    return { seq, mac, text };
  }

  /**
   * A journal's record chained here: its Chain, Seq and PrevMac replaced in its text and the Mac
   * made again, instead of parsing and writing the record anew. A text of another shape is
   * parsed and chained as an entry.
   */
  private appendJournalText(text: string, found?: RecordTextParts): ChainedRecord {
    const parts = found ?? recordTextParts(text);
    if (!parts) {
      const { Chain: _chain, Seq: _seq, PrevMac: _prevMac, Mac: _mac, Verified: _verified, ...entry } = JSON.parse(text) as AuditEvent;
      return this.append(entry);
    }
    const seq = this.seq + 1;
    const { covered, atMac, chainAt, chain, prevMacAt, seqAt, seqLength } = parts;
    // Edited from the end, so that each place found in `covered` still holds.
    const edited =
      covered.slice(0, chainAt) +
      JSON.stringify(this.chain).slice(1, -1) +
      covered.slice(chainAt + chain.length, prevMacAt) +
      this.mac +
      covered.slice(prevMacAt + 64, seqAt) +
      String(seq) +
      covered.slice(seqAt + seqLength);
    const shift = JSON.stringify(this.chain).length - 2 - chain.length;
    const mac = createHmac('sha256', this.auditKey).update(edited, 'utf8').digest('hex');
    const at = atMac + shift;
    this.seq = seq;
    this.mac = mac;
    return { seq, mac, text: `${edited.slice(0, at)}"Mac":"${mac}",${edited.slice(at)}` };
  }

  head(): AuditHead {
    const head = { Chain: this.chain, Seq: this.seq, Mac: this.mac };
    return { ...head, HeadMac: headMac(this.auditKey, head) };
  }

  mark(): { seq: number; mac: string } {
    return { seq: this.seq, mac: this.mac };
  }

  rollback(mark: { seq: number; mac: string }): void {
    this.seq = mark.seq;
    this.mac = mark.mac;
  }

  /** Whether a stored record's Mac is right under this chain's key (the key itself stays here). */
  recordMacMatches(record: AuditEvent): boolean {
    return recordMacMatches(this.auditKey, record);
  }

  anchorMacMatches(anchor: AuditAnchor): boolean {
    return anchorMacMatches(this.auditKey, anchor);
  }

  anchor(last: { Seq: number; Mac: string }, before: string): AuditAnchor {
    const anchor = { Chain: this.chain, Seq: last.Seq, Mac: last.Mac, Before: before };
    return { ...anchor, AnchorMac: anchorMac(this.auditKey, anchor) };
  }
}

/** What the API knows of a request, carried with it to the change it makes. */
export interface RequestFacts {
  requestId: string;
  sourceIp: string | null;
  /** The action's AWS-style name. */
  action: string;
  encryptionContext?: Record<string, string>;
}

/** Who made a change: a principal, and the request when an API request made it. */
export interface ChangeAuthor {
  principal: string;
  request?: RequestFacts;
}

/**
 * The audit entry of a change. Made by a request, it is that request's one record (action,
 * request id and source of the request; the change's own name in Detail when it differs).
 */
export function changeEntry(
  author: ChangeAuthor,
  change: { action: string; keyId?: string; detail?: Record<string, string | number | boolean> },
  now: Date,
): AuditEntry {
  const request = author.request;
  const detail = { ...change.detail, ...(request && request.action !== change.action ? { Change: change.action } : {}) };
  return {
    Time: now.toISOString(),
    RequestId: request?.requestId ?? null,
    Principal: author.principal,
    SourceIp: request?.sourceIp ?? null,
    Action: request?.action ?? change.action,
    KeyId: change.keyId ?? null,
    Outcome: 'Success',
    ...(request?.encryptionContext ? { EncryptionContext: request.encryptionContext } : {}),
    ...(Object.keys(detail).length > 0 ? { Detail: detail } : {}),
  };
}
