import type { AliasRecord } from '../store/records.js';

const NONE: readonly string[] = Object.freeze([]);

/**
 * Every alias by name, with the names of each key's aliases kept beside them, sorted: a
 * restricted credential's policy asks for a key's aliases on every request, which must not
 * cost a pass over every alias. The names by key are built on first use and kept up to date
 * by `set` and `delete`.
 */
export class AliasMap extends Map<string, AliasRecord> {
  private namesByKey: Map<string, readonly string[]> | undefined;

  /** The names of `keyId`'s aliases, in name order. */
  namesOf(keyId: string): readonly string[] {
    if (!this.namesByKey) {
      const byKey = new Map<string, string[]>();
      for (const alias of this.values()) {
        const names = byKey.get(alias.targetKeyId);
        if (names) names.push(alias.aliasName);
        else byKey.set(alias.targetKeyId, [alias.aliasName]);
      }
      for (const names of byKey.values()) Object.freeze(names.sort());
      this.namesByKey = byKey;
    }
    return this.namesByKey.get(keyId) ?? NONE;
  }

  override set(aliasName: string, record: AliasRecord): this {
    this.forget(aliasName);
    super.set(aliasName, record);
    if (this.namesByKey) {
      const names = [...(this.namesByKey.get(record.targetKeyId) ?? []), aliasName].sort();
      this.namesByKey.set(record.targetKeyId, Object.freeze(names));
    }
    return this;
  }

  override delete(aliasName: string): boolean {
    this.forget(aliasName);
    return super.delete(aliasName);
  }

  override clear(): void {
    this.namesByKey = undefined;
    super.clear();
  }

  /** Takes `aliasName` out of the names of the key it points at now. */
  private forget(aliasName: string): void {
    const old = this.get(aliasName);
    if (!old || !this.namesByKey) return;
    const names = (this.namesByKey.get(old.targetKeyId) ?? NONE).filter((name) => name !== aliasName);
    if (names.length === 0) this.namesByKey.delete(old.targetKeyId);
    else this.namesByKey.set(old.targetKeyId, Object.freeze(names));
  }
}
