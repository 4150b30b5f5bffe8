/**
 * What the server has promised: every acknowledged operation (a 2xx answer arrived) and what
 * it implies. A later acknowledged change to a key supersedes an earlier one, so the ledger
 * keeps the latest acknowledged facts per key. A change that got no answer may or may not have
 * happened: the key is then "unsure" until a check sees which, and the load leaves it alone.
 */
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KeyFacts {
  state: KeyState;
  /** CurrentKeyVersion: 1 + the acknowledged rotations. */
  versions: number;
  tags: Record<string, string>;
  /** Sorted alias names, as describekey lists them. */
  aliases: string[];
}

/** A change to one key that the load asks for. */
export type Change =
  | { kind: 'state'; state: KeyState }
  | { kind: 'rotate' }
  | { kind: 'tag'; tagKey: string; tagValue: string }
  | { kind: 'alias'; aliasName: string };

/** An acknowledged encrypt: the blob must decrypt to this plaintext under this context. */
export interface BlobFact {
  keyId: string;
  ciphertextBlob: Buffer;
  plaintext: Buffer;
  encryptionContext?: Record<string, string>;
  /** Whether a check after a restart (or a worker kill) has seen it decrypt already. */
  checked: boolean;
}

/**
 * Something the run found wrong: an acknowledged fact missing (lost) or different (wrong), a
 * valid call refused, or service that did not continue after a worker was killed.
 */
export interface Finding {
  kind: 'lost' | 'wrong' | 'refused' | 'service';
  message: string;
}

export function applyChange(facts: KeyFacts, change: Change): KeyFacts {
  switch (change.kind) {
    case 'state':
      return { ...facts, state: change.state };
    case 'rotate':
      return { ...facts, versions: facts.versions + 1 };
    case 'tag':
      return { ...facts, tags: { ...facts.tags, [change.tagKey]: change.tagValue } };
    case 'alias':
      return { ...facts, aliases: [...facts.aliases, change.aliasName].sort() };
  }
}

export class Ledger {
  readonly keys = new Map<string, KeyFacts>();
  /** At most one unanswered change per key: the load does not touch an unsure key again. */
  readonly unsure = new Map<string, Change>();
  readonly blobs: BlobFact[] = [];
  acknowledged = 0;
  /** createkey calls that got no answer: each may have made one key whose id nobody knows. */
  unansweredCreates = 0;

  created(keyId: string, facts: KeyFacts): void {
    this.acknowledged++;
    this.keys.set(keyId, facts);
  }

  changed(keyId: string, change: Change): void {
    this.acknowledged++;
    this.keys.set(keyId, applyChange(this.facts(keyId), change));
  }

  unanswered(keyId: string, change: Change): void {
    this.unsure.set(keyId, change);
  }

  encrypted(blob: Omit<BlobFact, 'checked'>): void {
    this.acknowledged++;
    this.blobs.push({ ...blob, checked: false });
  }

  facts(keyId: string): KeyFacts {
    const facts = this.keys.get(keyId);
    /* Precondition: only keys whose creation was acknowledged have facts. */
    if (!facts) throw new Error(`no acknowledged createkey for ${keyId}`);
    return facts;
  }

  /** What a check may see for the key: its facts, or them with the unanswered change applied. */
  possibilities(keyId: string): KeyFacts[] {
    const facts = this.facts(keyId);
    const change = this.unsure.get(keyId);
    return change ? [facts, applyChange(facts, change)] : [facts];
  }

  /** Drops a key found lost, with its blobs: reported once, and the load stops using it. */
  forget(keyId: string): void {
    this.keys.delete(keyId);
    this.unsure.delete(keyId);
    for (let index = this.blobs.length - 1; index >= 0; index--) if (this.blobs[index]!.keyId === keyId) this.blobs.splice(index, 1);
  }

  /** Adopts what a check saw (one of the possibilities): the key is sure again. */
  settle(keyId: string, observed: KeyFacts): void {
    this.keys.set(keyId, observed);
    this.unsure.delete(keyId);
  }
}
