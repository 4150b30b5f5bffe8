import { randomBytes } from 'node:crypto';
import { compilePolicy } from '../auth/policy.js';
import type { Principal } from '../auth/principal.js';
import { credentialSecretAad, unwrapKey, wrapKey } from '../crypto/index.js';
import { NotFoundException, ValidationException } from '../errors.js';
import type { Credential } from '../protocol/types.js';
import type { ChangeAuthor } from '../store/audit-record.js';
import type { CredentialRecord } from '../store/records.js';
import type { KeyStore } from '../store/store.js';
import { decodeMarker, encodeMarker } from './markers.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** A credential's LastUsedDate is written at most this often: coarse, not a write per request. */
export const LAST_USED_RESOLUTION_MS = 3_600_000;
/** Meta records `last-used!<AccessKeyId>`: apart from the credentials, so a use is no credential change. */

/** `KH` + 18 base32 characters (90 random bits): recognisable, never confusable with a secret. */
function newAccessKeyId(): string {
  // 256 is a multiple of 32, so `byte % 32` is unbiased.
  return 'KH' + [...randomBytes(18)].map((byte) => BASE32[byte % 32]).join('');
}

export interface LoadedCredential {
  secretKey: Buffer;
  principal: Principal;
}

/**
 * API credentials: access key id + 32-byte secret, an admin flag or a policy, enabled or not.
 * Secrets are stored wrapped by the root key and held unwrapped in memory, with each policy
 * compiled, so verifying and authorizing a request reads nothing from disk. Only the process
 * that owns the store changes them; the others `reload()` when told that they changed.
 */
export class CredentialService {
  private credentials = new Map<string, LoadedCredential>();
  private records = new Map<string, CredentialRecord>();
  /** When this process last asked for a credential's LastUsedDate to be written. */
  private readonly usesNoted = new Map<string, number>();
  /** Changes one at a time: the last-enabled-admin check must see the others' results. */
  private changing: Promise<unknown> = Promise.resolve();
  /** The newest reload, which the next one waits for. */
  private reloading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: KeyStore,
    private readonly rootKey: Buffer,
    private readonly clock: () => Date,
  ) {}

  static async load(store: KeyStore, rootKey: Buffer, clock: () => Date = () => new Date()): Promise<CredentialService> {
    const service = new CredentialService(store, rootKey, clock);
    await service.reload();
    return service;
  }

  /**
   * Reads every credential again (another process changed one). Disabled ones stop verifying at
   * once. Reloads run one after another: two at once could finish out of order, and the read that
   * started first, before the change, would then be the one kept.
   */
  reload(): Promise<void> {
    const next = this.reloading.catch(() => undefined).then(() => this.readAll());
    this.reloading = next;
    return next;
  }

  private async readAll(): Promise<void> {
    const records = await this.store.listCredentials();
    const credentials = new Map<string, LoadedCredential>();
    const byId = new Map<string, CredentialRecord>();
    for (const record of records) {
      byId.set(record.accessKeyId, record);
      if (record.enabled === false) continue;
      credentials.set(record.accessKeyId, this.loaded(record));
    }
    for (const old of this.credentials.values()) old.secretKey.fill(0);
    this.credentials = credentials;
    this.records = byId;
  }

  private loaded(record: CredentialRecord): LoadedCredential {
    const secretKey = unwrapKey(this.rootKey, Buffer.from(record.wrappedSecret, 'base64'), credentialSecretAad(record.accessKeyId));
    const principal: Principal = { accessKeyId: record.accessKeyId, admin: record.admin };
    // A stored policy was valid when written; compiled once here, not per request.
    if (!record.admin) principal.policy = compilePolicy(record.policy ?? { Statement: [] });
    return { secretKey, principal };
  }

  get size(): number {
    return this.records.size;
  }

  /** An enabled credential by its access key id. */
  lookup(accessKeyId: string): LoadedCredential | undefined {
    return this.credentials.get(accessKeyId);
  }

  /** Whether this process should have the credential's LastUsedDate written now (at most hourly). */
  dueForUseNote(accessKeyId: string): boolean {
    const now = Date.now();
    const noted = this.usesNoted.get(accessKeyId);
    if (noted !== undefined && now - noted < LAST_USED_RESOLUTION_MS) return false;
    this.usesNoted.set(accessKeyId, now);
    return true;
  }

  /** Writes a credential's LastUsedDate with this process's clock (not synced: it is a hint). */
  async noteUse(accessKeyId: string): Promise<void> {
    if (!this.records.has(accessKeyId)) return;
    await this.store.write(this.store.batch().putCredentialLastUsed(accessKeyId, this.clock().toISOString()), { sync: false });
  }

  /**
   * Adds a credential (or commits `existing`); the secret is returned once and stored only
   * wrapped. `beforeCommit` runs before the credential is written (e.g. to hand the secret over).
   */
  async add(
    options: { admin: boolean; description: string; principal: string; policy?: object; existing?: { accessKeyId: string; secretKey: Buffer } },
    now: Date = this.clock(),
    beforeCommit?: (credential: { accessKeyId: string; secretKey: Buffer }) => void,
    author: ChangeAuthor = { principal: options.principal },
  ): Promise<{ accessKeyId: string; secretKey: Buffer }> {
    // `existing`: a credential handed out before it was committed (see startServer).
    const accessKeyId = options.existing?.accessKeyId ?? newAccessKeyId();
    const secretKey = options.existing?.secretKey ?? randomBytes(32);
    beforeCommit?.({ accessKeyId, secretKey });
    const wrappedSecret = wrapKey(this.rootKey, secretKey, credentialSecretAad(accessKeyId)) as Buffer;
    const record: CredentialRecord = {
      accessKeyId,
      wrappedSecret: wrappedSecret.toString('base64'),
      admin: options.admin,
      description: options.description,
      createdAt: now.toISOString(),
      enabled: true,
      ...(options.admin ? {} : { policy: options.policy ?? { Statement: [] } }),
    };
    await this.store.write(this.store.batch().putCredential(record).auditChange(author, { action: 'CreateCredential', detail: { AccessKeyId: accessKeyId, Admin: options.admin } }, now));
    this.records.set(accessKeyId, record);
    this.credentials.set(accessKeyId, { secretKey: Buffer.from(secretKey), principal: this.loaded(record).principal });
    return { accessKeyId, secretKey };
  }

  /** createcredential: a policy is required unless Admin; validated before anything is written. */
  create(request: { description?: string; admin?: boolean; policy?: unknown }, author: ChangeAuthor): Promise<{ credential: Credential; secretKey: Buffer }> {
    const admin = request.admin ?? false;
    if (!admin && request.policy === undefined) throw new ValidationException('Policy is required for a credential that is not Admin');
    if (admin && request.policy !== undefined) throw new ValidationException('An Admin credential may do everything: give it no Policy');
    const policy = admin ? undefined : compilePolicy(request.policy).document;
    return this.serially(async () => {
      const { accessKeyId, secretKey } = await this.add({ admin, description: request.description ?? '', principal: author.principal, policy }, this.clock(), undefined, author);
      return { credential: await this.describe({ accessKeyId }), secretKey };
    });
  }

  async list(request: { limit?: number; marker?: string }): Promise<{ credentials: Credential[]; nextMarker?: string; truncated: boolean }> {
    const limit = request.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationException('Limit must be an integer from 1 to 1000');
    const after = request.marker === undefined ? '' : decodeMarker(request.marker, 'c', 'listcredentials');
    const ids = [...this.records.keys()].sort().filter((id) => id > after);
    const page = ids.slice(0, limit);
    const credentials = await Promise.all(page.map((id) => this.describe({ accessKeyId: id })));
    const truncated = ids.length > limit;
    return { credentials, truncated, ...(truncated ? { nextMarker: encodeMarker('c', page[page.length - 1]!) } : {}) };
  }

  async describe({ accessKeyId }: { accessKeyId: string }): Promise<Credential> {
    const record = this.require(accessKeyId);
    const lastUsed = await this.store.getCredentialLastUsed(accessKeyId);
    return {
      AccessKeyId: record.accessKeyId,
      Description: record.description,
      Admin: record.admin,
      Enabled: record.enabled !== false,
      CreationDate: record.createdAt,
      ...(lastUsed ? { LastUsedDate: lastUsed } : {}),
      ...(record.admin ? {} : { Policy: record.policy ?? { Statement: [] } }),
    };
  }

  updatePolicy({ accessKeyId, policy }: { accessKeyId: string; policy: unknown }, author: ChangeAuthor): Promise<Credential> {
    return this.serially(async () => {
      const record = this.require(accessKeyId);
      if (record.admin) throw new ValidationException(`Credential '${accessKeyId}' is an Admin credential; it has no policy`);
      const document = compilePolicy(policy).document;
      await this.commit({ ...record, policy: document }, author, 'UpdateCredentialPolicy');
      return this.describe({ accessKeyId });
    });
  }

  setEnabled({ accessKeyId, enabled }: { accessKeyId: string; enabled: boolean }, author: ChangeAuthor): Promise<void> {
    return this.serially(async () => {
      const record = this.require(accessKeyId);
      if (!enabled) this.refuseLastAdmin(record, 'disabled');
      if ((record.enabled !== false) === enabled) return;
      await this.commit({ ...record, enabled }, author, enabled ? 'EnableCredential' : 'DisableCredential');
    });
  }

  remove({ accessKeyId }: { accessKeyId: string }, author: ChangeAuthor): Promise<void> {
    return this.serially(async () => {
      const record = this.require(accessKeyId);
      this.refuseLastAdmin(record, 'deleted');
      const batch = this.store.batch().auditChange(author, { action: 'DeleteCredential', detail: { AccessKeyId: accessKeyId } }, this.clock());
      await this.store.write(batch.deleteCredential(accessKeyId));
      this.records.delete(accessKeyId);
      this.credentials.get(accessKeyId)?.secretKey.fill(0);
      this.credentials.delete(accessKeyId);
    });
  }

  private async commit(record: CredentialRecord, author: ChangeAuthor, action: string): Promise<void> {
    await this.store.write(this.store.batch().putCredential(record).auditChange(author, { action, detail: { AccessKeyId: record.accessKeyId } }, this.clock()));
    this.records.set(record.accessKeyId, record);
    this.credentials.get(record.accessKeyId)?.secretKey.fill(0);
    if (record.enabled === false) this.credentials.delete(record.accessKeyId);
    else this.credentials.set(record.accessKeyId, this.loaded(record));
  }

  private require(accessKeyId: string): CredentialRecord {
    const record = this.records.get(accessKeyId);
    if (!record) throw new NotFoundException(`Credential '${accessKeyId.slice(0, 64)}' does not exist`);
    return record;
  }

  /* Precondition: some enabled admin credential remains, or nobody could manage Keyhold again. */
  private refuseLastAdmin(record: CredentialRecord, change: 'disabled' | 'deleted'): void {
    if (!record.admin || record.enabled === false) return;
    const otherAdmins = [...this.records.values()].filter((other) => other.admin && other.enabled !== false && other.accessKeyId !== record.accessKeyId);
    if (otherAdmins.length === 0) {
      throw new ValidationException(
        `Credential '${record.accessKeyId}' is the last enabled admin credential and cannot be ${change}; create or enable another admin credential first`,
      );
    }
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.changing.then(work, work);
    this.changing = result.catch(() => {});
    return result;
  }
}
