import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Level } from 'level';
import { StartupError } from '../errors.js';
import { CommitSeal, SEAL_FILE, type SealState } from './commit-seal.js';
import { verifyLevelDbFiles } from './leveldb-files.js';
import { isStoreLockHeld } from './store-lock.js';

/** The admin credential file of the data directory (written once, at the first start). */
export const ADMIN_CREDENTIALS_FILE = 'admin.credentials';
/** Where the LevelDB database lives inside the data directory. */
export const STORE_DIRECTORY = 'store';
/** What to do about a store that lost data; every such message ends with it. */
export const RESTORE_ADVICE = 'restore the data directory from a backup (keyhold admin restore)';

/**
 * The files that show a data directory has held a store: the admin credential file, the
 * seal, and LevelDB's CURRENT, log and table files. A MANIFEST alone is not one: LevelDB
 * writes it before CURRENT when it creates a database, so a start killed in between leaves it.
 */
export function heldStoreEvidence(dataDir: string): string[] {
  const evidence = [ADMIN_CREDENTIALS_FILE, SEAL_FILE].filter((name) => existsSync(path.join(dataDir, name)));
  const storeDir = path.join(dataDir, STORE_DIRECTORY);
  let names: string[] = [];
  try {
    names = readdirSync(storeDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw openError(storeDir, error);
  }
  const storeFiles = names.filter((name) => name === 'CURRENT' || /\.(log|ldb|sst)$/.test(name)).sort();
  return [...evidence, ...storeFiles.map((name) => `${STORE_DIRECTORY}/${name}`)];
}

/**
 * Opens the LevelDB database; creates it only when `create` (a data directory that never
 * held a store). Failures become one StartupError line that names the setting, the store
 * and LevelDB's own reason (permission denied, a missing file, corruption).
 */
export async function openLevel(db: Level<string, unknown>, location: string, create: boolean, evidence: string[]): Promise<void> {
  try {
    await db.open({ createIfMissing: create });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new StartupError(`store in use: another Keyhold process has ${location} open`, 'KEYHOLD_DATA_DIR');
    }
    const reason = oneLine(cause?.message ?? (error as Error).message);
    if (!create && /does not exist/i.test(reason)) {
      throw new StartupError(
        `the store at ${location} is missing (${reason}), but this data directory held one (found ${evidence.join(', ')}); ` +
          `Keyhold never makes a new store over an old one: ${RESTORE_ADVICE}`,
        'KEYHOLD_DATA_DIR',
      );
    }
    throw new StartupError(`cannot open the store at ${location}: ${reason}`, 'KEYHOLD_DATA_DIR');
  }
}

/**
 * Checks LevelDB's files before LevelDB opens them (it would skip a damaged log record
 * silently, and trip over a damaged table only later): a problem is one StartupError line
 * naming the store, the first damaged file and what to do. Skipped for a store another process
 * has open (opening says "store in use") and for one without CURRENT (opening says it is missing).
 */
export async function checkLevelFiles(location: string): Promise<void> {
  if (!existsSync(path.join(location, 'CURRENT')) || isStoreLockHeld(location)) return;
  const report = await verifyLevelDbFiles(location);
  if (report.problems.length === 0) return;
  const more = report.problems.length > 1 ? ` (and ${report.problems.length - 1} more: keyhold admin verify-store lists them)` : '';
  throw new StartupError(`cannot open the store at ${location}: it is damaged: ${report.problems[0]!.message}${more}; ${RESTORE_ADVICE}`, 'KEYHOLD_DATA_DIR');
}

/** The store's own record of who it is and of its newest commit (sublevel `meta`). */
export interface StoreMarks {
  identity: { storeId: string } | undefined;
  commit: number;
  /** Whether the database holds any record at all. */
  empty: boolean;
}

/**
 * Decides, before anything is written, whether the opened database is the store this data
 * directory held, with every acknowledged commit. Returns the seal state to continue from,
 * or `create: true` for a new store (or a store made before seals existed, which is given
 * one). Throws a StartupError naming what is wrong otherwise.
 */
export function checkAgainstSeal(
  dataDir: string,
  location: string,
  seal: SealState | undefined,
  marks: StoreMarks,
): { seal: SealState; identityMissing: boolean } | { create: true } {
  const sealFile = path.join(dataDir, SEAL_FILE);
  if (seal) {
    if (!marks.identity) {
      // A start killed after the seal was made and before the store's first commit (a new
      // store, or one made before seals existed).
      if (seal.commit === 0 && marks.commit === 0) return { seal, identityMissing: true };
      throw new StartupError(`the store at ${location} is not the store that ${sealFile} names (it has no identity): ${RESTORE_ADVICE}`, 'KEYHOLD_DATA_DIR');
    }
    if (marks.identity.storeId !== seal.storeId) {
      throw new StartupError(
        `the store at ${location} is store ${marks.identity.storeId}, but ${sealFile} names store ${seal.storeId}: ${RESTORE_ADVICE}`,
        'KEYHOLD_DATA_DIR',
      );
    }
    if (marks.commit < seal.commit) {
      throw new StartupError(
        `the store at ${location} has lost acknowledged writes (its newest commit is ${marks.commit}, ${sealFile} says ${seal.commit}); ` +
          `a log or table file is damaged or missing: ${RESTORE_ADVICE}`,
        'KEYHOLD_DATA_DIR',
      );
    }
    return { seal, identityMissing: false };
  }
  if (marks.identity) {
    throw new StartupError(
      `${sealFile} is missing, so the store at ${location} cannot be shown to hold every acknowledged write; ` +
        `${RESTORE_ADVICE}, or check it with keyhold admin verify-store and seal it again with keyhold admin verify-store --reseal`,
      'KEYHOLD_DATA_DIR',
    );
  }
  if (marks.empty && existsSync(path.join(dataDir, ADMIN_CREDENTIALS_FILE))) {
    throw new StartupError(
      `the store at ${location} is empty, but ${path.join(dataDir, ADMIN_CREDENTIALS_FILE)} shows that this data directory held one; ` +
        `Keyhold never makes a new store over an old one: ${RESTORE_ADVICE}, or move the data directory away to start anew`,
      'KEYHOLD_DATA_DIR',
    );
  }
  return { create: true };
}

/** Makes the seal of a store that has none (new, or made by a Keyhold without seals). */
export function createSeal(dataDir: string): SealState {
  try {
    return CommitSeal.create(dataDir);
  } catch (error) {
    throw new StartupError(`cannot create ${path.join(dataDir, SEAL_FILE)}: ${oneLine((error as Error).message)}`, 'KEYHOLD_DATA_DIR');
  }
}

/** Reads the seal, as a StartupError when it cannot be read. */
export function readSeal(dataDir: string): SealState | undefined {
  try {
    return CommitSeal.read(dataDir);
  } catch (error) {
    throw new StartupError(`cannot read ${path.join(dataDir, SEAL_FILE)}: ${oneLine((error as Error).message)}: ${RESTORE_ADVICE}`, 'KEYHOLD_DATA_DIR');
  }
}

function openError(location: string, error: unknown): StartupError {
  return new StartupError(`cannot open the store at ${location}: ${oneLine((error as Error).message)}`, 'KEYHOLD_DATA_DIR');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
