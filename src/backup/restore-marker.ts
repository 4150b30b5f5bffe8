import { existsSync } from 'node:fs';
import path from 'node:path';
import { StartupError } from '../errors.js';

/**
 * A file in the data directory that a restore writes before its first record and removes
 * after its last: while it is there the store is partial, and nothing may serve or change it.
 */
export const RESTORE_MARKER = 'restore-in-progress';

/* Precondition: no server or admin command opens a store whose restore did not finish. */
export function refuseUnfinishedRestore(dataDir: string): void {
  const marker = path.join(dataDir, RESTORE_MARKER);
  if (existsSync(marker)) {
    throw new StartupError(
      `${marker} exists: a restore into this directory did not finish; restore again into an empty directory`,
      'KEYHOLD_DATA_DIR',
    );
  }
}
