// Creates the master key on the playground token unless it exists (softhsm/setup.sh runs this).
import { loadConfig } from '../src/config.js';
import { StartupError } from '../src/errors.js';
import { ensureMasterKey, loadPin } from '../src/providers/master-keys/pkcs11.js';

try {
  const config = loadConfig();
  const result = ensureMasterKey({ ...config.pkcs11, pin: loadPin(config) });
  console.log(`master key '${config.pkcs11.keyLabel}' ${result === 'created' ? 'created' : 'exists'}`);
} catch (error) {
  console.error(`softhsm setup: ${error instanceof StartupError ? error.message : (error as Error).message}`);
  process.exit(1);
}
