import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkLogFile } from './leveldb-files/log-file.js';
import { capProblems, problem, type LevelDbFilesReport, type LevelDbProblem } from './leveldb-files/report.js';
import { checkTableFile } from './leveldb-files/table-file.js';

export type { LevelDbFilesReport, LevelDbProblem, TornTail } from './leveldb-files/report.js';

const LOG_FILE = /^(\d+)\.log$/;
const TABLE_FILE = /^\d+\.(ldb|sst)$/;
const CURRENT_CONTENT = /^(MANIFEST-\d+)\n$/;

/** Reads CURRENT and answers the MANIFEST it names, or the problem with it. */
async function currentManifest(directory: string, label: (name: string) => string): Promise<string | LevelDbProblem> {
  const currentPath = path.join(directory, 'CURRENT');
  if (!existsSync(currentPath)) return problem(label('CURRENT'), 'missing-current', 'missing (LevelDB would open an empty store)');
  const content = await readFile(currentPath, 'latin1');
  // LevelDB writes the name and a newline; without the newline it refuses the store.
  const match = CURRENT_CONTENT.exec(content);
  if (!match) return problem(label('CURRENT'), 'bad-current', 'does not hold a MANIFEST name and a newline');
  if (!existsSync(path.join(directory, match[1]!))) return problem(label(match[1]!), 'missing-manifest', 'named by CURRENT but missing');
  return match[1]!;
}

/**
 * Checks the files of a LevelDB directory before LevelDB opens it, reading only: CURRENT,
 * the MANIFEST it names, every log (record checksums and fragments) and every table (footer,
 * index, block checksums). LevelDB itself (as classic-level runs it) skips damaged log
 * records silently and trips over damaged tables much later, so this is our only early look.
 *
 * A damaged or incomplete end of the newest log with nothing valid after it is reported as
 * `tornTail`, not as a problem: it is what a crash during an unacknowledged write leaves.
 *
 * @example const report = await verifyLevelDbFiles(`${dataDir}/store`);
 *          for (const found of report.problems) console.error(found.message);
 */
export async function verifyLevelDbFiles(directory: string): Promise<LevelDbFilesReport> {
  const prefix = path.basename(directory);
  const label = (name: string) => `${prefix}/${name}`;
  const report: LevelDbFilesReport = { files: 0, bytes: 0, problems: [] };
  const names = await readdir(directory);
  const add = (name: string, result: { bytes: number; problems: LevelDbProblem[] }) => {
    report.files += 1;
    report.bytes += result.bytes;
    report.problems.push(...capProblems(label(name), result.problems));
  };

  const manifest = await currentManifest(directory, label);
  if (typeof manifest === 'string') {
    add('CURRENT', { bytes: (await stat(path.join(directory, 'CURRENT'))).size, problems: [] });
    add(manifest, await checkLogFile(path.join(directory, manifest), label(manifest), false));
  } else {
    report.problems.push(manifest);
  }

  const logs = names.filter((name) => LOG_FILE.test(name)).sort((a, b) => Number(LOG_FILE.exec(a)![1]) - Number(LOG_FILE.exec(b)![1]));
  for (const [index, name] of logs.entries()) {
    // Only the newest log can hold a write in progress: an older one was complete when LevelDB moved on.
    const result = await checkLogFile(path.join(directory, name), label(name), index === logs.length - 1);
    add(name, result);
    if (result.tornTail) report.tornTail = result.tornTail;
  }

  for (const name of names.filter((entry) => TABLE_FILE.test(entry)).sort()) {
    add(name, await checkTableFile(path.join(directory, name), label(name)));
  }
  return report;
}
