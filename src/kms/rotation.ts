import { DisabledException, KMSInvalidStateException, UnsupportedOperationException, ValidationException } from '../errors.js';
import type { KeyRecord, RotationRecord } from '../store/records.js';
import { pendingDeletion, type Caller, type KeyRegistry } from './key-registry.js';
import { kindOf } from './key-kinds/index.js';
import { decodeMarker, encodeMarker } from './markers.js';

const DAY_MS = 86_400_000;
export const DEFAULT_ROTATION_PERIOD_DAYS = 365;

export interface RotationStatus {
  KeyId: string;
  KeyRotationEnabled: boolean;
  RotationPeriodInDays?: number;
  NextRotationDate?: string;
}

function addDays(date: Date, days: number): string {
  return new Date(date.getTime() + days * DAY_MS).toISOString();
}

/** Whether a key rotates is its kind's (only symmetric keys rotate, as in AWS KMS). */
function requireRotating(record: KeyRecord): void {
  const { rotation } = kindOf(record);
  if (!rotation.rotates) throw new UnsupportedOperationException(rotation.refusal(record));
}

/** Whether a key's rotation status and rotations can be read: a kind that rotates, or says so. */
function requireRotationStatus(record: KeyRecord): void {
  const { rotation } = kindOf(record);
  if (!rotation.rotates && !rotation.answersStatus) throw new UnsupportedOperationException(rotation.refusal(record));
}

/** Rotation needs an Enabled symmetric key, as in AWS KMS. */
function requireRotatable(record: KeyRecord): void {
  requireRotating(record);
  if (record.keyState === 'Disabled') throw new DisabledException(`Key '${record.keyId}' is disabled`);
  if (record.keyState === 'PendingDeletion') throw pendingDeletion(record.keyId);
}

/**
 * Versions and rotation: a rotation adds a version (new random material), which encrypt
 * uses from then on; every older version keeps decrypting the blobs made under it.
 */
export class RotationOperations {
  constructor(private readonly registry: KeyRegistry) {}

  /** Adds a version in one sync batch: the wrapped material, the rotation record, the key. */
  private rotate(
    keyId: string,
    type: RotationRecord['rotationType'],
    caller: Caller,
    stillWanted: (record: KeyRecord) => boolean = () => true,
  ): Promise<KeyRecord> {
    return this.registry.update(keyId, (record, batch) => {
      if (!stillWanted(record)) return record;
      requireRotatable(record);
      const now = this.registry.clock();
      const version = record.currentVersion + 1;
      batch
        .putVersion(keyId, version, this.registry.newWrappedVersion(keyId, version))
        .putRotation({ keyId, version, rotationDate: now.toISOString(), rotationType: type })
        .auditChange(caller, { action: type === 'ON_DEMAND' ? 'RotateKeyOnDemand' : 'RotateKey', keyId, detail: { Version: version } }, now);
      const rotation = record.rotation?.enabled
        ? { ...record.rotation, nextRotationDate: addDays(now, record.rotation.periodDays) }
        : record.rotation;
      return { ...record, currentVersion: version, ...(rotation ? { rotation } : {}) };
    });
  }

  async rotateOnDemand(request: { keyId: string }, caller: Caller): Promise<{ keyId: string; currentVersion: number }> {
    const record = await this.rotate(await this.registry.resolveKeyId(request.keyId), 'ON_DEMAND', caller);
    return { keyId: record.keyId, currentVersion: record.currentVersion };
  }

  /** For the scheduler: rotates a key whose rotation date has come, if it is still due. */
  async rotateIfDue(keyId: string, now: Date): Promise<boolean> {
    // Decided under the key's lock: rotation may have been disabled since the schedule was read.
    const isDue = (record: KeyRecord) => {
      const next = record.rotation?.enabled ? record.rotation.nextRotationDate : undefined;
      return record.keyState === 'Enabled' && next !== undefined && Date.parse(next) <= now.getTime();
    };
    const before = await this.registry.loadKey(keyId);
    if (!isDue(before)) return false;
    const after = await this.rotate(keyId, 'AUTOMATIC', { principal: 'system' }, isDue);
    return after.currentVersion > before.currentVersion;
  }

  async enable(request: { keyId: string; rotationPeriodInDays?: number }, caller: Caller): Promise<void> {
    const days = request.rotationPeriodInDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    /* Precondition: RotationPeriodInDays is an integer from 90 to 2560. */
    if (!Number.isInteger(days) || days < 90 || days > 2560) {
      throw new ValidationException('RotationPeriodInDays must be an integer from 90 to 2560');
    }
    const keyId = await this.registry.resolveKeyId(request.keyId);
    await this.registry.update(keyId, (record, batch) => {
      requireRotatable(record);
      const now = this.registry.clock();
      batch.auditChange(caller, { action: 'EnableKeyRotation', keyId, detail: { RotationPeriodInDays: days } }, now);
      return { ...record, rotation: { enabled: true, periodDays: days, nextRotationDate: addDays(now, days) } };
    });
  }

  async disable(request: { keyId: string }, caller: Caller): Promise<void> {
    const keyId = await this.registry.resolveKeyId(request.keyId);
    await this.registry.update(keyId, (record, batch) => {
      requireRotatable(record);
      batch.auditChange(caller, { action: 'DisableKeyRotation', keyId }, this.registry.clock());
      return { ...record, rotation: { enabled: false, periodDays: record.rotation?.periodDays ?? DEFAULT_ROTATION_PERIOD_DAYS } };
    });
  }

  async status(request: { keyId: string }): Promise<RotationStatus> {
    const record = await this.registry.loadKey(await this.registry.resolveKeyId(request.keyId));
    requireRotationStatus(record);
    if (record.keyState === 'PendingDeletion') throw new KMSInvalidStateException(`Key '${record.keyId}' is pending deletion`);
    return rotationStatus(record);
  }

  async list(request: { keyId: string; limit?: number; marker?: string }) {
    const keyId = await this.registry.resolveKeyId(request.keyId);
    requireRotationStatus(await this.registry.loadKey(keyId));
    const limit = request.limit ?? 100;
    const after = request.marker === undefined ? 0 : Number(decodeMarker(request.marker, 'r', 'listkeyrotations'));
    if (!Number.isInteger(after) || after < 0) throw new ValidationException('Marker is not a marker returned by listkeyrotations');
    const records = await this.registry.store.listRotations(keyId, after, limit + 1);
    const page = records.slice(0, limit);
    const truncated = records.length > limit;
    return {
      rotations: page.map((rotation) => ({ KeyId: keyId, RotationDate: rotation.rotationDate, RotationType: rotation.rotationType })),
      truncated,
      ...(truncated ? { nextMarker: encodeMarker('r', String(page[page.length - 1]!.version)) } : {}),
    };
  }
}

export function rotationStatus(record: KeyRecord): RotationStatus {
  const status: RotationStatus = { KeyId: record.keyId, KeyRotationEnabled: record.rotation?.enabled ?? false };
  if (record.rotation?.enabled) {
    status.RotationPeriodInDays = record.rotation.periodDays;
    if (record.rotation.nextRotationDate) status.NextRotationDate = record.rotation.nextRotationDate;
  }
  return status;
}
