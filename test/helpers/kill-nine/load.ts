/**
 * The mixed load of a kill -9 round: lanes of signed calls (createkey, encrypt, createalias,
 * rotatekeyondemand, disablekey/enablekey, tagresource, schedulekeydeletion), each recorded in
 * the ledger once acknowledged. One call at a time per key, so each key's changes have one
 * order; a key whose change got no answer is left alone until a check has seen its state.
 */
import { KeyholdApiError, type KeyholdClient } from '../../../src/client/index.js';
import type { Change, Finding, KeyState, Ledger } from './ledger.js';
import type { Prng } from './prng.js';

export interface LoadContext {
  client: KeyholdClient;
  ledger: Ledger;
  prng: Prng;
  round: number;
  /** Refusals: the ledger said the call was valid, so a 4xx answer is a finding. */
  findings: Finding[];
  /** Asked before each call: the load ends once it says so. */
  stop(): boolean;
}

/** Keys the load keeps in use; past this it mostly works on the keys it has. */
const ACTIVE_KEYS = 24;
/** A bound on one lane's calls, should `stop` never say so. */
const MAX_CALLS_PER_LANE = 100_000;
const TAG_KEYS = ['team', 'env', 'owner', 'cost'];

type Outcome<T> = { answer: 'acknowledged'; value: T } | { answer: 'refused' } | { answer: 'none' };

export async function runLoad(context: LoadContext, lanes: number): Promise<void> {
  const busy = new Set<string>();
  await Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(context, busy, lane)));
}

async function runLane(context: LoadContext, busy: Set<string>, lane: number): Promise<void> {
  for (let sequence = 0; sequence < MAX_CALLS_PER_LANE && !context.stop(); sequence++) {
    const keyId = pickKey(context, busy);
    if (keyId === undefined) {
      await createKey(context);
      continue;
    }
    busy.add(keyId);
    try {
      await operate(context, keyId, `${lane}-${sequence}`);
    } finally {
      busy.delete(keyId);
    }
  }
}

/** An idle, sure key that is not pending deletion; undefined means "create one". */
function pickKey(context: LoadContext, busy: Set<string>): string | undefined {
  const { ledger, prng } = context;
  const usable = [...ledger.keys].filter(([keyId, facts]) => facts.state !== 'PendingDeletion' && !busy.has(keyId) && !ledger.unsure.has(keyId));
  if (usable.length === 0 || (usable.length < ACTIVE_KEYS && prng.chance(0.1))) return undefined;
  return prng.pick(usable)[0];
}

async function createKey(context: LoadContext): Promise<void> {
  const outcome = await attempt(context, 'createkey', () => context.client.createKey({ description: `kill-nine round ${context.round}` }));
  if (outcome.answer === 'acknowledged') {
    context.ledger.created(outcome.value.KeyId, { state: 'Enabled', versions: 1, tags: {}, aliases: [] });
  } else if (outcome.answer === 'none') {
    context.ledger.unansweredCreates++;
  }
}

/** One call on a key, chosen by the key's state: only calls the server must accept. */
async function operate(context: LoadContext, keyId: string, name: string): Promise<void> {
  const state = context.ledger.facts(keyId).state;
  const roll = context.prng.next();
  if (state === 'Enabled' && roll < 0.5) return encrypt(context, keyId);
  const change = chooseChange(context.prng, state, `alias/kill-nine/s${context.prng.seed}-r${context.round}-${name}`);
  await applyOnServer(context, keyId, change);
}

function chooseChange(prng: Prng, state: KeyState, aliasName: string): Change {
  const roll = prng.next();
  const tag: Change = { kind: 'tag', tagKey: prng.pick(TAG_KEYS), tagValue: `v${prng.int(0, 999)}` };
  if (state === 'Disabled') {
    if (roll < 0.6) return { kind: 'state', state: 'Enabled' };
    return roll < 0.95 ? tag : { kind: 'state', state: 'PendingDeletion' };
  }
  if (roll < 0.25) return tag;
  if (roll < 0.5) return { kind: 'rotate' };
  if (roll < 0.7) return { kind: 'alias', aliasName };
  if (roll < 0.95) return { kind: 'state', state: 'Disabled' };
  return { kind: 'state', state: 'PendingDeletion' };
}

async function applyOnServer(context: LoadContext, keyId: string, change: Change): Promise<void> {
  const { client } = context;
  const call = (): Promise<unknown> => {
    switch (change.kind) {
      case 'tag':
        return client.call('tagresource', { KeyId: keyId, Tags: [{ TagKey: change.tagKey, TagValue: change.tagValue }] });
      case 'rotate':
        return client.call('rotatekeyondemand', { KeyId: keyId });
      case 'alias':
        return client.call('createalias', { AliasName: change.aliasName, TargetKeyId: keyId });
      case 'state':
        if (change.state === 'Enabled') return client.enableKey(keyId);
        if (change.state === 'Disabled') return client.disableKey(keyId);
        return client.scheduleKeyDeletion(keyId, 7);
    }
  };
  const outcome = await attempt(context, `${describeChange(change)} on ${keyId}`, call);
  if (outcome.answer === 'acknowledged') context.ledger.changed(keyId, change);
  else if (outcome.answer === 'none') context.ledger.unanswered(keyId, change);
}

async function encrypt(context: LoadContext, keyId: string): Promise<void> {
  const { prng, round } = context;
  const plaintext = prng.bytes(prng.int(1, 64));
  const encryptionContext = prng.chance(0.5) ? { round: String(round), purpose: 'kill-nine' } : undefined;
  const outcome = await attempt(context, `encrypt under ${keyId}`, () =>
    context.client.encrypt({ keyId, plaintext, ...(encryptionContext ? { encryptionContext } : {}) }),
  );
  if (outcome.answer !== 'acknowledged') return;
  context.ledger.encrypted({ keyId, ciphertextBlob: outcome.value.ciphertextBlob, plaintext, ...(encryptionContext ? { encryptionContext } : {}) });
}

/**
 * A 2xx answer acknowledges; a 4xx refuses (nothing happened, and the ledger did not expect
 * it); anything else — no answer, a reset, a 5xx such as a worker's 503 while its primary is
 * gone — leaves open whether it happened.
 */
async function attempt<T>(context: LoadContext, what: string, call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { answer: 'acknowledged', value: await call() };
  } catch (error) {
    if (error instanceof KeyholdApiError && error.status >= 400 && error.status < 500) {
      context.findings.push({ kind: 'refused', message: `round ${context.round}: ${what} was refused: ${error.type} (HTTP ${error.status})` });
      return { answer: 'refused' };
    }
    return { answer: 'none' };
  }
}

export function describeChange(change: Change): string {
  switch (change.kind) {
    case 'state':
      return change.state === 'Enabled' ? 'enablekey' : change.state === 'Disabled' ? 'disablekey' : 'schedulekeydeletion';
    case 'rotate':
      return 'rotatekeyondemand';
    case 'tag':
      return `tagresource ${change.tagKey}`;
    case 'alias':
      return `createalias ${change.aliasName}`;
  }
}
