import { spawnSync } from 'node:child_process';

/** Whether `command` is on PATH (as the shell finds it). */
export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

/**
 * The commands of `commands` that are not on PATH, for a test that needs them: on a laptop
 * without one the test skips with a message; CI installs them (.ci/run), so there it fails.
 */
export function skipWithout(test: Mocha.Context, commands: string[]): void {
  const missing = commands.filter((command) => !commandExists(command));
  if (missing.length === 0) return;
  if (process.env.CI === 'true') throw new Error(`${missing.join(', ')} not found on PATH; .ci/run installs ${missing.length === 1 ? 'it' : 'them'}`);
  console.log(`      (skipped: ${missing.join(', ')} not installed)`);
  test.skip();
}
