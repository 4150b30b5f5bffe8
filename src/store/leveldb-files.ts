import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkLogFile } from './leveldb-files/log-file.js';
import { applyVersionEdit, emptyLiveFiles, type LiveFiles } from './leveldb-files/manifest.js';
import { capProblems, problem, type LevelDbFilesReport, type LevelDbProblem } from './leveldb-files/report.js';
import { checkTableFile } from './leveldb-files/table-file.js';

export type { LevelDbFilesReport, LevelDbProblem, TornTail } from './leveldb-files/report.js';

const LOG_FILE = /^(\d+)\.log$/;
const TABLE_FILE = /^(\d+)\.(ldb|sst)$/;
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

/** Checks a MANIFEST as a log and reads its edits: the live files, when it is intact. */
async function readManifest(file: string, name: string): Promise<{ bytes: number; problems: LevelDbProblem[]; live?: LiveFiles }> {
  const live = emptyLiveFiles();
  let unreadable: LevelDbProblem | undefined;
  const result = await checkLogFile(file, name, false, (record) => {
    try {
      if (!unreadable) applyVersionEdit(live, record);
    } catch (error) {
      unreadable = problem(name, 'bad-manifest-record', `record that does not parse (${(error as Error).message})`);
    }
  });
  const problems = unreadable ? [...result.problems, unreadable] : result.problems;
  return { bytes: result.bytes, problems, live: problems.length === 0 ? live : undefined };
}

const fileNumber = (name: string, pattern: RegExp) => Number(pattern.exec(name)![1]);

/**
 * Checks the files of a LevelDB directory before LevelDB opens it, reading only: CURRENT,
 * the MANIFEST it names, the live logs (record checksums and fragments) and the live tables
 * (footer, index, block checksums, size). LevelDB itself (as classic-level runs it) skips
 * damaged log records silently and trips over damaged tables much later, so this is our
 * only early look. Files the MANIFEST no longer counts (a compaction's unfinished output,
 * old logs) are listed in `ignored`: LevelDB deletes them at open without reading them.
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
  const report: LevelDbFilesReport = { files: 0, bytes: 0, problems: [], ignored: [] };
  const names = await readdir(directory);
  const add = (name: string, result: { bytes: number; problems: LevelDbProblem[] }) => {
    report.files += 1;
    report.bytes += result.bytes;
    report.problems.push(...capProblems(label(name), result.problems));
  };

  // Without a readable MANIFEST every log and table on disk is checked.
  let live: LiveFiles | undefined;
  const manifest = await currentManifest(directory, label);
  if (typeof manifest === 'string') {
    add('CURRENT', { bytes: (await stat(path.join(directory, 'CURRENT'))).size, problems: [] });
    const read = await readManifest(path.join(directory, manifest), label(manifest));
    add(manifest, read);
    live = read.live;
  } else {
    report.problems.push(manifest);
  }

  const isLiveLog = (number: number) => !live || number >= live.logNumber || number === live.prevLogNumber;
  const logs = names.filter((name) => LOG_FILE.test(name)).sort((a, b) => fileNumber(a, LOG_FILE) - fileNumber(b, LOG_FILE));
  const liveLogs = logs.filter((name) => isLiveLog(fileNumber(name, LOG_FILE)));
  report.ignored.push(...logs.filter((name) => !liveLogs.includes(name)).map(label));
  for (const [index, name] of liveLogs.entries()) {
    // Only the newest log can hold a write in progress: an older one was complete when LevelDB moved on.
    const result = await checkLogFile(path.join(directory, name), label(name), index === liveLogs.length - 1);
    add(name, result);
    if (result.tornTail) report.tornTail = result.tornTail;
  }

  const tables = names.filter((name) => TABLE_FILE.test(name)).sort();
  for (const name of tables) {
    const expectedSize = live?.tables.get(fileNumber(name, TABLE_FILE));
    if (live && expectedSize === undefined) {
      report.ignored.push(label(name));
      continue;
    }
    const result = await checkTableFile(path.join(directory, name), label(name));
    if (expectedSize !== undefined && result.bytes !== expectedSize) {
      result.problems.unshift(problem(label(name), 'table-size-mismatch', `is ${result.bytes} bytes, the MANIFEST says ${expectedSize}`));
    }
    add(name, result);
  }
  const onDisk = new Set(tables.map((name) => fileNumber(name, TABLE_FILE)));
  for (const number of live?.tables.keys() ?? []) {
    if (!onDisk.has(number)) report.problems.push(problem(label(`${String(number).padStart(6, '0')}.ldb`), 'missing-table', 'listed in the MANIFEST but missing'));
  }
  return report;
}

/** How long a table found intact by checkTablesHolding is not read again. */
export const TABLE_RECHECK_MS = 60_000;

/** What checkTablesHolding remembers between calls: the MANIFEST's reading, and tables found intact. */
export interface TableCheckMemory {
  manifest?: { name: string; size: number; live: LiveFiles; readAt: number };
  /** File name -> when it was found intact. */
  intact: Map<string, number>;
}

/**
 * While LevelDB runs: checks the live tables whose key range holds `userKey`, for a read that
 * found nothing. LevelDB (as classic-level runs it) reads blocks without checking their CRCs,
 * so a key whose bytes were damaged on disk after the start reads as absent; this tells such
 * a miss from a key that does not exist. The MANIFEST may be being appended to (its end may be
 * torn) and is read again only when it has changed; a table compacted away meanwhile is
 * skipped; a table found intact is not read again for TABLE_RECHECK_MS. So a miss on a healthy
 * store costs a stat and a CRC of a few MB of tables at most once a minute.
 *
 * @example if ((await checkTablesHolding(location, Buffer.from('!keys!' + keyId), memory)).length > 0) throw unavailable;
 */
export async function checkTablesHolding(directory: string, userKey: Buffer, memory: TableCheckMemory, now = Date.now()): Promise<LevelDbProblem[]> {
  const live = await liveFilesNow(directory, memory, now);
  if (!live) return [];
  const label = (name: string) => `${path.basename(directory)}/${name}`;
  const problems: LevelDbProblem[] = [];
  for (const [number, range] of live.ranges) {
    if (Buffer.compare(range.smallest, userKey) > 0 || Buffer.compare(userKey, range.largest) > 0) continue;
    const name = `${String(number).padStart(6, '0')}.ldb`;
    if ((memory.intact.get(name) ?? -Infinity) > now - TABLE_RECHECK_MS) continue;
    let result: { problems: LevelDbProblem[] };
    try {
      result = await checkTableFile(path.join(directory, name), label(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (result.problems.length === 0) memory.intact.set(name, now);
    problems.push(...result.problems);
  }
  return problems;
}

/** How long the MANIFEST's reading is used without looking at the files again. */
const MANIFEST_RECHECK_MS = 1_000;

/**
 * The live files by the current MANIFEST: looked at again at most once a second, and read
 * again only when its name or size changed (five file-system calls cost about 200 µs).
 */
async function liveFilesNow(directory: string, memory: TableCheckMemory, now: number): Promise<LiveFiles | undefined> {
  if (memory.manifest && now - memory.manifest.readAt < MANIFEST_RECHECK_MS) return memory.manifest.live;
  const manifest = await currentManifest(directory, (name) => name);
  if (typeof manifest !== 'string') return undefined;
  const { size } = await stat(path.join(directory, manifest));
  if (memory.manifest?.name === manifest && memory.manifest.size === size) {
    memory.manifest.readAt = now;
    return memory.manifest.live;
  }
  const live = emptyLiveFiles();
  await checkLogFile(path.join(directory, manifest), manifest, true, (record) => applyVersionEdit(live, record));
  memory.manifest = { name: manifest, size, live, readAt: now };
  // Tables compacted away are forgotten, so the memory stays as small as the live set.
  for (const name of memory.intact.keys()) if (!live.tables.has(Number.parseInt(name, 10))) memory.intact.delete(name);
  return live;
}
