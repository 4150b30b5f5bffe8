import { ValidationException } from '../../../errors.js';

// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N. Project ids may be
// domain-scoped ("example.com:project"); ring and key ids are [A-Za-z0-9_-]{1,63} in GCP.
const KEY_VERSION_NAME =
  /^projects\/[a-z0-9][a-z0-9.:-]{0,99}\/locations\/[a-z0-9-]{1,63}\/keyRings\/[A-Za-z0-9_-]{1,63}\/cryptoKeys\/[A-Za-z0-9_-]{1,63}\/cryptoKeyVersions\/[1-9][0-9]{0,9}$/;

/**
 * Checks that a ProviderKeyId is a CryptoKeyVersion resource name, so that nothing else
 * (a CryptoKey without a version, a path with extra segments) is ever sent to Google.
 *
 * @example
 *   assertKeyVersionName('projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1');
 */
export function assertKeyVersionName(providerKeyId: string): void {
  /* Precondition: the ProviderKeyId is a CryptoKeyVersion name. */
  if (typeof providerKeyId !== 'string' || !KEY_VERSION_NAME.test(providerKeyId)) {
    throw new ValidationException(
      'ProviderKeyId must be a Google Cloud KMS CryptoKeyVersion name: projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
    );
  }
}
