/**
 * `--compare-with <commit>`: another commit's server measured in the same run as this tree's,
 * on the same machine at the same time, so that a change's cost is a ratio of two neighbouring
 * rows rather than of two runs on a shared machine. Issue 14 uses it for "both off": the audit
 * trail and policy evaluation have no switch (nor should they), so the server from before them
 * is the run with both off.
 *
 * The commit is checked out in a temporary git worktree (removed afterwards) with this tree's
 * node_modules, compiled with `tsc -p .`, and its store is prepared by its own
 * bench/store-setup.ts (compiled to dist/bench/store-setup.js): a store prepared by a newer
 * build need not open in an older one. The commit must have that file with
 * `prepareStore(dataDir, masterEnv, spreadKeyCount)`, as every commit since issue 5 has.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { log, type ScenarioResult } from './report.js';
import type { PreparedStore } from './store-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
/** Compiling the whole tree takes about a minute on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 600_000;

export interface OtherBuild {
  /** The commit's short hash, for row names. */
  commit: string;
  /** Its compiled server, for startKeyhold's `main`. */
  main: string;
  /** Prepares a store at `dataDir` with the commit's own bench/store-setup (no spread keys). */
  prepareStore(dataDir: string, masterEnv: Record<string, string>): Promise<PreparedStore>;
  /** Removes the worktree. */
  remove(): Promise<void>;
}

/** Checks `commit` out in a temporary worktree and compiles it; `remove()` it when done. */
export async function buildCommit(commit: string): Promise<OtherBuild> {
  const short = (await run('git', ['-C', ROOT, 'rev-parse', '--short', '--verify', `${commit}^{commit}`], ROOT)).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), `keyhold-bench-${short}-`));
  const remove = async () => {
    await run('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir], ROOT).catch((error: Error) => log(`could not remove the worktree ${dir}: ${error.message}`));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    log(`checking out ${short} in ${dir} and compiling it`);
    await run('git', ['-C', ROOT, 'worktree', 'add', '--detach', dir, short], ROOT);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    await run(process.execPath, [TSC, '-p', '.'], dir);
    const main = path.join(dir, 'dist/src/server/main.js');
    const storeSetup = path.join(dir, 'dist/bench/store-setup.js');
    for (const file of [main, storeSetup]) if (!existsSync(file)) throw new Error(`${short} has no ${path.relative(dir, file)} after compiling`);
    return { commit: short, main, prepareStore: (dataDir, masterEnv) => prepareWith(storeSetup, dataDir, masterEnv), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Runs the other build's prepareStore in a process of its own; it prints what it prepared. */
async function prepareWith(storeSetup: string, dataDir: string, masterEnv: Record<string, string>): Promise<PreparedStore> {
  const script = `const { prepareStore } = await import(process.argv[1]);
    const prepared = await prepareStore(process.argv[2], JSON.parse(process.argv[3]), 0);
    process.stdout.write(JSON.stringify(prepared));`;
  const out = await run(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(storeSetup).href, dataDir, JSON.stringify(masterEnv)], path.dirname(storeSetup));
  return JSON.parse(out) as PreparedStore;
}

/** Runs a command; resolves with its stdout, rejects with its stderr when it fails. */
async function run(command: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (err += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
  // 'close', not 'exit': stdout is read to its end by then.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${path.basename(command)} ${args[0]} … exited with ${code}: ${(err || out).trim().slice(0, 2000)}`);
  return out;
}

/** This tree's row ÷ the other build's: req/s and server CPU per request (the steadier one). */
export function compareRows(current: ScenarioResult, other: ScenarioResult): string {
  const throughput = current.requestsPerSec / other.requestsPerSec;
  const cpu = current.serverCpuMicrosPerRequest / other.serverCpuMicrosPerRequest;
  return `${current.name}: req/s ${throughput.toFixed(2)} × the other build's, server CPU µs/req ${cpu.toFixed(2)} ×`;
}
