import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capturedLog } from './log-capture.js';
import { DEFAULT_DATA_DIR, testStoreEnv, type StoreChoice } from './test-store.js';

const CLI = fileURLToPath(new URL('../../cli/keyhold.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions extends StoreChoice {
  cwd: string;
  env?: Record<string, string>;
}

/**
 * Runs the real `keyhold` command line (cli/keyhold.ts) in `cwd` with only the given
 * KEYHOLD_* settings and XDG_CONFIG_HOME (and, for `keyhold admin` and `keyhold server`,
 * this run's store: see spawnCli), feeding `input` to stdin.
 */
export function runCli(args: string[], options: CliOptions & { input?: Buffer | string }): Promise<CliResult> {
  const child = spawnCli(args, options);
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // A command may stop reading before its input ends (a damaged file is refused at its header):
  // the rest of the write then fails with EPIPE, which is the command's business, not an error here.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      capturedLog.push(stderr);
      resolve({ code, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

/**
 * Starts the real `keyhold` command line like runCli, but hands out the running process, for
 * commands that run until stopped (`audit list --follow`). The caller reads its output, ends
 * it, and pushes its stderr to capturedLog.
 */
export function spawnCli(args: string[], options: CliOptions): ChildProcessWithoutNullStreams {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('KEYHOLD_') && name !== 'XDG_CONFIG_HOME'),
  );
  return spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd: options.cwd,
    env: { ...inherited, ...storeEnv(args, options), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * The store of the data directory for the commands that open it, `keyhold admin …` (offline)
 * and `keyhold server`, as a server on that directory gets it (test-store.ts), unless the test
 * names a database itself. The other commands, `keyhold admin backup` among them, only talk
 * HTTPS and get nothing.
 */
function storeEnv(args: string[], options: CliOptions): Record<string, string> {
  const opensStore = args.includes('server') || (args.includes('admin') && !args.includes('backup'));
  if (!opensStore) return {};
  if (options.env?.KEYHOLD_STORE_URL !== undefined) return {};
  return testStoreEnv(path.resolve(options.cwd, options.env?.KEYHOLD_DATA_DIR ?? DEFAULT_DATA_DIR), { store: options.store });
}
