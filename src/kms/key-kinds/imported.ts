import { ValidationException } from '../../errors.js';
import type { KeyRecord, KeyUsage } from '../../store/records.js';
import { newKey, type KeyKind, type KindMetadata, type MaterialLength } from './key-kind.js';

/**
 * The Origin EXTERNAL kind of a kind whose keys Keyhold makes: the same KeySpecs, usages,
 * operations and metadata, but CreateKey makes the key with no material (PendingImport) and
 * ImportKeyMaterial (src/kms/imports.ts) brings it, of a length in `materialLength(keySpec)`, stored
 * as the base kind stores its material. Imported material does not rotate. A kind takes imported
 * material with one line in KINDS.
 */
export function importedKind(base: KeyKind, materialLength: (keySpec: string) => MaterialLength): KeyKind {
  const baseOrigin = base.origins[0]!;
  return {
    ...base,
    name: `${base.name} (imported)`,
    origins: ['EXTERNAL'],
    accepts: (request) => request.origin === 'EXTERNAL' && base.accepts({ origin: baseOrigin, keySpec: request.keySpec }),
    // A kind that rotates does not with imported material, but still answers its status, as
    // AWS KMS does; a kind that never rotates (HMAC) refuses as it always does.
    rotation: base.rotation.rotates
      ? {
          rotates: false,
          refusal: (record) => `Key '${record.keyId}' has imported key material, which Keyhold does not rotate`,
          answersStatus: true,
        }
      : base.rotation,
    metadata: (record) => ({ ...base.metadata(record), ...materialMetadata(record) }),
    importedMaterialLength: materialLength,

    async create(request, caller, context) {
      const keySpec = request.keySpec ?? base.keySpecs[0]!;
      // AWS KMS's default usage, which only a symmetric key takes: an HMAC key's must be given.
      const keyUsage = request.keyUsage ?? 'ENCRYPT_DECRYPT';
      if (!(base.keyUsages as readonly string[]).includes(keyUsage)) {
        throw new ValidationException(`KeyUsage '${keyUsage.slice(0, 64)}' is not valid for a ${keySpec} key; use ${base.keyUsages.join(' or ')}`);
      }
      const { base: fields, batch } = newKey(request, caller, context, { keyState: 'PendingImport' });
      const record: KeyRecord = { ...fields, keySpec, keyUsage: keyUsage as KeyUsage };
      // No material: version 1 is written by ImportKeyMaterial.
      await context.registry.create(record, batch, 'none');
      return record;
    },
  };
}

/** ExpirationModel and ValidTo, while the key holds its imported material. */
function materialMetadata(record: KeyRecord): Partial<KindMetadata> {
  const material = record.importedMaterial;
  if (!material || material.deleted) return {};
  return { ExpirationModel: material.expirationModel, ...(material.validTo ? { ValidTo: material.validTo } : {}) };
}
