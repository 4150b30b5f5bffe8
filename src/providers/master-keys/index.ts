import type { KeyholdConfig } from '../../config.js';
import type { MasterKeyProvider } from './master-key.js';
import { loadPassphrase, PassphraseMasterKey } from './passphrase.js';
import { loadPin, Pkcs11MasterKey } from './pkcs11.js';

export type { MasterKeyProvider } from './master-key.js';

/**
 * The master-key provider the configuration asks for (KEYHOLD_MASTER). `warn` receives
 * the development-passphrase warning.
 */
export function createMasterKeyProvider(config: KeyholdConfig, warn: (message: string) => void): MasterKeyProvider {
  if (config.master === 'pkcs11') {
    return Pkcs11MasterKey.open({ ...config.pkcs11, pin: loadPin(config) });
  }
  return new PassphraseMasterKey(loadPassphrase(config, warn), config.kdf);
}
