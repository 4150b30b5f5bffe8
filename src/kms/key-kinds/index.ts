import { InvalidKeyUsageException, KMSInternalException, ValidationException } from '../../errors.js';
import type { KeyOrigin, KeyRecord } from '../../store/records.js';
import type { Caller } from '../key-registry.js';
import { asymmetricLocalKind } from './asymmetric-local.js';
import { asymmetricRemoteKind } from './asymmetric-remote.js';
import { importedKind } from './imported.js';
import type { CreateKeyRequest, KeyKind, KeyOperation, KindContext } from './key-kind.js';
import { HMAC_IMPORTED_LENGTH, hmacKind } from './hmac.js';
import { ENVELOPE_ALGORITHM, symmetricKind } from './symmetric.js';

export type { CreateKeyRequest, KeyKind, KeyMaterialKind, KeyOperation, KindContext, MaterialLength, MessageType } from './key-kind.js';
export { ENVELOPE_ALGORITHM } from './symmetric.js';

/** Every kind of key this server knows. A new kind is its file and a line here. */
const KINDS: readonly KeyKind[] = [
  symmetricKind,
  asymmetricLocalKind,
  asymmetricRemoteKind,
  hmacKind,
  importedKind(symmetricKind, () => ({ min: 32, max: 32 })),
  importedKind(hmacKind, (keySpec) => HMAC_IMPORTED_LENGTH[keySpec]!),
];

/** The Origin of a CreateKey request that gives none. */
const DEFAULT_ORIGIN: KeyOrigin = 'KEYHOLD';

/** The kind of a stored key, or undefined for a record of no kind known here (a damaged one). */
export function findKind(record: Pick<KeyRecord, 'origin' | 'keySpec'>): KeyKind | undefined {
  return KINDS.find((kind) => kind.origins.includes(record.origin) && kind.keySpecs.includes(record.keySpec));
}

/** The kind of a stored key: what the service asks instead of reading KeySpec or Origin. */
export function kindOf(record: KeyRecord): KeyKind {
  const kind = findKind(record);
  if (!kind) throw new KMSInternalException(`Key '${record.keyId}' is of no kind this server knows`);
  return kind;
}

/** Whether the store holds a key's material as versions (for the store's one-read fast path). */
export function hasVersions(record: KeyRecord): boolean {
  return findKind(record)?.material === 'versions';
}

/** Whether a key has its material: always, unless its material is imported and not (or no longer) there. */
export function holdsMaterial(record: KeyRecord): boolean {
  if (kindOf(record).importedMaterialLength === undefined) return true;
  return record.importedMaterial !== undefined && record.importedMaterial.deleted !== true;
}

/** The kind of key a CreateKey request makes, or the ValidationException that refuses it. */
export function kindForRequest(request: { keySpec?: string; keyUsage?: string; origin?: string; providerKeyId?: string }): KeyKind {
  const origin = request.origin ?? DEFAULT_ORIGIN;
  const origins = unique(KINDS.flatMap((kind) => kind.origins));
  if (!(origins as string[]).includes(origin)) {
    throw new ValidationException(`Origin '${origin.slice(0, 64)}' is not supported; use ${oneOf(origins)}`);
  }
  const kind = KINDS.find((candidate) => candidate.accepts({ origin: origin as KeyOrigin, keySpec: request.keySpec }));
  /* Precondition: ProviderKeyId names a key in another KMS, so only a kind whose keys live there takes it. */
  if (request.providerKeyId !== undefined && kind?.material !== 'none') {
    throw new ValidationException(`ProviderKeyId is only for Origin ${oneOf(unique(KINDS.filter((k) => k.material === 'none').flatMap((k) => k.origins)))}`);
  }
  if (!kind) {
    const specs = unique(KINDS.filter((k) => k.origins.includes(origin as KeyOrigin)).flatMap((k) => k.keySpecs));
    throw new ValidationException(`KeySpec '${String(request.keySpec).slice(0, 64)}' is not supported; use ${oneOf(specs)}`);
  }
  return kind;
}

/** CreateKey: the kind the request asks for makes the key. */
export function createKey(
  request: Omit<CreateKeyRequest, 'origin'> & { origin?: string },
  caller: Caller,
  context: KindContext,
): Promise<KeyRecord> {
  const kind = kindForRequest(request);
  return kind.create({ ...request, origin: (request.origin ?? DEFAULT_ORIGIN) as KeyOrigin }, caller, context);
}

/**
 * The kind of a key that `action` needs to do `operation` with, or the InvalidKeyUsageException
 * that says the key is of the wrong kind.
 */
export function requireOperation(record: KeyRecord, operation: KeyOperation, action: string): KeyKind {
  const kind = kindOf(record);
  if (kind.supports(operation)) return kind;
  if (operation === 'envelope') {
    throw new InvalidKeyUsageException(`${action} needs a ${ENVELOPE_ALGORITHM} key; '${record.keyId}' is ${record.keySpec} ${record.keyUsage}`);
  }
  if (operation === 'mac') {
    throw new InvalidKeyUsageException(`${action} needs an HMAC key (GENERATE_VERIFY_MAC); '${record.keyId}' is ${record.keySpec} ${record.keyUsage}`);
  }
  throw new InvalidKeyUsageException(`${action} needs an asymmetric key; '${record.keyId}' is ${record.keySpec}`);
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** `A, B or C`. */
function oneOf(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}
