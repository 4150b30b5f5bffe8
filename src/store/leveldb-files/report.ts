/** What verifyLevelDbFiles found: the shapes shared by the log and table checks. */

export type LevelDbProblemKind =
  | 'missing-current'
  | 'bad-current'
  | 'missing-manifest'
  | 'bad-manifest-record'
  | 'missing-table'
  | 'table-size-mismatch'
  | 'unreadable'
  | 'checksum-mismatch'
  | 'bad-record-length'
  | 'bad-record-type'
  | 'bad-fragment-sequence'
  | 'bad-block-trailer'
  | 'incomplete-record'
  | 'truncated'
  | 'bad-footer'
  | 'bad-block-handle'
  | 'bad-block'
  | 'unknown-compression'
  | 'uncovered-bytes'
  | 'more-problems';

/** One damaged place; `message` is the whole human line, e.g. "store/000005.log: checksum mismatch at byte 12345". */
export interface LevelDbProblem {
  /** The file, relative to the store's parent: `store/000005.log`. */
  file: string;
  kind: LevelDbProblemKind;
  offset?: number;
  message: string;
}

/**
 * The damaged or incomplete end of the newest log, with no valid record after it: what a
 * crash during a write that was never acknowledged leaves. LevelDB drops it at open.
 */
export interface TornTail {
  file: string;
  offset: number;
  bytes: number;
}

export interface LevelDbFilesReport {
  /** Files checked: CURRENT, the current MANIFEST, the live logs and tables. */
  files: number;
  bytes: number;
  problems: LevelDbProblem[];
  tornTail?: TornTail;
  /** Logs and tables the MANIFEST no longer counts as live: LevelDB deletes them at open, unread. */
  ignored: string[];
}

/** At most this many problems are listed per file; one more line says how many were left out. */
export const MAX_PROBLEMS_PER_FILE = 10;

/** Builds a problem whose message names the file and, when known, the byte. */
export function problem(file: string, kind: LevelDbProblemKind, text: string, offset?: number): LevelDbProblem {
  const where = offset === undefined ? '' : ` at byte ${offset}`;
  return { file, kind, offset, message: `${file}: ${text}${where}` };
}

/** The first MAX_PROBLEMS_PER_FILE problems of one file, and a line counting the rest. */
export function capProblems(file: string, problems: LevelDbProblem[]): LevelDbProblem[] {
  if (problems.length <= MAX_PROBLEMS_PER_FILE) return problems;
  const rest = problems.length - MAX_PROBLEMS_PER_FILE;
  return [...problems.slice(0, MAX_PROBLEMS_PER_FILE), problem(file, 'more-problems', `${rest} more problems`)];
}
