import { AlreadyExistsException, KMSInvalidStateException, NotFoundException, ValidationException } from '../errors.js';
import type { AliasRecord } from '../store/records.js';
import { ALIAS_RESOURCE_PREFIX, retryOnConflict, type Caller, type KeyRegistry } from './key-registry.js';
import { decodeMarker, encodeMarker } from './markers.js';

const ALIAS_NAME = /^alias\/[A-Za-z0-9/_-]+$/;
const RESERVED_PREFIX = 'alias/keyhold/';

export interface AliasListEntry {
  AliasName: string;
  AliasArn: string;
  TargetKeyId: string;
  CreationDate: string;
  LastUpdatedDate: string;
}

/** Precondition: alias names are `alias/` + [A-Za-z0-9/_-], 1..256 characters, not reserved. */
export function validateAliasName(aliasName: string): void {
  if (aliasName.length > 256 || !ALIAS_NAME.test(aliasName)) {
    throw new ValidationException("AliasName must be 'alias/' followed by letters, digits, '/', '_' or '-', at most 256 characters");
  }
  if (aliasName.startsWith(RESERVED_PREFIX)) throw new ValidationException(`Alias names beginning '${RESERVED_PREFIX}' are reserved`);
}

function toEntry(alias: AliasRecord): AliasListEntry {
  return {
    AliasName: alias.aliasName,
    AliasArn: ALIAS_RESOURCE_PREFIX + alias.aliasName.slice('alias/'.length),
    TargetKeyId: alias.targetKeyId,
    CreationDate: alias.creationDate,
    LastUpdatedDate: alias.lastUpdatedDate,
  };
}

/**
 * Aliases: friendly names for keys. Changes are serialised by alias name (uniqueness) and
 * written with an audit line in one sync batch; the in-memory map changes after the write.
 */
export class AliasOperations {
  constructor(private readonly registry: KeyRegistry) {}

  /** The target of an alias must exist and not be pending deletion. */
  private async target(keyIdInput: string): Promise<string> {
    /* Precondition: an alias points at a key, never at another alias (as in AWS KMS). */
    if (keyIdInput.startsWith('alias/') || keyIdInput.startsWith(ALIAS_RESOURCE_PREFIX)) {
      throw new ValidationException('TargetKeyId must be a key id or key resource name, not an alias');
    }
    const keyId = await this.registry.resolveKeyId(keyIdInput);
    const record = await this.registry.loadKey(keyId);
    if (record.keyState === 'PendingDeletion') throw new KMSInvalidStateException(`Key '${keyId}' is pending deletion`);
    return keyId;
  }

  private write(aliasName: string, caller: Caller, action: string, work: (aliases: Map<string, AliasRecord>) => Promise<AliasRecord | undefined>) {
    validateAliasName(aliasName);
    return this.registry.lock(`alias:${aliasName}`, () =>
      retryOnConflict(
        async () => {
          const aliases = await this.registry.aliases();
          const now = this.registry.clock();
          const before = aliases.get(aliasName);
          const result = await work(aliases);
          const batch = this.registry.store.batch().expectAlias(aliasName, before);
          if (result) batch.putAlias(result);
          else batch.deleteAlias(aliasName);
          batch.auditChange(caller, { action, keyId: result?.targetKeyId, detail: { AliasName: aliasName } }, now);
          await this.registry.store.write(batch);
          if (result) aliases.set(aliasName, result);
          else aliases.delete(aliasName);
        },
        () => this.registry.forgetAliases(),
      ),
    );
  }

  create({ aliasName, targetKeyId }: { aliasName: string; targetKeyId: string }, caller: Caller): Promise<void> {
    return this.write(aliasName, caller, 'CreateAlias', async (aliases) => {
      if (aliases.has(aliasName)) throw new AlreadyExistsException(`Alias '${aliasName}' already exists`);
      const now = this.registry.clock().toISOString();
      return { aliasName, targetKeyId: await this.target(targetKeyId), creationDate: now, lastUpdatedDate: now };
    });
  }

  update({ aliasName, targetKeyId }: { aliasName: string; targetKeyId: string }, caller: Caller): Promise<void> {
    return this.write(aliasName, caller, 'UpdateAlias', async (aliases) => {
      const existing = aliases.get(aliasName);
      if (!existing) throw new NotFoundException(`Alias '${aliasName}' does not exist`);
      return { ...existing, targetKeyId: await this.target(targetKeyId), lastUpdatedDate: this.registry.clock().toISOString() };
    });
  }

  delete({ aliasName }: { aliasName: string }, caller: Caller): Promise<void> {
    return this.write(aliasName, caller, 'DeleteAlias', async (aliases) => {
      if (!aliases.has(aliasName)) throw new NotFoundException(`Alias '${aliasName}' does not exist`);
      return undefined;
    });
  }

  /** Aliases in name order, optionally only those of one key. */
  async list(request: { keyId?: string; limit?: number; marker?: string }): Promise<{ aliases: AliasListEntry[]; nextMarker?: string; truncated: boolean }> {
    const limit = request.limit ?? 100;
    const keyId = request.keyId === undefined ? undefined : await this.registry.resolveKeyId(request.keyId);
    if (keyId !== undefined) await this.registry.loadKey(keyId);
    const after = request.marker === undefined ? undefined : decodeMarker(request.marker, 'a', 'listaliases');
    const all = [...(await this.registry.aliases()).values()]
      .filter((alias) => keyId === undefined || alias.targetKeyId === keyId)
      .filter((alias) => after === undefined || alias.aliasName > after)
      .sort((a, b) => (a.aliasName < b.aliasName ? -1 : a.aliasName > b.aliasName ? 1 : 0));
    const page = all.slice(0, limit);
    const truncated = all.length > limit;
    return {
      aliases: page.map(toEntry),
      truncated,
      ...(truncated ? { nextMarker: encodeMarker('a', page[page.length - 1]!.aliasName) } : {}),
    };
  }
}
