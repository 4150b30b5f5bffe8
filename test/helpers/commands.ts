import { spawnSync } from 'node:child_process';

/** Whether `command` is on PATH (as the shell finds it). */
export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

/**
 * Skips `test` with a message when one of `commands` is not on PATH. Under CI=true it fails
 * instead: .ci/run installs every command a test needs.
 */
export function skipWithout(test: Mocha.Context, commands: string[]): void {
  const missing = commands.filter((command) => !commandExists(command));
  if (missing.length === 0) return;
  if (process.env.CI === 'true') throw new Error(`${missing.join(', ')} not found on PATH; .ci/run installs ${missing.length === 1 ? 'it' : 'them'}`);
  console.log(`      (skipped: ${missing.join(', ')} not installed)`);
  test.skip();
}
