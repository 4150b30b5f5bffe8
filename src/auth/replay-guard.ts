import { ReplayedRequestException, ThrottlingException } from '../errors.js';

/** Where a state-changing request's signature is claimed: the store's owner, or a worker's channel to it. */
export interface ReplayGuard {
  /** Resolves once; a second claim of the same fingerprint before it expires rejects (ReplayedRequestException). */
  claim(fingerprint: string, expiresAtMs: number): Promise<void> | void;
}

/**
 * The signatures of state-changing requests accepted within the date window, in the one
 * process that owns the store (every worker asks it), so a captured request cannot be sent
 * again to any worker. Each entry is kept until its request's date falls out of the window,
 * after which the freshness check refuses the request anyway. At most `limit` entries (each
 * a 22-character fingerprint and an expiry: about 100 bytes): past that, state-changing
 * requests answer ThrottlingException until older entries expire; nothing is forgotten early.
 */
export class ReplayMemory implements ReplayGuard {
  private readonly seen = new Map<string, number>();
  /** Fingerprints by the second they expire in: dropped a second at a time. */
  private readonly expiring = new Map<number, string[]>();
  private sweptAt = 0;

  constructor(
    readonly limit = DEFAULT_REPLAY_MEMORY,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  claim(fingerprint: string, expiresAtMs: number): void {
    const now = this.now();
    this.sweep(now);
    const expiry = this.seen.get(fingerprint);
    if (expiry !== undefined && expiry > now) {
      throw new ReplayedRequestException('This signed request was already accepted; sign each request anew (a later date, or a different body)');
    }
    if (this.seen.size >= this.limit) {
      throw new ThrottlingException('Too many state-changing requests within the signature date window; retry shortly');
    }
    this.seen.set(fingerprint, expiresAtMs);
    const second = Math.ceil(expiresAtMs / 1000);
    const bucket = this.expiring.get(second);
    if (bucket) bucket.push(fingerprint);
    else this.expiring.set(second, [fingerprint]);
  }

  /** At most once a second: drops every entry whose second has passed. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 1000) return;
    this.sweptAt = now;
    for (const [second, fingerprints] of this.expiring) {
      if (second * 1000 > now) continue;
      for (const fingerprint of fingerprints) {
        if ((this.seen.get(fingerprint) ?? Infinity) <= now) this.seen.delete(fingerprint);
      }
      this.expiring.delete(second);
    }
  }
}

/** Where requests are claimed across the nodes that share a store (Store.claimRequest). */
export interface SharedClaims {
  /** False when another node claimed the fingerprint and its claim has not expired. */
  claimRequest(fingerprint: string, expiresAtMs: number): Promise<boolean>;
}

/**
 * Replay protection for nodes that share a store: a claim is made in this process's memory
 * first (a replay to the same node never reaches the database), then in the shared store, so a
 * request captured on its way to one node and sent to another is refused there too.
 */
export class SharedReplayGuard implements ReplayGuard {
  constructor(
    private readonly local: ReplayMemory,
    private readonly shared: SharedClaims,
  ) {}

  async claim(fingerprint: string, expiresAtMs: number): Promise<void> {
    this.local.claim(fingerprint, expiresAtMs);
    if (!(await this.shared.claimRequest(fingerprint, expiresAtMs))) {
      throw new ReplayedRequestException('This signed request was already accepted by another node; sign each request anew (a later date, or a different body)');
    }
  }
}

/** 1,000,000 entries: about 100 MB at most, ~1,600 state-changing requests a second held for 10 minutes. */
export const DEFAULT_REPLAY_MEMORY = 1_000_000;
