import { ValidationException } from '../errors.js';
import { decodeMarker, encodeMarker } from '../kms/markers.js';
import type { AuditEvent } from '../protocol/types.js';
import { FIRST_PREV_MAC, type AuditAnchor, type AuditEntry } from '../store/audit-record.js';
import type { Store } from '../store/store.js';

/** listauditevents' filters (docs/design.md); times as Dates once validated. */
export interface AuditQuery {
  startTime?: Date;
  endTime?: Date;
  keyId?: string;
  principal?: string;
  action?: string;
  outcome?: string;
  limit?: number;
  marker?: string;
  /** Mark each listed record Verified (true/false): see ChainLinks. */
  verify?: boolean;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Where to go on from: given whenever records were read, so that `--follow` can resume. */
  nextMarker?: string;
  /** More records exist after this page now. */
  truncated: boolean;
}

export interface AuditQueries {
  list(query: AuditQuery): Promise<AuditPage>;
}

/** Where the API writes its records: the store's owner, or a worker's channel to it. */
export interface AuditSink extends AuditQueries {
  /**
   * Resolves once the record is written; rejects (503) when it cannot be: the request then fails.
   * `changedNothing`: the request's action changes nothing (its record never goes in with a
   * change), so a cluster worker may write it to its own journal (src/audit/audit-journal.ts).
   */
  record(entry: AuditEntry, options?: { changedNothing?: boolean }): Promise<void>;
  /** Several records of one request (a large batch's parts), written together, in order; rejects as `record`. */
  recordAll(entries: AuditEntry[]): Promise<void>;
}

/** The JSON of a page's records stays under this (the first record always goes): large records page sooner. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024;
/** Records one listing reads at most: a page of a sparse filter comes back short, with a marker. */
const MAX_SCANNED_PER_PAGE = 10_000;
const READ_CHUNK = 500;
/** Records are written in about the order of their times: a filter by time looks this much further. */
const TIME_SLACK_MS = 60_000;
/** Retention removes at most this many stored entries (each one record or a write's group) per sync batch. */
const RETENTION_BATCH = 200;

/**
 * The audit trail of the process that owns the store: writes each request's record (unless
 * it went in with the change the request made), lists records with filters and paging, and
 * removes records older than the retention period while keeping the rest verifiable.
 */
export class AuditTrail implements AuditSink {
  /** `journals`: the workers' journals, whose records are moved into the store before a listing reads it. */
  constructor(
    private readonly store: Store,
    private readonly journals?: { catchUp(): Promise<void> },
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    if (entry.RequestId !== null && this.store.takeAnsweredRequest(entry.RequestId)) return;
    // Not synced: a request that changed nothing loses at most its record to a power cut
    // (never to a killed process); records of changes go in the change's own synced batch.
    await this.store.write(this.store.batch().audit(entry), { sync: false });
  }

  async recordAll(entries: AuditEntry[]): Promise<void> {
    // A batch changes nothing, so none of its records went in with a change; one store write, in order.
    const batch = this.store.batch();
    for (const entry of entries) batch.audit(entry);
    await this.store.write(batch, { sync: false });
  }

  async list(query: AuditQuery): Promise<AuditPage> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationException('Limit must be an integer from 1 to 1000');
    if (query.startTime && query.endTime && query.endTime < query.startTime) throw new ValidationException('EndTime is before StartTime');
    // Every record answered before this listing was asked for is in the store for it.
    await this.journals?.catchUp();
    let after = query.marker === undefined ? 0 : decodeSeq(query.marker);
    if (query.marker === undefined && query.startTime) after = await this.seqBefore(query.startTime);
    const events: AuditEvent[] = [];
    const links = query.verify ? new ChainLinks(this.store) : undefined;
    let scanned = 0;
    let last = after;
    let more = true;
    let bytes = 0;
    let full = false;
    while (events.length < limit && scanned < MAX_SCANNED_PER_PAGE && !full) {
      const chunk = await this.store.auditRange(last, Math.min(READ_CHUNK, MAX_SCANNED_PER_PAGE - scanned));
      if (chunk.length === 0) {
        more = false;
        break;
      }
      let pastEnd = false;
      for (const event of chunk) {
        if (query.endTime && Date.parse(event.Time) > query.endTime.getTime() + TIME_SLACK_MS) {
          pastEnd = true;
          break;
        }
        if (matches(event, query)) {
          // A page holds at most MAX_PAGE_BYTES of records (records with large contexts): the rest on the next page.
          const size = JSON.stringify(event).length;
          if (events.length > 0 && bytes + size > MAX_PAGE_BYTES) {
            full = true;
            break;
          }
          bytes += size;
          events.push(links ? { ...withoutMark(event), Verified: await links.verified(event) } : withoutMark(event));
        }
        scanned++;
        last = event.Seq;
        links?.passed(event);
        if (events.length === limit) break;
      }
      if (pastEnd) {
        more = false;
        break;
      }
    }
    if (more) more = (await this.store.auditRange(last, 1)).length > 0;
    return { events, truncated: more, ...(last > after ? { nextMarker: encodeMarker('a', String(last)) } : query.marker ? { nextMarker: query.marker } : {}) };
  }

  /** The number of a record a little before `time` (binary search: records come in about time order). */
  private async seqBefore(time: Date): Promise<number> {
    const target = time.getTime() - TIME_SLACK_MS;
    let low = 0;
    let high = (await this.store.auditNewest())?.Seq ?? 0;
    while (low < high) {
      const middle = Math.floor((low + high + 1) / 2);
      const [event] = await this.store.auditRange(middle - 1, 1);
      if (event && Date.parse(event.Time) < target) low = event.Seq;
      else high = middle - 1;
    }
    return low;
  }

  /**
   * Removes the records older than `before`, oldest first, a batch at a time, in whole stored
   * entries (the records of one store write are kept together: an entry with a record that is
   * not old enough stays until all of it is). Each batch also writes the anchor (the last
   * removed record's number and MAC, MACed under the audit key), where the verifier starts, so
   * the kept records stay verifiable. Returns how many went.
   */
  async removeBefore(before: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const anchor = await this.store.getAuditAnchor();
      const groups = await this.store.auditGroups(anchor?.Seq ?? 0, RETENTION_BATCH);
      const old: AuditEvent[][] = [];
      for (const group of groups) {
        if (group.some((event) => Date.parse(event.Time) >= before.getTime())) break;
        old.push(group);
      }
      // The newest record stays: the chain's head must always have a record to match.
      const newest = await this.store.auditNewest();
      if (old.length > 0 && old.at(-1)!.at(-1)!.Seq === newest?.Seq) old.pop();
      if (old.length === 0) return removed;
      const batch = this.store.batch();
      // An entry is stored under its last record's number.
      for (const group of old) batch.deleteAuditRecord(group.at(-1)!.Seq);
      batch.putAuditAnchor(this.store.auditAnchor(old.at(-1)!.at(-1)!, before.toISOString()));
      await this.store.write(batch);
      removed += old.reduce((count, group) => count + group.length, 0);
    }
  }
}

/**
 * listauditevents' Verify: whether each record read is intact (its Mac is right under the audit
 * key) and follows the record before it in the store (its PrevMac is that record's Mac; for the
 * first kept record, the retention anchor's Mac, or FIRST_PREV_MAC for record 1). It reads at
 * most one record more per page (the one before the first) and the anchor when a record has no
 * record before it. It cannot tell that records were removed from the end: only `keyhold admin
 * audit verify`, which checks the chain's head, does.
 */
class ChainLinks {
  /** The record read just before the next one, in store order. */
  private previous: AuditEvent | undefined;
  private readBefore = false;
  private anchor: Promise<AuditAnchor | undefined> | undefined;

  constructor(private readonly store: Store) {}

  async verified(event: AuditEvent): Promise<boolean> {
    if (!this.store.auditRecordMacMatches(event)) return false;
    if (this.previous === undefined && !this.readBefore && event.Seq > 1) {
      this.readBefore = true;
      [this.previous] = await this.store.auditRange(event.Seq - 2, 1);
    }
    if (this.previous !== undefined && this.previous.Seq === event.Seq - 1) return event.PrevMac === this.previous.Mac;
    if (event.Seq === 1) return event.PrevMac === FIRST_PREV_MAC;
    this.anchor ??= this.store.getAuditAnchor();
    const anchor = await this.anchor;
    return anchor !== undefined && anchor.Seq === event.Seq - 1 && anchor.Chain === event.Chain && anchor.Mac === event.PrevMac && this.store.auditAnchorMacMatches(anchor);
  }

  /** Every record read, listed or not, is the one before the next. */
  passed(event: AuditEvent): void {
    this.previous = event;
    this.readBefore = true;
  }
}

/** A stored record never carries a mark: one written into the store by hand is not passed on. */
function withoutMark(event: AuditEvent): AuditEvent {
  if (!('Verified' in event)) return event;
  const { Verified: _verified, ...record } = event;
  return record;
}

/**
 * Whether a record passes the filters. A batch's record (one with Items) passes the key and
 * outcome filters when one of its items passes both: the item used that key and ended that way.
 */
function matches(event: AuditEvent, query: AuditQuery): boolean {
  if (event.Items) {
    if ((query.keyId !== undefined || query.outcome !== undefined) && !event.Items.some((item) => (query.keyId === undefined || item.KeyId === query.keyId) && (query.outcome === undefined || item.Outcome === query.outcome))) {
      return false;
    }
  } else {
    if (query.keyId !== undefined && event.KeyId !== query.keyId) return false;
    if (query.outcome !== undefined && event.Outcome !== query.outcome) return false;
  }
  if (query.principal !== undefined && event.Principal !== query.principal) return false;
  if (query.action !== undefined && event.Action.toLowerCase() !== query.action.toLowerCase()) return false;
  const time = Date.parse(event.Time);
  if (query.startTime && time < query.startTime.getTime()) return false;
  if (query.endTime && time > query.endTime.getTime()) return false;
  return true;
}

function decodeSeq(marker: string): number {
  const seq = Number(decodeMarker(marker, 'a', 'listauditevents'));
  if (!Number.isSafeInteger(seq) || seq < 0) throw new ValidationException('Marker is not a marker returned by listauditevents');
  return seq;
}
