import { readFileSync } from 'node:fs';
import type { KeyholdConfig } from '../config.js';
import { KmsError, StartupError } from '../errors.js';
import { compilePolicy, type CompiledPolicy } from './policy.js';

/** KEYHOLD_GOKMS_POLICY_FILE's policy, compiled; undefined when unset (the legacy principal is then an admin). */
export function loadGoKmsPolicy(config: KeyholdConfig): CompiledPolicy | undefined {
  if (config.goKmsPolicyFile === undefined) return undefined;
  try {
    return compilePolicy(readFileSync(config.goKmsPolicyFile, 'utf8'));
  } catch (error) {
    const why = error instanceof KmsError ? error.message : `cannot read ${config.goKmsPolicyFile}`;
    throw new StartupError(`not a valid policy: ${why}`, 'KEYHOLD_GOKMS_POLICY_FILE');
  }
}
