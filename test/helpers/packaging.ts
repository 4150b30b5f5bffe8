import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { capturedLog, collectOutput } from './log-capture.js';

/** The repository's root directory. */
export const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));

/** The native modules whose install scripts must run (compiled from source, or a prebuilt binary picked). */
export const NATIVE_MODULES = ['argon2', 'classic-level', 'pkcs11js'];

const run = promisify(execFile);

/**
 * The environment for npm and installed programs: this process's, without the npm_* settings
 * that `npm test` passes down (a local prefix or a global flag from them would change what npm
 * does) and without KEYHOLD_* or NODE_ENV.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name, value]) => value !== undefined && !/^npm_/i.test(name) && !name.startsWith('KEYHOLD_') && name !== 'NODE_ENV',
    ),
  ) as Record<string, string>;
  return { ...inherited, ...extra };
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export async function runCommand(file: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ stdout: string; stderr: string }> {
  try {
    const result = await run(file, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), maxBuffer: 64 * 1024 * 1024 });
    capturedLog.push(result.stderr);
    return result;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${options.cwd}: ${(error as Error).message}\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/** Entries of the repository that a copy for packing leaves out: builds, dependencies, stores, tokens, results. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', 'data', 'data-hsm', '.tmp', '.env', path.join('softhsm', 'tokens'), path.join('bench', 'results')]);

/**
 * A copy of the repository's sources in `into` (its node_modules a link to the repository's), so
 * that `npm pack` there runs the package's own prepack and prepare steps (a clean build of dist/)
 * without touching the repository's dist/.
 */
export function copyRepository(into: string): void {
  cpSync(REPOSITORY, into, {
    recursive: true,
    filter: (source) => {
      const relative = path.relative(REPOSITORY, source);
      if (relative === '') return true;
      const parts = relative.split(path.sep);
      if (NOT_COPIED.has(parts[0]!) || NOT_COPIED.has(parts.slice(0, 2).join(path.sep))) return false;
      return !relative.endsWith('.tgz') && !parts.includes('dist') && !parts.includes('node_modules');
    },
  });
  symlinkSync(path.join(REPOSITORY, 'node_modules'), path.join(into, 'node_modules'));
}

/** `npm pack` of the package in `directory`; resolves the tarball's path in `destination`. */
export async function npmPack(directory: string, destination: string): Promise<string> {
  await runCommand('npm', ['pack', '--pack-destination', destination, '--no-audit', '--no-fund'], { cwd: directory });
  const tarballs = readdirSync(destination).filter((name) => name.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs in ${destination}: ${tarballs.join(', ')}`);
  return path.join(destination, tarballs[0]!);
}

/** The paths in a tarball, without tar's `package/` prefix. */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await runCommand('tar', ['-tzf', tarball], { cwd: path.dirname(tarball) });
  return stdout.split('\n').filter(Boolean).map((entry) => entry.replace(/^package\//, ''));
}

/** One file of a tarball, as text. */
export async function tarballFile(tarball: string, file: string): Promise<string> {
  const { stdout } = await runCommand('tar', ['-xzOf', tarball, `package/${file}`], { cwd: path.dirname(tarball) });
  return stdout;
}

/** A process started from an installed program, with its output so far. */
export interface StartedProgram {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Spawns `file` and collects its output (also into capturedLog, shown when a test fails). */
export function startProgram(file: string, args: string[], options: { cwd: string; env: Record<string, string> }): StartedProgram {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ...collectOutput(child), exited };
}

/** Resolves the `keyhold is listening` log entry of a started server; rejects if it exits first or takes over `timeoutMs`. */
export function listeningEntry(program: StartedProgram, timeoutMs = 60_000): Promise<{ url: string; certSha256: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`the server did not listen within ${timeoutMs} ms: ${program.stderr()}`));
    }, timeoutMs);
    const check = () => {
      const line = program.stdout().split('\n').find((candidate) => candidate.includes('keyhold is listening'));
      if (!line) return;
      cleanup();
      resolve(JSON.parse(line) as { url: string; certSha256: string });
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`the server exited with ${code} before listening: ${program.stderr()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      program.child.stdout!.off('data', check);
      program.child.off('exit', onExit);
    };
    program.child.stdout!.on('data', check);
    program.child.once('exit', onExit);
    check();
  });
}
