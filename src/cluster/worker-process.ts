import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** How a worker process is started: its program, its environment and its node flags. */

// The worker program sits next to this file, as .ts under tsx and as .js once compiled.
export const WORKER_PROGRAM = fileURLToPath(new URL(`./worker-main${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * Secrets a worker has no use for (it receives the unwrapped root key and its settings over
 * IPC): emptied in its environment, which it would otherwise inherit.
 */
export const EMPTIED_IN_WORKERS = {
  KEYHOLD_PASSPHRASE: '',
  KEYHOLD_PKCS11_PIN: '',
  KEYHOLD_GOKMS_AUTH_KEY: '',
  KEYHOLD_NEW_PASSPHRASE: '',
  KEYHOLD_NEW_PKCS11_PIN: '',
};

/**
 * V8's young generation (where every request's short-lived objects go) grows under load to
 * 2 × 16 MB of semi-spaces per process. Capped at 2 × 4 MB, a worker under full load holds
 * 35-45 MB less for about 5 % more CPU per request (bench/RESULTS.md).
 */
const WORKER_SEMI_SPACE_MB = 4;

/**
 * The node flags of a worker: the primary's own, plus the young generation's cap unless the
 * operator chose one (in the primary's flags or NODE_OPTIONS, which workers inherit).
 */
export function workerExecArgv(primaryFlags: readonly string[], nodeOptions: string | undefined): string[] {
  const chosen = [...primaryFlags, ...(nodeOptions ?? '').split(/\s+/)].some((flag) => /^--max[-_]semi[-_]space[-_]size\b/.test(flag));
  return chosen ? [...primaryFlags] : [...primaryFlags, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}
