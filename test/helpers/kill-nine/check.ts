/**
 * The check after a restart (or a worker kill): every acknowledged fact of the ledger, read
 * back through the API only (never from the data dir's files, whose layout may change).
 */
import { KeyholdApiError, type KeyholdClient } from '../../../src/client/index.js';
import { describeChange } from './load.js';
import type { BlobFact, Finding, KeyFacts, KeyState, Ledger } from './ledger.js';
import type { Prng } from './prng.js';

export interface CheckOptions {
  /**
   * Blobs already seen to decrypt after an earlier restart are checked again up to this many,
   * chosen by the PRNG (Infinity: all). Every blob acknowledged since the last check is checked.
   */
  olderBlobSample: number;
  round: number;
}

const CONCURRENCY = 8;
const MAX_LIST_PAGES = 1_000;
const STATES: readonly KeyState[] = ['Enabled', 'Disabled', 'PendingDeletion'];
/** What decrypt answers for a blob under a key that is not Enabled. */
const REFUSALS = ['DisabledException', 'KMSInvalidStateException'];

/** Checks the ledger against the server; settles unsure keys to what it saw. */
export async function checkLedger(client: KeyholdClient, ledger: Ledger, prng: Prng, options: CheckOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const found = (kind: Finding['kind'], message: string) => findings.push({ kind, message: `round ${options.round}: ${message}` });
  const listed = await listAllKeyIds(client);
  if (listed.size > ledger.keys.size + ledger.unansweredCreates) {
    found('wrong', `${listed.size} keys listed, more than the ${ledger.keys.size} acknowledged and ${ledger.unansweredCreates} unanswered createkey calls`);
  }
  await eachLimited([...ledger.keys.keys()], CONCURRENCY, async (keyId) => {
    if (!listed.has(keyId)) {
      found('lost', `key ${keyId} (createkey acknowledged) is not listed`);
      ledger.forget(keyId);
      return;
    }
    await checkKey(client, ledger, keyId, found);
  });
  await eachLimited(blobsToCheck(ledger, prng, options.olderBlobSample), CONCURRENCY, (blob) => checkBlob(client, ledger, blob, found));
  return findings;
}

async function checkKey(client: KeyholdClient, ledger: Ledger, keyId: string, found: (kind: Finding['kind'], message: string) => void): Promise<void> {
  const observed = await observeKey(client, keyId);
  if (observed === undefined) {
    found('lost', `key ${keyId} (createkey acknowledged) does not exist`);
    ledger.forget(keyId);
    return;
  }
  const possible = ledger.possibilities(keyId);
  if (!possible.some((facts) => sameFacts(facts, observed))) {
    const unanswered = ledger.unsure.get(keyId);
    const expected = JSON.stringify(possible[0]) + (unanswered ? ` (or that after the unanswered ${describeChange(unanswered)})` : '');
    found(isLoss(possible, observed) ? 'lost' : 'wrong', `key ${keyId}: acknowledged ${expected}, found ${JSON.stringify(observed)}`);
  }
  // From here on the key is what the server says (a finding is reported once, not every round).
  ledger.settle(keyId, observed);
}

async function observeKey(client: KeyholdClient, keyId: string): Promise<KeyFacts | undefined> {
  let metadata: { KeyState: string; CurrentKeyVersion: number; Aliases: string[] };
  try {
    metadata = (await client.call('describekey', { KeyId: keyId })).KeyMetadata;
  } catch (error) {
    if (error instanceof KeyholdApiError && error.type === 'NotFoundException') return undefined;
    throw error;
  }
  const answer = await client.call<{ Tags: { TagKey: string; TagValue: string }[]; Truncated: boolean }>('listresourcetags', { KeyId: keyId, Limit: 50 });
  return {
    state: STATES.includes(metadata.KeyState as KeyState) ? (metadata.KeyState as KeyState) : (`unexpected ${metadata.KeyState}` as KeyState),
    versions: metadata.CurrentKeyVersion,
    tags: Object.fromEntries(answer.Tags.map((tag) => [tag.TagKey, tag.TagValue])),
    aliases: [...metadata.Aliases].sort(),
  };
}

async function checkBlob(client: KeyholdClient, ledger: Ledger, blob: BlobFact, found: (kind: Finding['kind'], message: string) => void): Promise<void> {
  const state = ledger.facts(blob.keyId).state;
  const name = `a blob acknowledged under ${blob.keyId}`;
  try {
    const result = await client.decrypt({ ciphertextBlob: blob.ciphertextBlob, ...(blob.encryptionContext ? { encryptionContext: blob.encryptionContext } : {}) });
    if (state !== 'Enabled') found('wrong', `${name} decrypted while the key is ${state}`);
    else if (!result.plaintext.equals(blob.plaintext) || result.keyId !== blob.keyId) found('wrong', `${name} decrypted to other bytes or another key`);
    else blob.checked = true;
  } catch (error) {
    if (!(error instanceof KeyholdApiError)) throw error;
    if (state === 'Enabled') found('lost', `${name} no longer decrypts: ${error.type}`);
    else if (!REFUSALS.includes(error.type)) found('wrong', `${name} (key ${state}) was refused with ${error.type}`);
  }
}

/** Every blob not yet checked, and a PRNG-chosen sample of up to `older` of the others. */
function blobsToCheck(ledger: Ledger, prng: Prng, older: number): BlobFact[] {
  const fresh = ledger.blobs.filter((blob) => !blob.checked);
  const seen = ledger.blobs.filter((blob) => blob.checked);
  if (seen.length <= older) return [...fresh, ...seen];
  const sample = new Set<BlobFact>();
  for (let attempts = 0; sample.size < older && attempts < older * 4; attempts++) sample.add(prng.pick(seen));
  return [...fresh, ...sample];
}

async function listAllKeyIds(client: KeyholdClient): Promise<Set<string>> {
  const ids = new Set<string>();
  let marker: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await client.listKeys({ limit: 1000, ...(marker ? { marker } : {}) });
    for (const key of result.keys) ids.add(key.KeyId);
    if (!result.truncated || !result.nextMarker) return ids;
    marker = result.nextMarker;
  }
  throw new Error(`listkeys did not end within ${MAX_LIST_PAGES} pages`);
}

function sameFacts(a: KeyFacts, b: KeyFacts): boolean {
  return a.state === b.state && a.versions === b.versions && JSON.stringify(sortedEntries(a.tags)) === JSON.stringify(sortedEntries(b.tags)) && a.aliases.join() === b.aliases.join();
}

function sortedEntries(tags: Record<string, string>): [string, string][] {
  return Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Another state, or fewer versions, tags or aliases than acknowledged: an acknowledged change is gone. */
function isLoss(possible: KeyFacts[], observed: KeyFacts): boolean {
  const least = possible[0]!;
  return possible.every((facts) => facts.state !== observed.state) || observed.versions < least.versions || Object.keys(observed.tags).length < Object.keys(least.tags).length || observed.aliases.length < least.aliases.length;
}

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
