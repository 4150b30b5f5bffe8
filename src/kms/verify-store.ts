import type { KeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { parseVersionRecordKey, readRawEntry, scanSublevel, SUBLEVEL_NAMES, type RawEntry, type SublevelName } from '../store/store-scan.js';
import {
  asAliasRecord,
  asAuditRecords,
  asCredentialRecord,
  asKeyRecord,
  asRotationRecord,
  credentialUnwraps,
  materialOf,
  parseObject,
  parseScheduleEntry,
  versionUnwraps,
  wrappingKeyUnwraps,
  type KeyMaterial,
} from './verify-store-records.js';

/** One damaged or inconsistent record: `record` is `<sublevel>/<key>`; `message` is the whole line. */
export interface StoreProblem {
  record: string;
  message: string;
}

export interface StoreVerification {
  counts: Record<SublevelName, number>;
  /** The first MAX_LISTED_PROBLEMS problems. */
  problems: StoreProblem[];
  /** All problems found, also those not listed. */
  problemCount: number;
}

/** A store damaged throughout must not fill memory with its problems: the rest are counted. */
export const MAX_LISTED_PROBLEMS = 1000;

/** The running tally of one verification. */
class Tally implements StoreVerification {
  readonly counts = Object.fromEntries(SUBLEVEL_NAMES.map((name) => [name, 0])) as Record<SublevelName, number>;
  readonly problems: StoreProblem[] = [];
  problemCount = 0;

  report(name: SublevelName, key: string, text: string): void {
    this.problemCount++;
    const record = `${name}/${key}`;
    if (this.problems.length < MAX_LISTED_PROBLEMS) this.problems.push({ record, message: `${record}: ${text}` });
  }
}

/** An async iterator that can look at its next entry without taking it. */
class Peekable {
  private head: IteratorResult<RawEntry> | undefined;
  constructor(private readonly source: AsyncGenerator<RawEntry>) {}

  async peek(): Promise<RawEntry | undefined> {
    this.head ??= await this.source.next();
    return this.head.done ? undefined : this.head.value;
  }

  take(): void {
    this.head = undefined;
  }
}

/** The KeyId a `versions` entry belongs to; a malformed key sorts by itself. */
function ownerOf(entry: RawEntry): string {
  return parseVersionRecordKey(entry.key)?.keyId ?? entry.key;
}

/**
 * Keys and their versions in one ordered pass: both sublevels are ordered by KeyId, so every
 * version is matched to its key (or found to have none) without holding either in memory.
 */
async function verifyKeysAndVersions(store: Store, rootKey: Buffer, tally: Tally): Promise<void> {
  const versions = new Peekable(scanSublevel(store, 'versions'));
  const orphansBefore = async (keyId: string | undefined) => {
    for (let entry = await versions.peek(); entry && (keyId === undefined || ownerOf(entry) < keyId); entry = await versions.peek()) {
      tally.counts.versions++;
      tally.report('versions', entry.key, parseVersionRecordKey(entry.key) ? 'version of a key that does not exist' : 'not a <KeyId>!<version> key');
      versions.take();
    }
  };
  for await (const entry of scanSublevel(store, 'keys')) {
    tally.counts.keys++;
    await orphansBefore(entry.key);
    const record = asKeyRecord(entry);
    if (!record) tally.report('keys', entry.key, 'is not a readable key record');
    if (record && !wrappingKeyUnwraps(rootKey, record)) tally.report('keys', entry.key, 'its import wrapping key does not unwrap under the root key');
    const material: KeyMaterial = record ? materialOf(record) : { kind: 'none', versions: 0 };
    let expected = 1;
    for (let version = await versions.peek(); version && ownerOf(version) === entry.key; version = await versions.peek()) {
      tally.counts.versions++;
      versions.take();
      const parsed = parseVersionRecordKey(version.key);
      if (!parsed) {
        tally.report('versions', version.key, 'not a <KeyId>!<version> key');
        continue;
      }
      if (!record) continue; // the key record's problem is reported already
      const number = parsed.version;
      if (number < 1 || number > material.versions) {
        tally.report('versions', version.key, `key ${entry.key} has no version ${number} (${material.kind} key with ${material.versions})`);
        continue;
      }
      if (number > expected) tally.report('keys', entry.key, `missing version ${expected === number - 1 ? expected : `${expected}..${number - 1}`}`);
      expected = number + 1;
      if (!versionUnwraps(rootKey, entry.key, number, material, version.value)) {
        tally.report('versions', version.key, 'does not unwrap under the root key');
      }
    }
    if (record && expected <= material.versions) {
      tally.report('keys', entry.key, `missing version ${expected === material.versions ? expected : `${expected}..${material.versions}`}`);
    }
  }
  await orphansBefore(undefined);
}

/**
 * The key record of `keyId`, parsed; undefined when absent; 'unreadable' when present but
 * damaged (reported once, by the keys pass, not again by every reference to it).
 */
async function keyRecordOf(store: Store, keyId: string): Promise<KeyRecord | 'unreadable' | undefined> {
  const value = await readRawEntry(store, 'keys', keyId);
  return value ? (asKeyRecord({ key: keyId, value }) ?? 'unreadable') : undefined;
}

async function verifyReferences(store: Store, tally: Tally): Promise<void> {
  for await (const entry of scanSublevel(store, 'aliases')) {
    tally.counts.aliases++;
    const alias = asAliasRecord(entry);
    if (!alias) tally.report('aliases', entry.key, 'is not a readable alias record');
    else if (!(await keyRecordOf(store, alias.targetKeyId))) tally.report('aliases', entry.key, `points at key ${alias.targetKeyId}, which does not exist`);
  }
  for await (const entry of scanSublevel(store, 'rotations')) {
    tally.counts.rotations++;
    const at = parseVersionRecordKey(entry.key);
    const key = at && (await keyRecordOf(store, at.keyId));
    if (!at || !asRotationRecord(entry, at.keyId, at.version)) tally.report('rotations', entry.key, 'is not a readable rotation record');
    else if (!key) tally.report('rotations', entry.key, `rotation of key ${at.keyId}, which does not exist`);
    else if (key !== 'unreadable' && at.version > key.currentVersion) tally.report('rotations', entry.key, `rotation to version ${at.version}, past the key's version ${key.currentVersion}`);
  }
  for await (const entry of scanSublevel(store, 'schedule')) {
    tally.counts.schedule++;
    const scheduled = parseScheduleEntry(entry.key);
    if (!scheduled) tally.report('schedule', entry.key, 'is not a <date>!delete|rotate|expire!<KeyId> entry');
    else if (!(await keyRecordOf(store, scheduled.keyId))) tally.report('schedule', entry.key, `schedules key ${scheduled.keyId}, which does not exist`);
  }
}

async function verifyCredentialsAndLogs(store: Store, rootKey: Buffer, tally: Tally): Promise<void> {
  for await (const entry of scanSublevel(store, 'meta')) {
    tally.counts.meta++;
    if (!parseObject(entry)) tally.report('meta', entry.key, 'is not readable JSON');
  }
  for await (const entry of scanSublevel(store, 'credentials')) {
    tally.counts.credentials++;
    const credential = asCredentialRecord(entry);
    if (!credential) tally.report('credentials', entry.key, 'is not a readable credential record');
    else if (!credentialUnwraps(rootKey, credential)) tally.report('credentials', entry.key, 'secret does not unwrap under the root key');
  }
  for await (const entry of scanSublevel(store, 'audit')) {
    const records = asAuditRecords(entry);
    tally.counts.audit += records?.length ?? 1;
    if (!records) tally.report('audit', entry.key, 'is not a readable audit record');
  }
}

/**
 * Reads every record of every sublevel and checks that it parses, that every key has exactly
 * the version records it should and each unwraps under the root key with its AAD, that
 * credential secrets unwrap, and that aliases, rotations and schedule entries name keys that
 * exist. Reads only. Memory stays flat: sublevels are scanned in batches, keys and versions in
 * one ordered pass, references by point reads.
 *
 * @example const { counts, problems } = await verifyStoreRecords(store, rootKey);
 */
export async function verifyStoreRecords(store: Store, rootKey: Buffer): Promise<StoreVerification> {
  const tally = new Tally();
  await verifyKeysAndVersions(store, rootKey, tally);
  await verifyReferences(store, tally);
  await verifyCredentialsAndLogs(store, rootKey, tally);
  return { counts: tally.counts, problems: tally.problems, problemCount: tally.problemCount };
}

/** "meta 1, keys 1200, versions 1450, …": the counts in the order of SUBLEVEL_NAMES. */
export function describeCounts(counts: Record<SublevelName, number>): string {
  return SUBLEVEL_NAMES.map((name) => `${name} ${counts[name]}`).join(', ');
}
