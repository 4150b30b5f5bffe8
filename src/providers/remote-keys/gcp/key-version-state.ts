import { DisabledException, KMSInvalidStateException, type KmsError } from '../../../errors.js';

/**
 * Why a CryptoKeyVersion in this state cannot be used, or undefined when it is ENABLED.
 * DISABLED can be undone, so it is DisabledException as in AWS KMS; DESTROYED,
 * DESTROY_SCHEDULED (AWS's PendingDeletion) and every transitional or failed state are
 * KMSInvalidStateException.
 */
export function keyVersionStateError(name: string, state: unknown): KmsError | undefined {
  const stateName = typeof state === 'string' && /^[A-Z_]{1,64}$/.test(state) ? state : 'an unknown state';
  if (stateName === 'ENABLED') return undefined;
  if (stateName === 'DISABLED') return new DisabledException(`Google Cloud KMS key version ${name} is disabled`);
  if (stateName === 'DESTROYED' || stateName === 'DESTROY_SCHEDULED') {
    return new KMSInvalidStateException(`Google Cloud KMS key version ${name} is destroyed or scheduled for destruction (${stateName})`);
  }
  return new KMSInvalidStateException(`Google Cloud KMS key version ${name} is not usable (${stateName})`);
}
